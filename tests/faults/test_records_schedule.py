"""Kills under the default checkpoint schedule: a checkpoint at most every few seconds, rows appended.

The rest of the suite writes a checkpoint at every epoch's end (:data:`faultkit.EVERY_EPOCH`).
Here the small run keeps corenn's default (``CORENN_CHECKPOINT_SECONDS`` unset: its checkpoints
are the first one and the last one), so a kill leaves rows appended past the checkpoint, or a
torn row; ``corenn runs`` lists such a run and ``--resume`` ends it as if never stopped.
"""

import json

import numpy as np

from faultkit import (
    RUN_NAME,
    assert_same_run,
    checkpoint_state,
    environment,
    run_corenn,
    run_python,
    sigkill,
    start_corenn,
)

DEFAULT_SCHEDULE = environment(CORENN_CHECKPOINT_SECONDS="")  # empty: the default
INITIAL_WRITES = 4  # config.toml, preprocessing.json, parameters.npz, the first checkpoint
KILL_SEED = 20261207


def _listed(out):
    completed = run_corenn("runs", out, "--json", env=DEFAULT_SCHEDULE)
    assert completed.returncode == 0, completed.stderr
    (row,) = json.loads(completed.stdout)
    return row


def test_a_kill_inside_an_appended_row_leaves_a_torn_row_that_resume_repairs(reference, config_path, tmp_path):
    """WHAT THE USER SEES: ``corenn runs`` lists the killed run as interrupted at epoch 4 of 12 (the
    torn fifth row skipped), and ``corenn train --resume RUN_DIR`` ends it exactly as the run that
    was never stopped. Between checkpoints an epoch's end writes two appends (metrics.csv, then
    steps.csv): epoch 5's row of metrics.csv is write 4 + 2 * 4 + 1."""
    out = tmp_path / "out"
    killed = run_python(
        "kill_inside_write.py", INITIAL_WRITES + 2 * 4 + 1, "train", "--config", config_path, "--out", out,
        "--quiet", env=DEFAULT_SCHEDULE,
    )  # fmt: skip
    assert killed.returncode == -9, f"the process was not killed: {killed.stderr}"
    run_dir = out / RUN_NAME
    text = (run_dir / "metrics.csv").read_text(encoding="utf-8")
    assert not text.endswith("\n") and text.count("\n") == 5, "expected four whole rows and a torn fifth"
    assert checkpoint_state(run_dir / "checkpoint.npz")[1]["epoch"] == 0
    row = _listed(out)
    assert (row["status"], row["epochs"], row["epochs_planned"]) == ("interrupted", 4, 12), row
    resumed = run_corenn("train", "--resume", run_dir, env=DEFAULT_SCHEDULE)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith(f"resuming {run_dir} at epoch 1 of 12 epochs")
    assert_same_run(reference.run_dir, run_dir)
    assert (run_dir / "steps.csv").read_text() == (reference.run_dir / "steps.csv").read_text()


def test_sigkill_at_random_moments_under_the_default_schedule_then_resume(reference, config_path, tmp_path):
    """WHAT THE USER SEES: after ``kill -9`` at any moment, ``corenn train --resume RUN_DIR``
    continues from the last checkpoint (here the first one, or the last) and the run ends exactly
    as if it had never stopped; the rows appended past the checkpoint are rewritten."""
    rng = np.random.default_rng(KILL_SEED)
    notes = []
    for trial in range(3):
        out = tmp_path / f"trial-{trial}"
        run_dir = out / RUN_NAME
        for _ in range(2):
            if run_dir.exists():
                process = start_corenn("train", "--resume", run_dir, env=DEFAULT_SCHEDULE)
            else:
                process = start_corenn("train", "--config", config_path, "--out", out, env=DEFAULT_SCHEDULE)
            delay = float(rng.uniform(0.0, 1.1 * reference.seconds))
            try:
                process.wait(timeout=delay)
            except Exception:
                sigkill(process)
                notes.append(f"trial {trial}: killed after {delay:.2f}s")
            else:
                process.communicate()
        if run_dir.exists():
            completed = run_corenn("train", "--resume", run_dir, env=DEFAULT_SCHEDULE)
        else:
            completed = run_corenn("train", "--config", config_path, "--out", out, env=DEFAULT_SCHEDULE)
        assert completed.returncode == 0, f"trial {trial} after {notes}: {completed.stderr}"
        assert_same_run(reference.run_dir, run_dir)
    assert notes, "no kill landed"
    print("\n".join(notes))
