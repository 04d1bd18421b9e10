"""A full disk while writing run records (simulated): no half-written file ever looks whole.

The disk "fills up" inside ``corenn.files``: the chosen write puts half its bytes down and then
fails with ENOSPC, as ``write(2)`` does on a full file system (or ``mkstemp`` fails to create
the temporary file at all).
"""

import errno
import json
import os
import shutil
from pathlib import Path

import pytest

import corenn.files
from corenn.cli import main
from corenn.errors import CorennError

from faultkit import RUN_NAME, assert_records_whole, assert_same_run, csv_without_seconds, load_npz

NO_SPACE = os.strerror(errno.ENOSPC)


def _fill_disk_at_write(monkeypatch, write_number, file_name=None):
    """Make the N-th record write (the N-th write of ``file_name``, when given) fail halfway with
    ENOSPC; the writes before it succeed. Counting one file's writes keeps the test independent
    of which other records a run writes (``best.npz`` only in the epochs that are the best)."""
    write_all = corenn.files._write_all
    mkstemp = corenn.files.tempfile.mkstemp
    open_for_append = corenn.files._open_for_append
    calls = {"n": 0, "file": None}

    def note_the_file(*args, prefix="", **kwargs):
        calls["file"] = prefix[1:].rpartition(".")[0]  # atomic_write's temporaries are .<name>.<random>
        return mkstemp(*args, prefix=prefix, **kwargs)

    def note_the_appended_file(path):  # metrics.csv and steps.csv grow by appended rows
        calls["file"] = Path(path).name
        return open_for_append(path)

    def write_until_full(fd, data):
        if file_name is None or calls["file"] == file_name:
            calls["n"] += 1
            if calls["n"] == write_number:
                os.write(fd, bytes(data[: len(data) // 2]))
                raise OSError(errno.ENOSPC, NO_SPACE)
        write_all(fd, data)

    monkeypatch.setattr(corenn.files.tempfile, "mkstemp", note_the_file)
    monkeypatch.setattr(corenn.files, "_open_for_append", note_the_appended_file)
    monkeypatch.setattr(corenn.files, "_write_all", write_until_full)


def test_atomic_write_on_a_full_disk_keeps_the_previous_file(tmp_path, monkeypatch):
    """WHAT THE USER SEES: ``CorennError: could not write PATH: No space left on device``; the file
    keeps its previous content and no temporary is left beside it."""
    path = tmp_path / "metrics.json"
    path.write_text('["previous"]\n')
    _fill_disk_at_write(monkeypatch, 1)
    with pytest.raises(CorennError) as caught:
        corenn.files.write_json(path, ["new"] * 1000)
    assert str(caught.value) == f"could not write {path}: {NO_SPACE}"
    assert path.read_text() == '["previous"]\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_no_room_for_the_temporary_file_itself(tmp_path, monkeypatch):
    """When even the temporary file cannot be created the message is the same one line."""
    path = tmp_path / "parameters.npz"

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, NO_SPACE)

    monkeypatch.setattr(corenn.files.tempfile, "mkstemp", no_space)
    with pytest.raises(CorennError, match=f"^could not write {path}: {NO_SPACE}$"):
        corenn.files.atomic_write(path, b"x")
    assert not path.exists()


# The small run writes a first checkpoint with its initial records, then at each epoch's end the
# checkpoint first and the other records after it (metrics.csv's appended row among them): epoch
# 5's are the 6th checkpoint and the 5th metrics.csv.
EPOCH_5_CHECKPOINT = 6
EPOCH_5_METRICS_CSV = 5


@pytest.mark.parametrize(
    ("write_number", "file_name", "checkpoint_epoch", "csv_rows"),
    [(EPOCH_5_METRICS_CSV, "metrics.csv", 5, 4), (EPOCH_5_CHECKPOINT, "checkpoint.npz", 4, 4)],
    ids=["metrics.csv", "checkpoint.npz"],
)
def test_disk_fills_up_during_training(
    reference, config_path, tmp_path, monkeypatch, capsys, write_number, file_name, checkpoint_epoch, csv_rows
):
    """WHAT THE USER SEES (exit 1, one line on stderr):

        corenn train: error: could not write RUN_DIR/metrics.csv: No space left on device; the last complete checkpoint is kept: make room, then continue with: corenn train --resume RUN_DIR

    Every record on disk is whole (the one being written keeps its previous content), and once
    there is room again the resumed run ends exactly as the uninterrupted one."""
    out = tmp_path / "out"
    run_dir = out / RUN_NAME
    _fill_disk_at_write(monkeypatch, write_number, file_name)
    assert main(["train", "--config", str(config_path), "--out", str(out), "--quiet"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"corenn train: error: could not write {run_dir / file_name}: {NO_SPACE}; the last complete checkpoint "
        f"is kept: make room, then continue with: corenn train --resume {run_dir}"
    ]
    assert_records_whole(run_dir)
    assert not list(run_dir.glob(".*")), "a temporary file was left behind"
    state = json.loads(load_npz(run_dir / "checkpoint.npz")["state"].tobytes())
    assert state["epoch"] == checkpoint_epoch
    assert len(csv_without_seconds(run_dir / "metrics.csv")) == 1 + csv_rows
    monkeypatch.undo()
    assert main(["train", "--resume", str(run_dir), "--quiet"]) == 0
    assert_same_run(reference.run_dir, run_dir)


def test_disk_full_while_the_run_starts_leaves_no_run_directory(config_path, tmp_path, monkeypatch, capsys):
    """WHAT THE USER SEES: ``corenn train: error: cannot create run directory OUT/faults-iris: could
    not write parameters.npz: No space left on device``, and no run directory (nor a staging
    folder) is left behind, so the same command works once there is room."""
    out = tmp_path / "out"
    _fill_disk_at_write(monkeypatch, 3)  # config.toml, preprocessing.json, then parameters.npz
    assert main(["train", "--config", str(config_path), "--out", str(out), "--quiet"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"corenn train: error: cannot create run directory {out / RUN_NAME}: could not write parameters.npz: {NO_SPACE}"
    ]
    assert list(out.iterdir()) == []
    monkeypatch.undo()
    assert main(["train", "--config", str(config_path), "--out", str(out), "--quiet"]) == 0


def test_disk_full_when_saving_after_ctrl_c(config_path, tmp_path, monkeypatch, ctrl_c_after_update, capsys):
    """WHAT THE USER SEES after Ctrl-C on a full disk: ``interrupted; saving the checkpoint failed
    (could not write RUN_DIR/checkpoint.npz: No space left on device), the previous one is kept;
    continue with: corenn train --resume RUN_DIR``, then ``corenn train: interrupted`` (exit 130)."""
    out = tmp_path / "out"
    run_dir = out / RUN_NAME
    ctrl_c_after_update(10, first=lambda: _fill_disk_at_write(monkeypatch, 1))
    assert main(["train", "--config", str(config_path), "--out", str(out), "--quiet"]) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        f"interrupted; saving the checkpoint failed (could not write {run_dir / 'checkpoint.npz'}: {NO_SPACE}), "
        f"the previous one is kept; continue with: corenn train --resume {run_dir}",
        "corenn train: interrupted",
    ]
    assert_records_whole(run_dir)
    shutil.rmtree(out)
