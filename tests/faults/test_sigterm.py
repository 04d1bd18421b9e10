"""SIGTERM (what ``kill`` and job schedulers send) is handled as Ctrl-C is, and a Ctrl-C
pressed while the first one's checkpoint is being saved cannot cut the resume hint short."""

import os
import signal

from corenn.cli import main
from corenn.records.folder import RunRecorder

from faultkit import RUN_NAME, assert_records_whole, assert_same_run, run_corenn, start_corenn


def test_sigterm_saves_a_checkpoint_and_the_resume_ends_bit_identical(reference, config_path, tmp_path):
    """Before: SIGTERM killed the run with no checkpoint and no message. WHAT THE USER SEES now
    (stderr), exit status 143:

        interrupted: checkpoint saved (end of epoch E); continue with: corenn train --resume RUN_DIR
        corenn train: terminated
    """
    out = tmp_path / "out"
    run_dir = out / RUN_NAME
    process = start_corenn("train", "--config", config_path, "--out", out)
    try:
        for line in process.stdout:
            if line.startswith("epoch  2/12"):
                break
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 128 + signal.SIGTERM, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert lines[-1] == "corenn train: terminated"
    assert lines[-2].startswith(("interrupted: checkpoint saved (", "interrupted while writing the final records"))
    assert_records_whole(run_dir)
    resumed = run_corenn("train", "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_run(reference.run_dir, run_dir)


def test_a_second_ctrl_c_while_the_checkpoint_is_saved_keeps_the_hint(
    reference, config_path, tmp_path, monkeypatch, capsys
):
    """Before: the second press raised inside the save, so the resume hint was never printed
    (and run as a command, the process could die of SIGINT: status -2)."""
    out = tmp_path / "out"
    run_dir = out / RUN_NAME
    original_write = RunRecorder.write_checkpoint
    calls = {"n": 0}

    def write_checkpoint(self, arrays):
        calls["n"] += 1
        if calls["n"] == 4:  # the initial checkpoint, epochs 1 and 2: then press Ctrl-C
            os.kill(os.getpid(), signal.SIGINT)
        if calls["n"] == 5:  # the interrupted run's own checkpoint: press again while it is written
            os.kill(os.getpid(), signal.SIGINT)
        original_write(self, arrays)

    monkeypatch.setattr(RunRecorder, "write_checkpoint", write_checkpoint)
    assert main(["train", "--config", str(config_path), "--out", str(out), "--quiet"]) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1] == "corenn train: interrupted"
    assert lines[-2].startswith("interrupted: checkpoint saved (")
    assert lines[-2].endswith(f"; continue with: corenn train --resume {run_dir}")
    monkeypatch.undo()
    assert main(["train", "--resume", str(run_dir), "--quiet"]) == 0
    assert_same_run(reference.run_dir, run_dir)
