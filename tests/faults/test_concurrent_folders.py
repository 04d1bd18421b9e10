"""Two processes writing into the same folder: sweeps lock theirs, runs started at once take
different names, and Ctrl-C keeps a sweep's finished rows."""

import json
import signal
import time

from faultkit import TIMEOUT_S, one_line_error, run_corenn, start_corenn

SWEEP_ARGS = (
    "sweep",
    "--epochs",
    "300",
    "--lrs",
    "0.01,0.02,0.05",
    "--hidden",
    "4,8,16",
)  # seconds per run (each combination is a recorded run): alive while others try
SWEEP_DIR_NAME = "iris-ffnn-sweep"


def wait_for(condition, what, timeout=TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def sweep_rows(out):
    path = out / SWEEP_DIR_NAME / "sweep.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))["rows"]
    except (OSError, ValueError):
        return None


def finish(process):
    try:
        return process.communicate(timeout=TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_a_second_sweep_into_a_running_sweeps_folder_is_refused_with_or_without_overwrite(tmp_path):
    """Before: both sweeps exited 0 and sweep.json held one sweep's rows only. The second one
    sweeps another grid (the default), so rows of it would show."""
    out = tmp_path / "out"
    first = start_corenn(*SWEEP_ARGS, "--out", out)
    try:
        wait_for(lambda: sweep_rows(out) is not None, "the first sweep's folder")
        line = one_line_error(run_corenn("sweep", "--epochs", "1", "--out", out))
        assert line == (
            f"corenn sweep: error: sweep folder {out / SWEEP_DIR_NAME} already exists (another sweep of 'iris-ffnn'); "
            "pass --overwrite to replace it, or choose another --out"
        )
        line = one_line_error(run_corenn("sweep", "--epochs", "1", "--overwrite", "--out", out))
        assert line == (
            f"corenn sweep: error: run directory {out / SWEEP_DIR_NAME} is in use by another corenn process; "
            "wait for it to finish or stop it, then try again"
        )
        assert first.poll() is None, "the first sweep must still run for this test to mean anything"
        first.send_signal(signal.SIGINT)
    finally:
        _, stderr = finish(first)
    assert first.returncode == 130, stderr
    recorded = json.loads((out / SWEEP_DIR_NAME / "sweep.json").read_text(encoding="utf-8"))
    assert recorded["status"] == "interrupted" and recorded["runs"] == 9
    assert all(row["lr"] in (0.01, 0.02, 0.05) and row["hidden"] in (4, 8, 16) for row in recorded["rows"])


def test_two_sweeps_started_at_once_leave_one_whole_sweep_and_one_error(tmp_path):
    out = tmp_path / "out"
    processes = [start_corenn(*SWEEP_ARGS[:2], "2", "--json", "--out", out) for _ in range(2)]
    results = [(process, *finish(process)) for process in processes]
    codes = sorted(process.returncode for process, _, _ in results)
    assert codes == [0, 1], [stderr for _, _, stderr in results]
    winner = next(stdout for process, stdout, _ in results if process.returncode == 0)
    loser = next(stderr for process, _, stderr in results if process.returncode == 1)
    assert len(loser.strip().splitlines()) == 1 and "Traceback" not in loser, loser
    assert json.loads((out / SWEEP_DIR_NAME / "sweep.json").read_text(encoding="utf-8")) == json.loads(
        winner.strip().splitlines()[-1]
    )


def test_ctrl_c_during_a_sweep_keeps_the_finished_rows(tmp_path):
    """Before: the rows already finished were thrown away and the folder left empty."""
    out = tmp_path / "out"
    process = start_corenn(*SWEEP_ARGS, "--out", out)
    try:
        wait_for(lambda: bool(sweep_rows(out)), "a first finished row")
        process.send_signal(signal.SIGINT)
    finally:
        _, stderr = finish(process)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    recorded = json.loads((out / SWEEP_DIR_NAME / "sweep.json").read_text(encoding="utf-8"))
    assert recorded["status"] == "interrupted"
    assert 1 <= len(recorded["rows"]) < 9
    assert recorded["best"] in recorded["rows"]
    lines = stderr.strip().splitlines()
    assert (
        lines[-2]
        == f"interrupted: {len(recorded['rows'])} of 9 runs finished; their rows are in {out / SWEEP_DIR_NAME / 'sweep.json'}"
    )
    assert lines[-1] == "corenn sweep: interrupted"


def test_two_unnamed_runs_started_at_once_into_one_folder_both_finish_under_different_names(tmp_path):
    """Before: one of them failed with "Directory not empty" instead of taking ``-2``."""
    out = tmp_path / "out"
    for _ in range(3):  # the race is narrow: try it a few times
        processes = [start_corenn("train", "--epochs", "2", "--quiet", "--json", "--out", out) for _ in range(2)]
        results = [(process, *finish(process)) for process in processes]
        for process, _, stderr in results:
            assert process.returncode == 0, stderr
        names = {json.loads(stdout.strip().splitlines()[-1])["name"] for _, stdout, _ in results}
        assert len(names) == 2, names
    assert len([path for path in out.iterdir() if not path.name.startswith(".")]) == 6


def test_a_sweep_stopped_by_an_error_keeps_its_rows_marked_failed(tmp_path, monkeypatch):
    import pytest

    import corenn.trained.sweep
    from corenn.errors import TrainingDiverged
    from corenn.run.config import load_preset, with_overrides

    real_train, calls = corenn.trained.sweep.train, {"n": 0}

    def train_then_diverge(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise TrainingDiverged("the loss became NaN at step 3", epoch=1, step=3)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(corenn.trained.sweep, "train", train_then_diverge)
    with pytest.raises(TrainingDiverged):
        corenn.trained.sweep.run_sweep(
            with_overrides(load_preset("iris-ffnn"), epochs=2), [0.01, 0.02], [4], out_dir=tmp_path
        )
    recorded = json.loads((tmp_path / SWEEP_DIR_NAME / "sweep.json").read_text(encoding="utf-8"))
    assert recorded["status"] == "failed" and [row["lr"] for row in recorded["rows"]] == [0.01]
