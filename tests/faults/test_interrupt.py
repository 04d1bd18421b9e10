"""Ctrl-C: a checkpoint is saved, the resume command is printed, and the resumed run loses nothing."""

import signal

import numpy as np

from corenn.cli import main

from faultkit import RUN_NAME, assert_records_whole, assert_same_run, checkpoint_state, run_corenn, start_corenn

BATCHES_PER_EPOCH = 7  # 105 Iris training rows in batches of 16


def test_ctrl_c_saves_a_checkpoint_prints_the_resume_command_and_exits_130(reference, config_path, tmp_path):
    """WHAT THE USER SEES (stderr), exit code 130, no traceback:

        interrupted: checkpoint saved (end of epoch E); continue with: corenn train --resume RUN_DIR
        corenn train: interrupted

    (or ``(epoch E, after batch B)``: wherever the signal landed) and ``corenn train --resume RUN_DIR`` then ends exactly as the uninterrupted run."""
    out = tmp_path / "out"
    run_dir = out / RUN_NAME
    process = start_corenn("train", "--config", config_path, "--out", out)
    for line in process.stdout:
        if line.startswith("epoch  1/12"):
            break
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert lines[-1] == "corenn train: interrupted"
    # On a machine so loaded that the signal arrives only after the last epoch, it lands in
    # the final records: "interrupted while writing the final records; training is complete".
    assert lines[-2].startswith(("interrupted: checkpoint saved (", "interrupted while writing the final records"))
    assert lines[-2].endswith(f"; continue with: corenn train --resume {run_dir}") or lines[-2].endswith(
        f"; finish with: corenn train --resume {run_dir}"
    )
    assert_records_whole(run_dir)
    resumed = run_corenn("train", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.startswith(f"resuming {run_dir} at epoch ")
    assert_same_run(reference.run_dir, run_dir)


def test_ctrl_c_in_the_middle_of_an_epoch_resumes_inside_that_epoch(
    reference, config_path, tmp_path, monkeypatch, ctrl_c_after_update, capsys
):
    """WHAT THE USER SEES: Ctrl-C waits for the current batch to finish (milliseconds), then

        interrupted: checkpoint saved (epoch 5, after batch 3); continue with: corenn train --resume RUN_DIR
        corenn train: interrupted

    and the resume prints ``resuming RUN_DIR at epoch 5, batch 4 of 12 epochs``, continuing
    inside epoch 5 with the same batch order and running sums, so the epoch's metrics are exact."""
    out = tmp_path / "out"
    run_dir = out / RUN_NAME
    ctrl_c_after_update(4 * BATCHES_PER_EPOCH + 3)
    assert main(["train", "--config", str(config_path), "--out", str(out), "--quiet"]) == 130
    stderr = capsys.readouterr().err
    assert stderr.strip().splitlines() == [
        f"interrupted: checkpoint saved (epoch 5, after batch 3); continue with: corenn train --resume {run_dir}",
        "corenn train: interrupted",
    ]
    arrays, state = checkpoint_state(run_dir / "checkpoint.npz")
    assert (state["epoch"], state["step"], state["progress"]["next_batch"]) == (4, 4 * BATCHES_PER_EPOCH + 3, 3)
    assert sorted(arrays["progress/order"]) == list(range(105))
    monkeypatch.undo()
    assert main(["train", "--resume", str(run_dir)]) == 0
    assert capsys.readouterr().out.startswith(f"resuming {run_dir} at epoch 5, batch 4 of 12 epochs")
    assert_same_run(reference.run_dir, run_dir)


def test_second_ctrl_c_stops_at_once_and_keeps_the_last_whole_checkpoint(
    reference, config_path, tmp_path, monkeypatch, ctrl_c_after_update, capsys
):
    """WHAT THE USER SEES: a second Ctrl-C stops immediately, even inside an update; a state
    that no run ever had is not saved:

        interrupted in the middle of an update; the checkpoint of the last epoch (6) is kept; continue with: corenn train --resume RUN_DIR
        corenn train: interrupted

    and the resume, from the end of epoch 6, ends exactly as the uninterrupted run."""
    out = tmp_path / "out"
    run_dir = out / RUN_NAME
    ctrl_c_after_update(6 * BATCHES_PER_EPOCH + 2, presses=2)
    assert main(["train", "--config", str(config_path), "--out", str(out), "--quiet"]) == 130
    stderr = capsys.readouterr().err
    assert stderr.strip().splitlines() == [
        "interrupted in the middle of an update; the checkpoint of the last epoch (6) is kept; "
        f"continue with: corenn train --resume {run_dir}",
        "corenn train: interrupted",
    ]
    arrays, state = checkpoint_state(run_dir / "checkpoint.npz")
    assert (state["epoch"], "progress" in state) == (6, False)
    monkeypatch.undo()
    assert main(["train", "--resume", str(run_dir), "--quiet"]) == 0
    assert_same_run(reference.run_dir, run_dir)


def test_ctrl_c_outside_the_main_thread_is_not_deferred(config_path, tmp_path):
    """Training in a worker thread cannot own signal handlers; it must still train normally."""
    import threading

    from corenn.run.train import train

    results = []
    worker = threading.Thread(
        target=lambda: results.append(train(config_path, out_dir=tmp_path / "out", verbose=False, record=False))
    )
    worker.start()
    worker.join(timeout=120)
    assert results and np.isfinite(results[0]["val_loss"])
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
