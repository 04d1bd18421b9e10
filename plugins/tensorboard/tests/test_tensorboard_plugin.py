"""The TensorBoard plugin, as a user meets it: a run with ``[plugins.tensorboard]`` writes event
files whose curves are the run's own records; without the table nothing is written; bad options
are one line and exit 1."""

import csv
import json
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest
from corenn_tensorboard.plugin import log_dir_of
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from corenn.run.config import load_preset
from corenn.run.resume import resume
from corenn.run.train import train

EPOCHS = 3
BATCH_SIZE = 15  # divides iris's 105 training rows


def iris_config(epochs=EPOCHS, **tensorboard):
    data = load_preset("iris-ffnn").to_dict()
    data["epochs"] = epochs
    data["dataset"]["batch_size"] = BATCH_SIZE
    if tensorboard.pop("enabled", True):
        data["plugins"] = {"tensorboard": tensorboard}
    return data


def read_events(directory):
    """Every scalar series (tag -> [(step, value)]) and text of the event files in ``directory``,
    read by TensorBoard's own reader (which also applies purge marks)."""
    events = EventAccumulator(str(directory), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    tags = events.Tags()
    scalars = {tag: [(event.step, event.value) for event in events.Scalars(tag)] for tag in tags["scalars"]}
    texts = {
        tag: [event.tensor_proto.string_val[0].decode() for event in events.Tensors(tag)] for tag in tags["tensors"]
    }
    return scalars, texts


def read_steps(run_dir):
    with open(Path(run_dir) / "steps.csv", newline="") as file:
        return list(csv.DictReader(file))


def test_curves_are_the_runs_own_records(tmp_path):
    result = train(iris_config(), out_dir=tmp_path, verbose=False)
    run_dir = Path(result["run_dir"])
    scalars, texts = read_events(run_dir / "tensorboard")

    steps = read_steps(run_dir)
    assert len(steps) > EPOCHS  # several updates per epoch
    assert scalars["step/loss"] == [(int(row["step"]), pytest.approx(float(row["loss"]))) for row in steps]
    assert scalars["step/learning_rate"] == [
        (int(row["step"]), pytest.approx(float(row["learning_rate"]))) for row in steps
    ]
    assert [step for step, _ in scalars["step/accuracy"]] == [int(row["step"]) for row in steps]
    assert all(0.0 <= value <= 1.0 for _, value in scalars["step/accuracy"])

    history = json.loads((run_dir / "metrics.json").read_text())
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds"):
        assert scalars[f"epoch/{name}"] == [(row["epoch"], pytest.approx(row[name], rel=1e-6)) for row in history]
    # Every batch is full (BATCH_SIZE divides iris's 105 training rows): an epoch's accuracy is
    # the mean of its steps'.
    per_epoch = len(steps) // EPOCHS
    assert per_epoch * BATCH_SIZE == 105
    for epoch, row in enumerate(history):
        accuracies = [value for _, value in scalars["step/accuracy"][epoch * per_epoch : (epoch + 1) * per_epoch]]
        assert sum(accuracies) / per_epoch == pytest.approx(row["train_accuracy"])

    assert scalars["test/accuracy"] == [(EPOCHS, pytest.approx(result["test_accuracy"]))]
    assert scalars["test/loss"] == [(EPOCHS, pytest.approx(result["test_loss"]))]
    (config_text,) = texts["config"]
    recorded = tomllib.loads((run_dir / "config.toml").read_text())
    assert tomllib.loads("\n".join(line.removeprefix("    ") for line in config_text.splitlines())) == recorded


def test_resumed_run_goes_on_where_it_stopped(tmp_path):
    result = train(iris_config(epochs=2), out_dir=tmp_path, verbose=False)
    resume(result["run_dir"], epochs=4, verbose=False)
    run_dir = Path(result["run_dir"])
    scalars, _ = read_events(run_dir / "tensorboard")
    steps = read_steps(run_dir)
    assert [step for step, _ in scalars["step/loss"]] == [int(row["step"]) for row in steps]
    assert [epoch for epoch, _ in scalars["epoch/train_loss"]] == [1, 2, 3, 4]


def test_log_dir_holds_one_folder_per_run_even_unrecorded(tmp_path):
    logs = tmp_path / "logs"
    train(iris_config(log_dir=str(logs)), out_dir=tmp_path / "runs", record=False, verbose=False)
    assert not (tmp_path / "runs").exists()
    scalars, _ = read_events(logs / "iris-ffnn")
    assert [epoch for epoch, _ in scalars["epoch/val_accuracy"]] == list(range(1, EPOCHS + 1))


def test_nothing_written_where_the_run_writes_nothing(tmp_path, monkeypatch):
    train(iris_config(), out_dir=tmp_path / "unrecorded", record=False, verbose=False)
    assert not (tmp_path / "unrecorded").exists()
    # A data-parallel run's other ranks (torchrun sets RANK): rank 0 alone records. Training on
    # several ranks needs torch (tests/distributed); the plugin's decision is checked here.
    run = types.SimpleNamespace(run_dir=tmp_path / "run", config=types.SimpleNamespace(name="run"))
    assert log_dir_of(run, {}) == tmp_path / "run" / "tensorboard"
    assert log_dir_of(run, {"log_dir": str(tmp_path / "tb")}) == tmp_path / "tb" / "run"
    monkeypatch.setenv("RANK", "1")
    assert log_dir_of(run, {}) is None
    assert log_dir_of(run, {"log_dir": str(tmp_path / "tb")}) is None


def test_without_the_table_nothing_is_written_nor_imported(tmp_path):
    script = (
        "import sys; from corenn.run.train import train; from corenn.run.config import load_preset\n"
        "config = load_preset('iris-ffnn').to_dict(); config['epochs'] = 2\n"
        f"result = train(config, out_dir={str(tmp_path)!r}, verbose=False)\n"
        "print(result['run_dir']); print(sorted(m for m in sys.modules if m.startswith('tensorboard')))\n"
    )
    run_dir, imported = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert imported == "[]"
    assert not (Path(run_dir) / "tensorboard").exists()
    assert "tensorboard" not in {path.name for path in Path(run_dir).iterdir()}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("flush_seconds = -1", "plugins.tensorboard.flush_seconds must be a positive number"),
        ("flush_seconds = true", "plugins.tensorboard.flush_seconds must be a positive number"),
        ('log_dir = ""', "plugins.tensorboard.log_dir must be a folder"),
        ('logdir = "x"', "unknown key plugins.tensorboard.logdir; allowed: log_dir, flush_seconds"),
        # Before: accepted, then a 33-line traceback from the writer's thread, no events, exit 0.
        ("flush_seconds = inf", "plugins.tensorboard.flush_seconds must be a positive number of seconds between "),
        ("flush_seconds = 1e308", "flush_seconds must be a positive number of seconds between writes to disk, at most"),
        ("flush_seconds = nan", "plugins.tensorboard.flush_seconds must be a positive number"),
        # Before: a two-line warning, and training went on without curves.
        (
            'log_dir = "{tmp}/a-file/logs"',
            "plugins.tensorboard.log_dir '{tmp}/a-file/logs' cannot be written (Not a directory)",
        ),
    ],
)
def test_bad_option_is_one_line_and_exit_1_before_anything_is_recorded(tmp_path, table, message):
    preset = Path(__import__("corenn").__file__).parent / "presets" / "iris-ffnn.toml"
    config = tmp_path / "run.toml"
    (tmp_path / "a-file").write_text("a file, not a folder")
    table, message = table.format(tmp=tmp_path), message.format(tmp=tmp_path)
    config.write_text(f"{preset.read_text()}\n[plugins.tensorboard]\n{table}\n")
    out = tmp_path / "runs"
    completed = subprocess.run(
        [sys.executable, "-m", "corenn", "train", "--config", str(config), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 1
    assert completed.stdout == ""
    (line,) = completed.stderr.splitlines()
    assert message in line
    assert not out.exists()


def test_listed_by_corenn_plugins_without_importing_tensorboard():
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "corenn", "plugins", "--json"], capture_output=True, text=True
    )
    plugins = {info["name"]: info for info in json.loads(completed.stdout)}
    assert plugins["tensorboard"]["status"] == "ok"
    assert " tensorboard" not in completed.stderr  # no module of the tensorboard package was imported
