"""Killed runs resume to exactly the uninterrupted run.

A run killed at any moment (SIGKILL included, inside a checkpoint write included) and continued
with ``corenn train --resume RUN_DIR`` ends with the same parameters (bit for bit), the same
checkpoint state and the same metrics and result (wall times aside) as the same config trained
without interruption.
"""

import numpy as np
import pytest

from faultkit import (
    RUN_NAME,
    assert_records_whole,
    assert_same_run,
    checkpoint_state,
    run_corenn,
    run_python,
    sigkill,
    start_corenn,
)

TRIALS = 5
KILLS_PER_TRIAL = 3
KILL_SEED = 20241128


def _start(config, out):
    """``corenn train`` if the run directory does not exist yet, else ``corenn train --resume``."""
    run_dir = out / RUN_NAME
    if run_dir.exists():
        return start_corenn("train", "--resume", run_dir)
    return start_corenn("train", "--config", config, "--out", out)


def _kill_after_random_delay(process, rng, reference_seconds):
    """SIGKILL ``process`` at a random moment; returns a note of when, or None if it finished first.

    Half of the delays are drawn over a whole run's wall time (start-up, data, training,
    plots); the other half wait for a random epoch's line and then a few milliseconds, so
    that kills land inside training and its checkpoint writes, not only in start-up.
    """
    if rng.random() < 0.5:
        delay = float(rng.uniform(0.0, 1.1 * reference_seconds))
        try:
            process.wait(timeout=delay)
            return None
        except Exception:  # still running after the delay: kill it now
            sigkill(process)
            return f"after {delay:.2f}s"
    epoch = int(rng.integers(1, 13))
    for line in process.stdout:
        if line.startswith("epoch ") and int(line.split()[1].split("/")[0]) >= epoch:
            break
    delay = float(rng.uniform(0.0, 0.05))
    try:
        process.wait(timeout=delay)
        return None
    except Exception:
        sigkill(process)
        return f"{delay * 1000:.0f} ms after epoch {epoch}'s line"


def _records_left(run_dir):
    """What a kill left, for the test's log: no run yet, or the checkpoint's epoch and leftovers."""
    if not run_dir.exists():
        return "no run directory yet"
    state = checkpoint_state(run_dir / "checkpoint.npz")[1]
    temporaries = len(list(run_dir.glob(".*.tmp")))
    finished = " (finished)" if (run_dir / "result.json").exists() else ""
    return f"checkpoint at epoch {state['epoch']}{finished}, {temporaries} temporary file(s) left"


def test_sigkill_at_random_moments_then_resume_equals_uninterrupted(reference, config_path, tmp_path):
    """WHAT THE USER SEES: nothing is lost. After ``kill -9`` at any moment, ``corenn train
    --resume RUN_DIR`` prints ``resuming RUN_DIR at epoch E of 12 epochs`` and the run ends
    exactly as if it had never stopped (if the kill came before the run directory existed,
    there is nothing to resume and the run is simply started again)."""
    rng = np.random.default_rng(KILL_SEED)
    notes = []
    for trial in range(TRIALS):
        out = tmp_path / f"trial-{trial}"
        kills = 0
        process = _start(config_path, out)
        while True:
            note = _kill_after_random_delay(process, rng, reference.seconds) if kills < KILLS_PER_TRIAL else None
            if note is None:
                stdout, stderr = process.communicate(timeout=120)
                assert process.returncode == 0, f"trial {trial} after kills {notes}: {stderr}"
                break
            kills += 1
            run_dir = out / RUN_NAME
            if run_dir.exists():
                assert_records_whole(run_dir)
            notes.append(f"trial {trial}: killed {note}: {_records_left(run_dir)}")
            process = _start(config_path, out)
        assert_same_run(reference.run_dir, out / RUN_NAME)
        assert not list(out.glob(".*")), f"leftover staging folders in {out}: {list(out.glob('.*'))}"
    assert len(notes) >= 3, f"too few kills landed: {notes}"
    print("\n".join(notes))  # shown with pytest -s: where the kills landed


# Writes of the small run (a checkpoint at every epoch's end, see faultkit.EVERY_EPOCH): 4 initial
# records (config.toml, preprocessing.json, parameters, checkpoint); at each epoch's end best.npz
# (in epochs 1 to 4, each the best so far), checkpoint, parameters, metrics.json and the appended
# rows of metrics.csv and steps.csv; at the end three plots and result.json.
INITIAL_WRITES = 4
KILL_AT_WRITES = {
    1: "config.toml while the run starts",
    INITIAL_WRITES: "the first checkpoint",
    INITIAL_WRITES + 1: "epoch 1's best.npz",
    INITIAL_WRITES + 2: "epoch 1's checkpoint",
    INITIAL_WRITES + 3: "epoch 1's parameters",
    INITIAL_WRITES + 4: "epoch 1's metrics.json",
    INITIAL_WRITES + 6 * 4 + 5 * 2 + 1: "epoch 7's checkpoint",
    INITIAL_WRITES + 6 * 4 + 5 * 8 - 2: "the last epoch's metrics.json",
    INITIAL_WRITES + 6 * 4 + 5 * 8 + 4: "result.json",
}


@pytest.mark.parametrize("write_number", sorted(KILL_AT_WRITES), ids=lambda n: KILL_AT_WRITES[n].replace(" ", "-"))
def test_sigkill_inside_a_file_write_then_resume_equals_uninterrupted(reference, config_path, tmp_path, write_number):
    """WHAT THE USER SEES: a kill in the middle of writing a checkpoint (or any record) leaves the
    previous file whole; ``corenn train --resume RUN_DIR`` continues and the run ends as if
    uninterrupted. Killed while the run was starting, no run directory exists at all and
    ``--resume`` says ``RUN_DIR does not exist: there is no run to resume (a run stopped while starting leaves none: start it again with corenn train)``."""
    out = tmp_path / "out"
    killed = run_python("kill_inside_write.py", write_number, "train", "--config", config_path, "--out", out, "--quiet")
    assert killed.returncode == -9, f"the process was not killed at write {write_number}: {killed.stderr}"
    run_dir = out / RUN_NAME
    if write_number <= INITIAL_WRITES:
        assert not run_dir.exists(), "a run killed while starting must leave no run directory"
        message = run_corenn("train", "--resume", run_dir).stderr.strip()
        assert (
            message
            == f"corenn train: error: {run_dir} does not exist: there is no run to resume (a run stopped while starting leaves none: start it again with corenn train)"
        )
        started = run_corenn("train", "--config", config_path, "--out", out, "--quiet")
        assert started.returncode == 0, started.stderr
        assert not list(out.glob(".*")), "the killed start's staging folder was not cleaned up"
    else:
        assert_records_whole(run_dir)
        assert list(run_dir.glob(".*.tmp")), "expected the killed writer's temporary file"
        resumed = run_corenn("train", "--resume", run_dir)
        assert resumed.returncode == 0, resumed.stderr
        assert not list(run_dir.glob(".*.tmp")), "resume should remove a killed writer's temporaries"
    assert_same_run(reference.run_dir, run_dir)
