"""``corenn train --nproc N`` stopped and checked as a user would meet it (issue 22, holes 1 and 2).

Before: SIGINT to the launcher printed "interrupted" and exited 130 at once while both ranks,
re-parented to PID 1, trained the run to its end; SIGTERM left the torchrun agent and both
ranks running. ``--nproc 99999999999999999999`` grew the agent by 150 MB/s without a word,
``--nproc 64`` started 64 ranks before the batch check refused them, ``--npro 2`` printed
torchrun's 22-line usage, an error every rank met was printed once per rank, and under a 3 GB
address-space limit PyTorch's start failed in raw lines.

Now: the launcher forwards the signal to the agent's process group, the ranks agree to stop at
the same step, rank 0 saves a checkpoint, every process is gone, and the run is listed as
interrupted; the checks run before anything starts, each error is one line, once.
"""

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time

import pytest
from conftest import corenn, environment, write_config

from corenn.cli import main
from corenn.run import launcher


def processes_of(config):
    """Process ids whose command line names ``config`` (the launcher, torchrun's agent, the ranks)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as stream:
                words = stream.read().split(b"\0")
        except OSError:
            continue
        if str(config).encode() in words:
            found.append(int(entry))
    return found


def wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {seconds} s")
        time.sleep(0.1)


def one_error_line(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "unexpected" not in result.stderr
    return lines[0]


@pytest.fixture
def started(tmp_path):
    """``started(config)`` starts ``corenn train --config CONFIG --nproc 2`` in a session of its
    own, its stderr to a file (a pipe would be held open by ranks that outlive the launcher);
    every process naming the config is killed at the test's end, whatever happened."""
    configs, files = [], []

    def start(config):
        configs.append(config)
        stderr = open(tmp_path / f"{config.stem}.stderr", "w+")  # closed when the test ends
        files.append(stderr)
        command = corenn("train", "--config", str(config), "--out", str(tmp_path), "--nproc", "2", "--quiet")
        process = subprocess.Popen(
            command, env=environment(), stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
        )
        process.stderr_path = stderr.name
        return process

    yield start
    for config in configs:
        for pid in processes_of(config):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for stream in files:
        stream.close()


@pytest.mark.parametrize(
    ("sent", "status", "word"),
    [
        (signal.SIGINT, 130, "interrupted"),
        (signal.SIGTERM, 143, "terminated"),
        (signal.SIGHUP, 129, "terminated"),  # a closed terminal: passed on as SIGTERM, so rank 0 checkpoints
    ],
)
def test_a_signal_to_the_launcher_stops_every_rank_with_a_checkpoint(tmp_path, started, sent, status, word):
    name = f"stopped-{sent.name.lower()}"
    config = write_config(tmp_path, name, epochs=100_000)
    run_dir = tmp_path / name
    launcher_process = started(config)
    wait_for(lambda: (run_dir / "metrics.json").is_file(), 120, "the first epoch's records")
    assert len(processes_of(config)) == 4  # the launcher, torchrun's agent, two ranks
    launcher_process.send_signal(sent)  # to the launcher alone, as `kill` sends it
    assert launcher_process.wait(timeout=90) == status  # the launcher's grace is 60 s
    wait_for(lambda: not processes_of(config), 10, "every process of the run ending")
    with open(launcher_process.stderr_path) as stream:
        lines = [line for line in stream.read().splitlines() if line.strip()]
    assert len(lines) == 2, lines  # rank 0 alone speaks
    assert lines[0].startswith("interrupted: checkpoint saved (") and lines[0].endswith(f"--resume {run_dir}")
    assert lines[1] == f"corenn train: {word}"
    listing = subprocess.run(corenn("runs", str(tmp_path)), capture_output=True, text=True, env=environment())
    (row,) = [line for line in listing.stdout.splitlines() if line.startswith(name)]
    assert row.split()[-1] == "interrupted"
    assert (run_dir / "checkpoint.npz").is_file() and not (run_dir / "result.json").exists()


def test_a_launcher_killed_outright_still_stops_its_ranks(tmp_path, started):
    """SIGKILL cannot be forwarded; the agent dies with its launcher (Linux's parent-death
    signal, as SIGTERM) and stops the ranks, which save a checkpoint."""
    if not sys.platform.startswith("linux"):
        pytest.skip("the parent-death signal is Linux's")
    config = write_config(tmp_path, "killed", epochs=100_000)
    launcher_process = started(config)
    wait_for(lambda: (tmp_path / "killed" / "metrics.json").is_file(), 120, "the first epoch's records")
    launcher_process.kill()
    launcher_process.wait()
    wait_for(lambda: not processes_of(config), 60, "every process of the run ending")
    assert (tmp_path / "killed" / "checkpoint.npz").is_file() and not (tmp_path / "killed" / "result.json").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--nproc", "99999999999999999999"],
            "world size 99999999999999999999 is larger than the global batch (dataset.batch_size = 25)",
        ),
        (["--nproc", "64"], "world size 64 is larger than the global batch"),
        (["--nproc", "0"], "--nproc must be a positive integer, got 0"),
        (["--npro", "2"], "write --nproc in full (got --npro)"),
        (["--nproc", "2", "--master-p", "29999"], "write --master-port in full (got --master-p)"),
        (
            ["--nproc", "9", "--batch-size", "10"],
            "--nproc 9 starts 9 processes on CPUs, but this machine gives corenn 1 CPU",
        ),
    ],
)
def test_nproc_is_checked_before_anything_starts(tmp_path, capsys, monkeypatch, flags, message):
    """In this process, with torchrun's start replaced by a failure: nothing may start. The
    machine is given one CPU."""
    monkeypatch.setattr(launcher, "usable_cpus", lambda: 1)
    monkeypatch.setattr(launcher, "run_until_stopped", lambda *args: pytest.fail("torchrun was started"))
    config = write_config(tmp_path, "net")
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "out"), *flags]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("corenn train: error: ") and message in line
    assert not (tmp_path / "out").exists()


def test_an_error_every_rank_meets_is_printed_once(tmp_path, launches):
    """Both ranks find the data set's file missing the same way: one line, not one per rank."""
    config = tmp_path / "table.toml"
    missing = tmp_path / "missing.csv"
    config.write_text(
        f'name = "table"\nepochs = 1\n[dataset]\nname = "csv"\npath = "{missing}"\nbatch_size = 8\n'
        '[[layers]]\nname = "fully_connected"\nn_out = "auto"\nactivation = "softmax"\n'
    )
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    line = one_error_line(
        launches.run(
            corenn("train", "--config", str(config), "--out", str(tmp_path), "--nproc", "2"),
            env={**environment(), "TMPDIR": str(scratch)},
        )
    )
    assert line == f"corenn train: error: CSV file {missing} does not exist"
    assert not list(scratch.iterdir())  # before: torchrun left a torchelastic_* folder behind every launch


def test_too_little_address_space_for_pytorch_is_one_line(tmp_path, launches):
    """Under ``ulimit -v`` 3 GB, PyTorch aborts while it starts (std::bad_alloc, or an
    ImportError): said once, in one line, before torchrun starts anything."""
    config = write_config(tmp_path, "net")

    def limit_address_space():
        resource.setrlimit(resource.RLIMIT_AS, (3 * 10**9, 3 * 10**9))

    process = subprocess.Popen(
        corenn("train", "--config", str(config), "--out", str(tmp_path), "--nproc", "2"),
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=limit_address_space,
    )
    launches.processes.append(process)
    result = launches.wait(process, timeout=120)
    probe = subprocess.run(
        [sys.executable, "-c", "import torch"], capture_output=True, preexec_fn=limit_address_space, check=False
    )
    if probe.returncode == 0:
        assert result.returncode == 0, result.stderr  # PyTorch fits in 3 GB here: the run trains
        return
    line = one_error_line(result)
    assert line.startswith(
        "corenn train: error: --nproc starts torchrun, but PyTorch cannot start under this process's address-space "
        "limit (ulimit -v: 2.8 GiB; "
    )
    assert not (tmp_path / "net").exists()
