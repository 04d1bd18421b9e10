"""MNIST and Fashion-MNIST readers, the data root, and fetching missing files.

Reads the real files under ``$CORENN_DATA_DIR`` (``../shared/data`` in CI); checks that need
them are skipped when that folder lacks them. Downloads are never attempted for real: the
network is replaced by a fake ``urlopen``.
"""

import gzip
import hashlib
import io
import os
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest

import corenn
from corenn.data import download, mnist
from corenn.data.download import RemoteFile, ensure_files, resolve_data_dir
from corenn.data.mnist import load_fashion_mnist, load_mnist
from corenn.errors import DataError

# Label histograms of the official files (../shared/data/SOURCES.md)
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

SHARED_DATA = Path(os.environ.get("CORENN_DATA_DIR", "")) if os.environ.get("CORENN_DATA_DIR") else None


def _has(folder):
    return SHARED_DATA is not None and all(
        (SHARED_DATA / folder / "raw" / f.name).is_file() for f in mnist.MNIST_FILES.values()
    )


needs_mnist = pytest.mark.skipif(not _has("MNIST"), reason="MNIST files not under $CORENN_DATA_DIR")
needs_fashion = pytest.mark.skipif(not _has("FashionMNIST"), reason="Fashion-MNIST files not under $CORENN_DATA_DIR")


pytestmark = pytest.mark.usefixtures("no_network")  # any download attempt fails, as offline


# --- the data root -----------------------------------------------------------------------------


def test_data_dir_argument_wins_over_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CORENN_DATA_DIR", "/somewhere/else")
    assert resolve_data_dir(tmp_path) == tmp_path
    assert resolve_data_dir(str(tmp_path)) == tmp_path


def test_data_dir_from_the_environment_then_the_cache(monkeypatch):
    monkeypatch.setenv("CORENN_DATA_DIR", "/data/root")
    assert resolve_data_dir() == Path("/data/root")
    monkeypatch.delenv("CORENN_DATA_DIR")
    assert resolve_data_dir() == Path("~/.cache/corenn/data").expanduser()


# --- the real files ------------------------------------------------------------------------


@needs_mnist
def test_mnist_splits_shapes_and_labels():
    splits = load_mnist(SHARED_DATA)
    assert splits.name == "mnist"
    assert splits.train.X.shape == (55_000, 28, 28, 1)
    assert splits.val.X.shape == (5_000, 28, 28, 1)
    assert splits.test.X.shape == (10_000, 28, 28, 1)
    assert splits.train.X.dtype == np.uint8
    assert splits.input_shape == (28, 28, 1)
    assert splits.class_names == tuple("0123456789")
    assert splits.standardize == "channel" and splits.scale == 255.0
    train_and_val = np.bincount(np.concatenate([splits.train.y, splits.val.y]), minlength=10)
    assert train_and_val.tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(splits.test.y, minlength=10).tolist() == MNIST_TEST_COUNTS
    assert splits.train.X.max() == 255 and splits.train.X.min() == 0
    assert abs(splits.test.X.mean() / 255 - 0.1325) < 1e-3


@needs_mnist
def test_mnist_validation_is_the_last_5000_of_the_official_training_set():
    splits = load_mnist(SHARED_DATA)
    with gzip.open(SHARED_DATA / "MNIST" / "raw" / "train-images-idx3-ubyte.gz") as stream:
        # read here, not by the loader's own reader: after the 16-byte IDX header, one byte a pixel
        raw = np.frombuffer(stream.read(), dtype=np.uint8, offset=16).reshape(60_000, 28, 28)
    np.testing.assert_array_equal(splits.val.X[..., 0], raw[55_000:])
    np.testing.assert_array_equal(splits.train.X[..., 0], raw[:55_000])


@needs_mnist
def test_loading_twice_gives_equal_read_only_arrays():
    first, second = load_mnist(SHARED_DATA), load_mnist(SHARED_DATA)
    np.testing.assert_array_equal(first.test.X, second.test.X)
    with pytest.raises(ValueError):
        first.train.X[0, 0, 0, 0] = 1


@needs_mnist
def test_registered_as_a_dataset(monkeypatch):
    monkeypatch.setenv("CORENN_DATA_DIR", str(SHARED_DATA))
    assert corenn.create("dataset", "mnist").test.X.shape == (10_000, 28, 28, 1)


@needs_fashion
def test_fashion_mnist():
    splits = load_fashion_mnist(SHARED_DATA)
    assert splits.name == "fashion_mnist"
    assert splits.train.X.shape == (55_000, 28, 28, 1) and splits.test.X.shape == (10_000, 28, 28, 1)
    assert splits.class_names[0] == "T-shirt/top" and splits.class_names[9] == "Ankle boot"
    assert np.bincount(splits.test.y).tolist() == [1000] * 10
    assert np.bincount(np.concatenate([splits.train.y, splits.val.y])).tolist() == [6000] * 10


# --- corrupt files ---------------------------------------------------------------------------


@pytest.fixture
def mnist_copy(tmp_path):
    """A writable copy of the MNIST folder to damage."""
    if not _has("MNIST"):
        pytest.skip("MNIST files not under $CORENN_DATA_DIR")
    shutil.copytree(SHARED_DATA / "MNIST", tmp_path / "MNIST")
    return tmp_path


def _rewrite(path, transform):
    with gzip.open(path, "rb") as stream:
        raw = stream.read()
    with gzip.open(path, "wb") as stream:
        stream.write(transform(raw))


def test_wrong_magic_number(mnist_copy):
    path = mnist_copy / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    _rewrite(path, lambda raw: (2051).to_bytes(4, "big") + raw[4:])
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz has IDX magic number 2051, expected 2049"):
        load_mnist(mnist_copy)


def test_wrong_dimensions(mnist_copy):
    path = mnist_copy / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    _rewrite(path, lambda raw: raw[:8] + (27).to_bytes(4, "big") + raw[12:])
    with pytest.raises(DataError, match=r"shape \(10000, 27, 28\), expected \(10000, 28, 28\)"):
        load_mnist(mnist_copy)


def test_truncated_contents(mnist_copy):
    path = mnist_copy / "MNIST" / "raw" / "t10k-images-idx3-ubyte.gz"
    _rewrite(path, lambda raw: raw[:-100])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz has 7839916 bytes.*expected 7840016"):
        load_mnist(mnist_copy)


def test_truncated_gzip_stream(mnist_copy):
    path = mnist_copy / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz is not a readable gzip file"):
        load_mnist(mnist_copy)


def test_labels_out_of_range(mnist_copy):
    path = mnist_copy / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz"
    _rewrite(path, lambda raw: raw[:8] + bytes([10]) + raw[9:])
    with pytest.raises(DataError, match="label 10"):
        load_mnist(mnist_copy)


# --- missing files and downloads ---------------------------------------------------------------


def test_offline_error_names_the_files_and_the_folder(tmp_path):
    with pytest.raises(DataError) as caught:
        load_mnist(tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    for file in mnist.MNIST_FILES.values():
        assert file.name in message
    assert "CORENN_DATA_DIR" in message and "--data-dir" in message
    assert not list((tmp_path / "MNIST" / "raw").iterdir())  # no partial files left behind


def test_offline_error_for_fashion_mnist_names_only_the_missing_file(tmp_path, mnist_copy):
    folder = tmp_path / "FashionMNIST" / "raw"
    folder.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        (folder / name).write_bytes(b"placeholder")
    with pytest.raises(
        DataError, match=r"fashion_mnist is not in .*FashionMNIST/raw: missing t10k-labels-idx1-ubyte\.gz,"
    ):
        load_fashion_mnist(tmp_path)


def _serve(monkeypatch, payloads):
    """A fake network: ``urlopen(url)`` answers with ``payloads[url]`` or fails."""

    def urlopen(url, timeout=None):
        if url not in payloads:
            raise urllib.error.URLError(f"no route to {url}")
        return io.BytesIO(payloads[url])

    monkeypatch.setattr(download.urllib.request, "urlopen", urlopen)


def test_a_missing_file_is_downloaded_from_the_next_mirror_and_checked(monkeypatch, tmp_path):
    content = b"hello, data"
    file = RemoteFile("data.bin", hashlib.md5(content).hexdigest())
    _serve(monkeypatch, {"https://second.example/data.bin": content})
    paths = ensure_files(
        tmp_path / "set" / "raw", [file], ["https://first.example/", "https://second.example"], dataset="demo"
    )
    assert paths == [tmp_path / "set" / "raw" / "data.bin"]
    assert paths[0].read_bytes() == content
    assert [p.name for p in paths[0].parent.iterdir()] == ["data.bin"]  # the temporary file is gone


def test_a_download_with_the_wrong_md5_is_discarded(monkeypatch, tmp_path):
    file = RemoteFile("data.bin", hashlib.md5(b"expected").hexdigest())
    _serve(monkeypatch, {"https://mirror.example/data.bin": b"tampered"})
    with pytest.raises(DataError, match=r"demo is not in .*missing data\.bin.*MD5"):
        ensure_files(tmp_path, [file], ["https://mirror.example/"], dataset="demo")
    assert not list(tmp_path.iterdir())


def test_present_files_are_not_downloaded(monkeypatch, tmp_path):
    (tmp_path / "data.bin").write_bytes(b"local")
    _serve(monkeypatch, {})
    assert ensure_files(tmp_path, [RemoteFile("data.bin", "0" * 32)], ["https://x.example/"], dataset="demo") == [
        tmp_path / "data.bin"
    ]


def test_mnist_downloads_into_the_torchvision_layout(monkeypatch, tmp_path, mnist_copy):
    source = mnist_copy / "MNIST" / "raw"
    payloads = {mnist.MNIST_MIRRORS[1] + f.name: (source / f.name).read_bytes() for f in mnist.MNIST_FILES.values()}
    _serve(monkeypatch, payloads)
    root = tmp_path / "fresh"
    splits = load_mnist(root)
    assert splits.test.X.shape == (10_000, 28, 28, 1)
    assert sorted(p.name for p in (root / "MNIST" / "raw").iterdir()) == sorted(
        f.name for f in mnist.MNIST_FILES.values()
    )
