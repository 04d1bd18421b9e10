"""``corenn train --resume`` at the edges: finished runs, longer runs, wrong directories, edited configs."""

import json
import shutil

import pytest

from corenn.cli import main
from corenn.records.folder import RunRecorder
from corenn.run.console import duration

from faultkit import RUN_NAME, SMALL_IRIS_CONFIG, assert_same_run, environment, one_line_error, run_corenn, write_config


def _one_error_line(capsys, argv):
    """Run the CLI in this process; it must exit 1 with one line on stderr (no traceback)."""
    assert main(argv) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def finished_run(reference, tmp_path):
    """A copy of the finished reference run (12 epochs)."""
    run_dir = tmp_path / "out" / RUN_NAME
    shutil.copytree(reference.run_dir, run_dir)
    return run_dir


def test_resuming_a_finished_run_says_so_and_prints_its_result(finished_run, capsys):
    """WHAT THE USER SEES (exit 0, nothing retrained, no file changed):

    RUN_DIR is already complete (12 epochs); nothing to train. To train it longer: corenn train --resume RUN_DIR --epochs N (N > 12)
    faults-iris: 12 epochs in 0.4s, val accuracy 1.0000, test accuracy 0.9000
    records: RUN_DIR"""
    before = {path.name: path.read_bytes() for path in finished_run.iterdir()}
    assert main(["train", "--resume", str(finished_run)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == (
        f"{finished_run} is already complete (12 epochs); nothing to train. "
        f"To train it longer: corenn train --resume {finished_run} --epochs N (N > 12)"
    )
    result = json.loads((finished_run / "result.json").read_text())
    assert lines[1].startswith(
        f"faults-iris: 12 epochs in {duration(result['seconds'])}, val accuracy {result['val_accuracy']:.4f}"
    )
    assert before == {path.name: path.read_bytes() for path in finished_run.iterdir()}


def test_resume_with_more_epochs_equals_a_longer_uninterrupted_run(finished_run, tmp_path, capsys):
    """WHAT THE USER SEES: ``resuming RUN_DIR at epoch 13 of 15 epochs``, three more epoch lines,
    and records equal to a 15-epoch run trained in one go; config.toml now says 15 epochs."""
    longer_config = write_config(tmp_path, SMALL_IRIS_CONFIG.replace("epochs = 12", "epochs = 15"), "longer.toml")
    assert main(["train", "--config", str(longer_config), "--out", str(tmp_path / "longer"), "--quiet"]) == 0
    assert main(["train", "--resume", str(finished_run), "--epochs", "15"]) == 0
    out = capsys.readouterr().out
    assert f"resuming {finished_run} at epoch 13 of 15 epochs" in out
    assert out.count("epoch ") >= 3
    assert_same_run(tmp_path / "longer" / RUN_NAME, finished_run, epochs=15)
    assert (finished_run / "config.toml").read_text() == (tmp_path / "longer" / RUN_NAME / "config.toml").read_text()


def test_resume_with_fewer_epochs_than_trained_is_refused(finished_run, capsys):
    """WHAT THE USER SEES: ``corenn train: error: epochs = 5 is fewer than the 12 epoch(s) this run
    has already trained; to extend it pass --epochs N with N > 12``"""
    message = _one_error_line(capsys, ["train", "--resume", str(finished_run), "--epochs", "5"])
    assert message == (
        "corenn train: error: epochs = 5 is fewer than the 12 epoch(s) this run has already trained; "
        "to extend it pass --epochs N with N > 12"
    )


def test_resume_of_a_folder_that_is_not_a_run(tmp_path, capsys):
    """WHAT THE USER SEES, for a folder without config.toml, a missing path and a file:

    corenn train: error: DIR is not a corenn run directory (it has no config.toml); --resume takes a directory that corenn train created under --out, such as experiments/iris-ffnn
    corenn train: error: DIR does not exist: there is no run to resume (a run stopped while starting leaves none: start it again with corenn train)
    corenn train: error: FILE is not a directory; --resume takes a run directory, such as experiments/iris-ffnn"""
    (tmp_path / "notes.txt").write_text("not a run")
    assert _one_error_line(capsys, ["train", "--resume", str(tmp_path)]) == (
        f"corenn train: error: {tmp_path} is not a corenn run directory (it has no config.toml); --resume takes a "
        "directory that corenn train created under --out, such as experiments/iris-ffnn"
    )
    missing = tmp_path / "missing"
    assert _one_error_line(capsys, ["train", "--resume", str(missing)]) == (
        f"corenn train: error: {missing} does not exist: there is no run to resume (a run stopped while starting leaves none: start it again with corenn train)"
    )
    assert _one_error_line(capsys, ["train", "--resume", str(tmp_path / "notes.txt")]) == (
        f"corenn train: error: {tmp_path / 'notes.txt'} is not a directory; --resume takes a run directory, "
        "such as experiments/iris-ffnn"
    )


def test_a_run_without_a_checkpoint_that_never_trained_starts_from_the_beginning(reference, tmp_path, capsys):
    """WHAT THE USER SEES: ``RUN_DIR has no checkpoint: the run had not started; training it from
    the beginning``, then the whole run, equal to the uninterrupted one."""
    run_dir = tmp_path / "out" / RUN_NAME
    run_dir.mkdir(parents=True)
    shutil.copy(reference.run_dir / "config.toml", run_dir / "config.toml")
    assert main(["train", "--resume", str(run_dir)]) == 0
    assert capsys.readouterr().out.startswith(
        f"{run_dir} has no checkpoint: the run had not started; training it from the beginning"
    )
    assert_same_run(reference.run_dir, run_dir)


def test_a_run_that_trained_but_lost_its_checkpoint_is_not_silently_restarted(finished_run, capsys):
    """WHAT THE USER SEES: ``corenn train: error: RUN_DIR/checkpoint.npz is missing but the run
    recorded 12 epoch(s), so it cannot be continued exactly; start it again with: corenn train
    --config RUN_DIR/config.toml --out OUT --name faults-iris --overwrite``"""
    (finished_run / "checkpoint.npz").unlink()
    message = _one_error_line(capsys, ["train", "--resume", str(finished_run)])
    assert message == (
        f"corenn train: error: {finished_run / 'checkpoint.npz'} is missing but the run recorded 12 epoch(s), so it "
        f"cannot be continued exactly; start it again with: corenn train --config {finished_run / 'config.toml'} "
        f"--out {finished_run.parent} --name {RUN_NAME} --overwrite"
    )
    assert (finished_run / "parameters.npz").is_file(), "the learned parameters must not be touched"


def test_the_restart_command_it_prints_works(finished_run, reference, capsys):
    """The command the previous error suggests trains the run again from scratch, to the same end."""
    (finished_run / "checkpoint.npz").unlink()
    _one_error_line(capsys, ["train", "--resume", str(finished_run)])
    assert (
        main(
            [
                "train",
                "--config",
                str(finished_run / "config.toml"),
                "--out",
                str(finished_run.parent),
                "--name",
                RUN_NAME,
                "--overwrite",
                "--quiet",
            ]
        )
        == 0
    )
    assert_same_run(reference.run_dir, finished_run)


def test_a_config_edited_after_the_checkpoint_is_refused(finished_run, capsys):
    """WHAT THE USER SEES: ``corenn train: error: the run's config differs from the one checkpoint
    RUN_DIR/checkpoint.npz was made with (changed: optimizer.lr); a resumed run keeps its config,
    only --epochs, --backend, --device and --kernels may change: start a new run for a different config``"""
    config = finished_run / "config.toml"
    config.write_text(config.read_text().replace("lr = 0.01", "lr = 0.02"))
    message = _one_error_line(capsys, ["train", "--resume", str(finished_run), "--epochs", "14"])
    assert message == (
        f"corenn train: error: the run's config differs from the one checkpoint {finished_run / 'checkpoint.npz'} "
        "was made with (changed: optimizer.lr); a resumed run keeps its config, only --epochs, --backend, --device and --kernels may change: "
        "start a new run for a different config"
    )


def test_a_run_in_use_by_another_process_is_not_resumed_twice(finished_run, capsys):
    """WHAT THE USER SEES: ``corenn train: error: run directory RUN_DIR is in use by another corenn
    process; wait for it to finish or stop it, then try again``"""
    with RunRecorder(finished_run) as other_process:
        other_process.lock()
        message = _one_error_line(capsys, ["train", "--resume", str(finished_run), "--epochs", "14"])
    assert message == (
        f"corenn train: error: run directory {finished_run} is in use by another corenn process; "
        "wait for it to finish or stop it, then try again"
    )


def test_overwrite_refuses_to_delete_a_run_in_progress(finished_run, config_path, capsys):
    """``--overwrite`` of a run that another process is training gives the same message and deletes nothing."""
    with RunRecorder(finished_run) as other_process:
        other_process.lock()
        message = _one_error_line(
            capsys, ["train", "--config", str(config_path), "--out", str(finished_run.parent), "--overwrite", "--quiet"]
        )
    assert "is in use by another corenn process" in message
    assert (finished_run / "checkpoint.npz").is_file()
    assert not list(finished_run.parent.glob(".*")), "the refused start left its staging folder behind"


def test_resuming_on_other_data_is_refused(finished_run, monkeypatch, capsys):
    """Same config, other data (another --data-dir, or files changed since): the run would not be
    the run that was saved. WHAT THE USER SEES: ``corenn train: error: the training data differs
    from the data checkpoint RUN_DIR/checkpoint.npz was made with (another --data-dir, or changed
    files?); resume with the same data, or start a new run``"""
    import corenn.data.iris

    load_iris = corenn.data.iris.load_iris

    def iris_with_one_changed_value(data_dir=None):
        splits = load_iris(data_dir)
        splits.train.X[0, 0] += 0.1
        return splits

    monkeypatch.setattr(corenn.data.iris, "load_iris", iris_with_one_changed_value)
    message = _one_error_line(capsys, ["train", "--resume", str(finished_run), "--epochs", "14"])
    assert message == (
        f"corenn train: error: the training data differs from the data checkpoint {finished_run / 'checkpoint.npz'} "
        "was made with (another --data-dir, or changed files?); resume with the same data, or start a new run"
    )


def test_predict_on_a_torch_run_without_corenn_torch_says_what_to_install(tmp_path):
    """Before: "backend 'torch' has components but no installed plugin lets the trainer run on
    it", which does not say what is missing. (corenn-torch, if installed here, is disabled.)"""
    without_torch = environment(CORENN_DISABLE_PLUGINS="torch")
    out = tmp_path / "out"
    assert (
        run_corenn(
            "train", "--epochs", "1", "--quiet", "--name", "torch-run", "--out", out, env=without_torch
        ).returncode
        == 0
    )
    config = out / "torch-run" / "config.toml"
    config.write_text(
        config.read_text(encoding="utf-8").replace('backend = "numpy"', 'backend = "torch"'), encoding="utf-8"
    )
    line = one_line_error(
        run_corenn("predict", out / "torch-run", "--out", tmp_path / "submission.csv", env=without_torch)
    )
    assert line.startswith("corenn predict: error: unknown backend 'torch' (corenn-torch is ")
    assert "pip install torch==2.14.1 ./plugins/nn-torch" in line, line


def test_a_torch_run_without_corenn_torch_predicts_and_resumes_on_numpy_as_the_error_says(tmp_path):
    """The errors said only what to install; the run's records are the same on numpy."""
    without_torch = environment(CORENN_DISABLE_PLUGINS="torch")
    out = tmp_path / "out"
    assert (
        run_corenn("train", "--epochs", "1", "--quiet", "--name", "t", "--out", out, env=without_torch).returncode == 0
    )
    config = out / "t" / "config.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('backend = "numpy"', 'backend = "torch"'))
    line = one_line_error(run_corenn("train", "--resume", out / "t", "--epochs", "2", env=without_torch))
    assert line == (
        f"corenn train: error: the run trained on backend 'torch', which is not installed here (backends: numpy); "
        f"continue it on another, its records being the same on every backend: corenn train --resume {out / 't'} "
        "--backend numpy; or install it: corenn-torch is not on PyPI; from a clone of the corenn repository run "
        "pip install torch==2.14.1 ./plugins/nn-torch"
    )
    resumed = run_corenn(
        "train", "--resume", out / "t", "--epochs", "2", "--backend", "numpy", "--quiet", env=without_torch
    )
    assert resumed.returncode == 0, resumed.stderr
    predicted = run_corenn("predict", out / "t", "--backend", "numpy", "--out", tmp_path / "p.csv", env=without_torch)
    assert predicted.returncode == 0, predicted.stderr
