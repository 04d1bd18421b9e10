"""The course's Logger writing corenn's run records."""

import json

from corenn.course.logs import Logger
from corenn.course.utils import AttrDict


def epoch_log(train_loss, validation_loss):
    return {
        "loss": {"train": train_loss, "validate": validation_loss},
        "error": {"train": 0.5, "validate": 0.25},
        "params": {"W0": {"max": 1.0, "min": -1.0}},
    }


def test_logger_writes_its_records(tmp_path):
    logger = Logger(
        "ffnn",
        AttrDict({"loss": "cross_entropy", "kernel_shape": (3, 3)}),
        AttrDict({"name": "iris"}),
        save=True,
        plot=True,
        save_dir=str(tmp_path),
    )
    logger.push(epoch_log(1.0, 1.5))
    logger.push(epoch_log(0.5, 0.75))
    logger.push({"loss": {"test": 0.7}, "error": {"test": 0.1}})
    run_dir = tmp_path / "ffnn"
    assert logger.save_dir == str(run_dir) + "/"
    assert json.loads((run_dir / "model_args.json").read_text()) == {"loss": "cross_entropy", "kernel_shape": [3, 3]}
    assert json.loads((run_dir / "data_args.json").read_text()) == {"name": "iris"}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics == [
        {"epoch": 1, "train_loss": 1.0, "train_accuracy": 0.5, "val_loss": 1.5, "val_accuracy": 0.75},
        {"epoch": 2, "train_loss": 0.5, "train_accuracy": 0.5, "val_loss": 0.75, "val_accuracy": 0.75},
    ]
    assert (run_dir / "metrics.csv").read_text().splitlines()[1].startswith("1,1.0,0.5,1.5,0.75")
    log = json.loads((run_dir / "log.json").read_text())
    assert log["loss"] == {"train": [1.0, 0.5], "validate": [1.5, 0.75], "test": [0.7]}
    assert log["params"] == {"W0": {"max": [1.0, 1.0], "min": [-1.0, -1.0]}}
    assert json.loads((run_dir / "result.json").read_text()) == {"test_loss": 0.7, "test_accuracy": 0.9}
    assert (run_dir / "loss.png").stat().st_size > 0 and (run_dir / "accuracy.png").stat().st_size > 0


def test_logger_never_overwrites_a_run(tmp_path):
    first = Logger("ffnn", {}, {}, save=True, save_dir=str(tmp_path))
    second = Logger("ffnn", {}, {}, save=True, save_dir=str(tmp_path))
    assert first.save_dir != second.save_dir and second.save_dir.endswith("ffnn-2/")
    second.push(epoch_log(1.0, 1.0))
    assert not (tmp_path / "ffnn-2" / "loss.png").exists()  # plot=False


def test_logger_without_save_writes_nothing(tmp_path):
    logger = Logger("ffnn", {}, {}, save=False, plot=True, save_dir=str(tmp_path / "experiments"))
    logger.push(epoch_log(1.0, 1.0))
    logger.flush()
    assert logger.log["loss"]["train"] == [1.0] and len(logger.history) == 1
    assert not (tmp_path / "experiments").exists()
