"""Bad input data: damaged MNIST files, failed downloads, NaN and infinity in the inputs.

Data is checked before the run directory is created, so a run on bad data leaves nothing to
clean up. The MNIST cases corrupt a copy of the real files (``$CORENN_DATA_DIR/MNIST/raw``) in a
temporary data root; the untouched files are linked, not copied.
"""

import gzip
import importlib.metadata
import io
import struct
import urllib.request

import pytest

import corenn.plugins
from corenn.cli import main

from faultkit import (
    MNIST_FILES,
    SHARED_MNIST,
    SMALL_IRIS_CONFIG,
    environment,
    one_line_error,
    replace_file,
    run_corenn,
    write_config,
)


def _train_on(raw, tmp_path):
    """``corenn train --preset lenet-mnist`` with the damaged data root; returns its one error line."""
    data_root = raw.parent.parent
    completed = run_corenn(
        "train", "--preset", "lenet-mnist", "--out", tmp_path / "out", env=environment(CORENN_DATA_DIR=str(data_root))
    )
    line = one_line_error(completed)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir()), (
        "bad data must not leave a run directory"
    )
    return line


def test_gzip_checksum_mismatch(mnist_copy, tmp_path):
    """The gzip trailer's CRC-32 does not match the data. WHAT THE USER SEES:
    ``corenn train: error: DATA/MNIST/raw/train-labels-idx1-ubyte.gz is not a readable gzip file
    (BadGzipFile: CRC check failed 0x... != 0x...); delete it to download it again``"""
    data = bytearray((SHARED_MNIST / "train-labels-idx1-ubyte.gz").read_bytes())
    data[-8] ^= 0xFF  # the first byte of the stored CRC-32
    path = replace_file(mnist_copy, "train-labels-idx1-ubyte.gz", bytes(data))
    line = _train_on(mnist_copy, tmp_path)
    assert line.startswith(f"corenn train: error: {path} is not a readable gzip file (BadGzipFile: CRC check failed ")
    assert line.endswith("; delete it to download it again")


def test_damaged_compressed_bytes(mnist_copy, tmp_path):
    """A byte flipped inside the compressed stream. WHAT THE USER SEES: ``corenn train: error:
    PATH is not a readable gzip file (error: Error -3 while decompressing data: ...); delete it to
    download it again`` (or the CRC message above, depending on where the damage falls)."""
    data = bytearray((SHARED_MNIST / "t10k-labels-idx1-ubyte.gz").read_bytes())
    data[len(data) // 2] ^= 0x55
    path = replace_file(mnist_copy, "t10k-labels-idx1-ubyte.gz", bytes(data))
    line = _train_on(mnist_copy, tmp_path)
    assert line.startswith(f"corenn train: error: {path} is not a readable gzip file (")
    assert line.endswith("; delete it to download it again")


def test_wrong_idx_header(mnist_copy, tmp_path):
    """A labels file whose IDX header says "images" (magic 2051 instead of 2049). WHAT THE USER
    SEES: ``corenn train: error: PATH has IDX magic number 2051, expected 2049: not the file it
    should be``"""
    labels = gzip.decompress((SHARED_MNIST / "train-labels-idx1-ubyte.gz").read_bytes())
    path = replace_file(mnist_copy, "train-labels-idx1-ubyte.gz", gzip.compress(struct.pack(">I", 2051) + labels[4:]))
    line = _train_on(mnist_copy, tmp_path)
    assert line.startswith(f"corenn train: error: {path} has IDX magic number 2051, expected 2049")


def test_truncated_data_file(mnist_copy, tmp_path):
    """A download cut short. WHAT THE USER SEES: ``corenn train: error: PATH is not a readable gzip
    file (EOFError: Compressed file ended before the end-of-stream marker was reached); delete it
    to download it again``"""
    data = (SHARED_MNIST / "t10k-labels-idx1-ubyte.gz").read_bytes()
    path = replace_file(mnist_copy, "t10k-labels-idx1-ubyte.gz", data[: len(data) // 2])
    line = _train_on(mnist_copy, tmp_path)
    assert line.startswith(f"corenn train: error: {path} is not a readable gzip file (EOFError: ")
    assert line.endswith("; delete it to download it again")


def test_a_download_with_the_wrong_checksum_is_not_kept(mnist_copy, tmp_path, monkeypatch, capsys):
    """A missing file is downloaded, but the mirrors serve wrong bytes (no network is used: the
    download is simulated). WHAT THE USER SEES: ``corenn train: error: mnist is not in
    DATA/MNIST/raw: missing t10k-labels-idx1-ubyte.gz, and downloading failed
    (t10k-labels-idx1-ubyte.gz: URL: MD5 ... differs from the expected ec29112dd5afa0611ce80d1b7f02629c;
    URL2: ...). Put the files there (torchvision's layout), or choose another data root with
    --data-dir or CORENN_DATA_DIR.`` and no file (nor partial download) is left in the folder."""
    (mnist_copy / "t10k-labels-idx1-ubyte.gz").unlink()
    requested = []

    def wrong_bytes(url, timeout=None):
        requested.append(url)
        return io.BytesIO(b"not the MNIST labels")

    monkeypatch.setattr(urllib.request, "urlopen", wrong_bytes)
    monkeypatch.setenv("CORENN_DATA_DIR", str(mnist_copy.parent.parent))
    assert main(["train", "--preset", "lenet-mnist", "--out", str(tmp_path / "out")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    # The reader's exact wording is its own (corenn.data); these are the facts the user needs.
    assert lines[0].startswith(f"corenn train: error: mnist is not in {mnist_copy}: missing t10k-labels-idx1-ubyte.gz")
    assert f"{requested[0]}: MD5 " in lines[0]
    assert "differs from the expected ec29112dd5afa0611ce80d1b7f02629c" in lines[0]
    assert lines[0].endswith("--data-dir or CORENN_DATA_DIR.")
    assert sorted(path.name for path in mnist_copy.iterdir()) == sorted(
        set(MNIST_FILES) - {"t10k-labels-idx1-ubyte.gz"}
    )


# NaN and infinity: datasets registered by a plugin found through the entry-point group.


@pytest.fixture
def poisoned_data_plugin(monkeypatch):
    """Make ``poisoned_data_plugin`` an installed plugin (an extra entry point) for this test."""
    entry_points = importlib.metadata.entry_points
    plugin = importlib.metadata.EntryPoint(
        name="faults-poisoned-data", value="poisoned_data_plugin", group=corenn.plugins.ENTRY_POINT_GROUP
    )

    def with_plugin(**selection):
        found = entry_points(**selection)
        return [*found, plugin] if selection.get("group") == corenn.plugins.ENTRY_POINT_GROUP else found

    monkeypatch.setattr(importlib.metadata, "entry_points", with_plugin)
    corenn.plugins.reset_plugins()
    yield
    monkeypatch.undo()
    corenn.plugins.reset_plugins()


@pytest.mark.parametrize(
    ("dataset", "message"),
    [
        (
            "iris_nan_in_train",
            "the train split holds 1 NaN or infinite input value(s) in 1 sample(s) (first: row 3); clean the data before training",
        ),
        (
            "iris_inf_in_train",
            "the train split holds 1 NaN or infinite input value(s) in 1 sample(s) (first: row 3); clean the data before training",
        ),
        (
            "iris_inf_in_val",
            "the val split holds 1 NaN or infinite input value(s) in 1 sample(s) (first: row 3); clean the data before training",
        ),
    ],
)
def test_nan_or_infinity_in_the_inputs(poisoned_data_plugin, tmp_path, capsys, dataset, message):
    """WHAT THE USER SEES: ``corenn train: error: the train split holds 1 NaN or infinite input
    value(s) in 1 sample(s) (first: row 3); clean the data before training`` (exit 1, before any
    record is written)."""
    config = write_config(tmp_path, SMALL_IRIS_CONFIG.replace('name = "iris"', f'name = "{dataset}"'))
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "out")]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    # The loader's wording is its own; the split, the count and the first bad row must be there.
    split_and_count = message.partition(" in 1 sample(s) ")[0]
    assert lines[0].startswith(f"corenn train: error: {split_and_count}")
    assert "row 3" in lines[0]
    assert not (tmp_path / "out").exists()
