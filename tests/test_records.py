"""Run records: every file of a run directory, no silent overwrite, and a full disk mid-run."""

import csv
import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest

import corenn
from corenn.errors import CorennError, RunExistsError
from corenn.files import load_arrays
from corenn.records.folder import METRIC_COLUMNS, unique_run_name
from corenn.run.config import load_config, load_preset
from corenn.run.resume import resume
from corenn.run.train import train

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RUN_FILES = {
    "config.toml",
    "metrics.csv",
    "metrics.json",
    "parameters.npz",
    "best.npz",
    "preprocessing.json",
    "checkpoint.npz",
    "loss.png",
    "accuracy.png",
    "loss_steps.png",
    "steps.csv",
    "result.json",
}


def iris(epochs=2, **changes):
    data = load_preset("iris-ffnn").to_dict() | {"epochs": epochs} | changes
    data["layers"][0]["n_out"] = 8
    return data


class FinalParameters:
    parameters = None

    @corenn.hookimpl
    def corenn_train_end(self, run, metrics):
        self.parameters = {name: value.copy() for name, value in run.model.named_parameters().items()}


def visible_files(folder):
    return {path.name for path in folder.iterdir() if not path.name.startswith(".")}


def snapshot(folder):
    return {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in folder.iterdir() if path.is_file()}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """One recorded 2-epoch run: ``(result, final parameters, run_dir)``."""
    out = tmp_path_factory.mktemp("records")
    final = FinalParameters()
    result = train(iris(), out_dir=out, verbose=False, callbacks=[final])
    return result, final.parameters, out / "iris-ffnn"


def test_a_run_directory_holds_every_record(finished_run):
    result, _, run_dir = finished_run
    assert result["run_dir"] == str(run_dir)
    assert visible_files(run_dir) == RUN_FILES
    assert not [p for p in run_dir.parent.iterdir() if p.name.startswith(".")], "no staging folder stays behind"


def test_plots_are_png_files(finished_run):
    _, _, run_dir = finished_run
    for name in ("loss.png", "accuracy.png"):
        data = (run_dir / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) > 1000


def test_config_toml_is_the_resolved_config(finished_run):
    _, _, run_dir = finished_run
    assert load_config(run_dir / "config.toml").to_dict() == load_config(iris()).to_dict()


def test_metrics_csv_and_json_have_one_row_per_epoch(finished_run):
    _, _, run_dir = finished_run
    rows = json.loads((run_dir / "metrics.json").read_text())
    assert [row["epoch"] for row in rows] == [1, 2]
    with open(run_dir / "metrics.csv", newline="") as stream:
        table = list(csv.DictReader(stream))
    assert list(table[0]) == list(METRIC_COLUMNS)
    assert len(table) == 2
    for row, record in zip(table, rows, strict=True):
        for column in METRIC_COLUMNS:
            assert float(row[column]) == pytest.approx(record[column], rel=1e-12)


def test_parameters_and_result_are_those_of_the_run(finished_run):
    result, parameters, run_dir = finished_run
    saved = load_arrays(run_dir / "parameters.npz")
    assert list(saved) == list(parameters)
    for name, value in parameters.items():
        assert np.array_equal(saved[name], value)
    assert json.loads((run_dir / "result.json").read_text()) == result
    checkpoint = load_arrays(run_dir / "checkpoint.npz")
    assert np.array_equal(checkpoint["param/0.W"], parameters["0.W"])
    assert json.loads(checkpoint["state"].tobytes())["epoch"] == 2


def test_an_existing_run_is_never_overwritten_silently(tmp_path):
    train(iris(epochs=1), out_dir=tmp_path, verbose=False)
    run_dir = tmp_path / "iris-ffnn"
    before = snapshot(run_dir)
    with pytest.raises(RunExistsError) as info:
        train(iris(epochs=1, seed=9), out_dir=tmp_path, verbose=False, free_name=False)
    message = str(info.value)
    assert str(run_dir) in message and "--overwrite" in message and "--resume" in message
    assert snapshot(run_dir) == before
    assert visible_files(tmp_path) == {"iris-ffnn"}


def test_train_from_python_takes_a_free_name_as_the_cli_does(tmp_path):
    first = train(iris(epochs=1), out_dir=tmp_path, verbose=False)
    second = train(iris(epochs=1, seed=9), out_dir=tmp_path, verbose=False)
    assert Path(first["run_dir"]).name == "iris-ffnn"
    assert Path(second["run_dir"]).name == second["name"] == "iris-ffnn-2"
    assert visible_files(tmp_path) == {"iris-ffnn", "iris-ffnn-2"}


def test_overwrite_replaces_the_whole_run(tmp_path):
    train(iris(epochs=1), out_dir=tmp_path, verbose=False)
    run_dir = tmp_path / "iris-ffnn"
    (run_dir / "stray.txt").write_text("from before")
    old_parameters = load_arrays(run_dir / "parameters.npz")
    result = train(iris(epochs=2, seed=9), out_dir=tmp_path, verbose=False, overwrite=True)
    assert result["epochs"] == 2
    assert visible_files(run_dir) == RUN_FILES
    assert not np.array_equal(load_arrays(run_dir / "parameters.npz")["0.W"], old_parameters["0.W"])
    assert len(json.loads((run_dir / "metrics.json").read_text())) == 2


def test_an_empty_existing_folder_may_be_used(tmp_path):
    (tmp_path / "iris-ffnn").mkdir()
    train(iris(epochs=1), out_dir=tmp_path, verbose=False)
    assert visible_files(tmp_path / "iris-ffnn") == RUN_FILES


def test_a_file_where_the_run_directory_should_be_is_an_error(tmp_path):
    (tmp_path / "iris-ffnn").write_text("not a folder")
    with pytest.raises(RunExistsError, match="is not a directory"):
        train(iris(epochs=1), out_dir=tmp_path, verbose=False, overwrite=True)
    assert (tmp_path / "iris-ffnn").read_text() == "not a folder"


def test_unique_run_name_counts_up(tmp_path):
    assert unique_run_name(tmp_path, "run") == "run"
    (tmp_path / "run").mkdir()
    assert unique_run_name(tmp_path, "run") == "run"  # an empty folder is free: train uses it
    (tmp_path / "run" / "config.toml").write_text("")
    assert unique_run_name(tmp_path, "run") == "run-2"
    (tmp_path / "run-2").write_text("a file")
    assert unique_run_name(tmp_path, "run") == "run-3"


def test_a_full_disk_mid_run_stops_it_with_whole_files_that_resume(tmp_path, monkeypatch):
    """The second epoch's ``metrics.json`` cannot be written: the run stops with a message
    naming the file, every record left is a whole file, and the run can be continued.
    (A checkpoint at every epoch's end, so that the second epoch writes ``metrics.json``.)"""
    monkeypatch.setenv("CORENN_CHECKPOINT_SECONDS", "0")
    replace = os.replace
    writes = {"metrics.json": 0}

    def replace_until_full(source, target):
        if str(target).endswith("metrics.json"):
            writes["metrics.json"] += 1
            if writes["metrics.json"] == 2:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return replace(source, target)

    monkeypatch.setattr(os, "replace", replace_until_full)
    with pytest.raises(CorennError) as info:
        train(iris(epochs=3), out_dir=tmp_path, verbose=False)
    monkeypatch.undo()
    run_dir = tmp_path / "iris-ffnn"
    message = str(info.value)
    assert "metrics.json" in message and "No space left on device" in message
    assert not [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    assert len(json.loads((run_dir / "metrics.json").read_text())) == 1
    load_arrays(run_dir / "parameters.npz")
    assert json.loads(load_arrays(run_dir / "checkpoint.npz")["state"].tobytes())["epoch"] >= 1
    assert not (run_dir / "result.json").exists()

    result = resume(run_dir, verbose=False)
    assert result["epochs"] == 3
    assert [row["epoch"] for row in json.loads((run_dir / "metrics.json").read_text())] == [1, 2, 3]
    assert visible_files(run_dir) == RUN_FILES
