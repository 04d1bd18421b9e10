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


def read_csv_rows(path):
    lines = path.read_text().splitlines()
    return [dict(zip(lines[0].split(","), line.split(","), strict=True)) for line in lines[1:]]


def test_each_push_appends_its_row_and_the_history_files_follow_every_few_seconds(tmp_path, monkeypatch):
    """Rewriting the whole history at every push made 3,000 epochs cost 57 s: metrics.csv gets
    one appended row per push, log.json and metrics.json are rewritten on a schedule and by
    flush()."""
    from corenn.course import logs

    monkeypatch.setattr(logs, "SUMMARY_INTERVAL_SECONDS", 3600.0)
    written = []
    real_write_json = logs.write_json
    monkeypatch.setattr(logs, "write_json", lambda path, data: (written.append(path), real_write_json(path, data)))
    logger = Logger("ffnn", {}, {}, save=True, save_dir=str(tmp_path))
    run_dir = tmp_path / "ffnn"
    for epoch in range(50):
        logger.push(epoch_log(1.0 / (epoch + 1), 2.0))
        assert len(read_csv_rows(run_dir / "metrics.csv")) == epoch + 1
    last = read_csv_rows(run_dir / "metrics.csv")[-1]
    assert (last["epoch"], last["train_loss"], last["val_loss"], last["val_accuracy"]) == (
        "50",
        str(1.0 / 50),
        "2.0",
        "0.75",
    )
    assert sum(path.name == "log.json" for path in written) == 1  # the first push's, then none for an hour
    assert len(json.loads((run_dir / "metrics.json").read_text())) == 1
    logger.flush()
    assert len(json.loads((run_dir / "metrics.json").read_text())) == 50
    assert len(json.loads((run_dir / "log.json").read_text())["loss"]["train"]) == 50
    logger.flush()  # nothing pushed since: nothing written
    assert sum(path.name == "log.json" for path in written) == 2


def test_validation_columns_appearing_rewrite_metrics_csv(tmp_path):
    logger = Logger("ffnn", {}, {}, save=True, save_dir=str(tmp_path))
    logger.push({"loss": {"train": 1.0}, "error": {"train": 0.5}})
    logger.push(epoch_log(0.5, 0.75))
    logger.push(epoch_log(0.25, 0.5))
    rows = read_csv_rows(tmp_path / "ffnn" / "metrics.csv")
    assert [row["val_loss"] for row in rows] == ["", "0.75", "0.5"]
    assert [row["train_loss"] for row in rows] == ["1.0", "0.5", "0.25"]


def test_an_interrupted_train_leaves_the_history_files_level_with_the_pushes(tmp_path, monkeypatch):
    from corenn.course import logs
    from corenn.course.datasets import initialize_dataset
    from corenn.course.models import initialize_model

    monkeypatch.setattr(logs, "SUMMARY_INTERVAL_SECONDS", 3600.0)
    logger = Logger("ffnn", {}, {}, save=True, save_dir=str(tmp_path))
    layer_args = [
        AttrDict({"name": "fully_connected", "activation": "softmax", "weight_init": "xavier_uniform", "n_out": None})
    ]
    optimizer_args = AttrDict({"name": "SGD", "lr": 0.05, "lr_scheduler": "constant"})
    model = initialize_model("ffnn", "cross_entropy", layer_args, optimizer_args, logger=logger, seed=0)
    dataset = initialize_dataset("iris", batch_size=25)
    real_push, pushes = logger.push, []

    def push_then_stop(log):
        real_push(log)
        pushes.append(log)
        if len(pushes) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(logger, "push", push_then_stop)
    try:
        model.train(dataset, epochs=10)
    except KeyboardInterrupt:
        pass
    assert len(json.loads((tmp_path / "ffnn" / "metrics.json").read_text())) == 3
    assert len(json.loads((tmp_path / "ffnn" / "log.json").read_text())["loss"]["train"]) == 3


def test_a_reset_logger_rewrites_metrics_csv_from_its_new_history(tmp_path):
    """Appending after reset() left metrics.csv with the forgotten epochs too (epochs 1, 2, 1),
    disagreeing with metrics.json (epoch 1)."""
    logger = Logger("ffnn", {}, {}, save=True, save_dir=str(tmp_path))
    logger.push(epoch_log(1.0, 1.5))
    logger.push(epoch_log(0.5, 0.75))
    logger.reset()
    logger.push(epoch_log(0.25, 0.5))
    logger.flush()
    run_dir = tmp_path / "ffnn"
    assert [row["train_loss"] for row in read_csv_rows(run_dir / "metrics.csv")] == ["0.25"]
    assert [row["train_loss"] for row in json.loads((run_dir / "metrics.json").read_text())] == [0.25]


def test_a_logger_collected_before_exit_writes_its_history_files(tmp_path):
    """The exit hook holds loggers weakly: one made and pushed to in a function, then
    collected, must still leave log.json and metrics.json level with its pushes."""
    import gc

    def train_briefly():
        logger = Logger("ffnn", {}, {}, save=True, save_dir=str(tmp_path))
        for epoch in range(3):
            logger.push(epoch_log(1.0 / (epoch + 1), 1.0))

    train_briefly()
    gc.collect()
    assert len(json.loads((tmp_path / "ffnn" / "log.json").read_text())["loss"]["train"]) == 3
    assert len(json.loads((tmp_path / "ffnn" / "metrics.json").read_text())) == 3


def test_a_late_flush_that_cannot_write_is_one_warning(tmp_path):
    """At garbage collection or exit no caller can be told: a run folder removed meanwhile gives
    one warning line, never a traceback."""
    import shutil
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import shutil
        from corenn.course.logs import Logger
        logger = Logger("ffnn", {{}}, {{}}, save=True, save_dir={str(tmp_path)!r})
        logger.push({{"loss": {{"train": 1.0}}, "error": {{"train": 0.5}}}})
        logger.push({{"loss": {{"train": 0.5}}, "error": {{"train": 0.25}}}})
        shutil.rmtree(logger.save_dir)
    """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr and "Exception ignored" not in completed.stderr
    assert completed.stderr.count("the course Logger could not write its records in") == 1
    shutil.rmtree(tmp_path, ignore_errors=True)
