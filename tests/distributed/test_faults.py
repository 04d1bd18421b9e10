"""Faults of a data-parallel run: a rank killed under torchrun --max-restarts (the group restarts
and resumes from the last checkpoint, ending bit-identical on numpy), one-line errors for a port in
use, a world larger than the global batch, a rendezvous that times out, a rank that fails to start; and two torchrun launches
with --nnodes 2 on 127.0.0.1 forming one run."""

import json
import os
import signal
import socket
import time

import numpy as np
from conftest import corenn, environment, free_port, largest_difference, parameters, torchrun, write_config


def one_error_line(result):
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, result.stderr
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_world_larger_than_the_global_batch(tmp_path, launches):
    config = write_config(tmp_path, "net")
    result = launches.run(
        corenn("train", "--config", str(config), "--out", str(tmp_path), "--batch-size", "1", "--nproc", "2")
    )
    line = one_error_line(result)
    assert "world size 2 is larger than the global batch" in line
    assert not (tmp_path / "net").exists()


def test_port_in_use(tmp_path, launches):
    config = write_config(tmp_path, "net")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = launches.run(
            corenn("train", "--config", str(config), "--out", str(tmp_path), "--nproc", "2", "--master-port", str(port))
        )
    assert f"port {port} on 127.0.0.1 is in use" in one_error_line(result)


def test_rendezvous_timeout(tmp_path, launches):
    """Rank 0 of two whose partner never comes stops after CORENN_DISTRIBUTED_TIMEOUT seconds."""
    config = write_config(tmp_path, "net")
    env = environment() | {
        "RANK": "0",
        "LOCAL_RANK": "0",
        "WORLD_SIZE": "2",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(free_port()),
        "CORENN_DISTRIBUTED_TIMEOUT": "5",
    }
    started = time.monotonic()
    result = launches.run(corenn("train", "--config", str(config), "--out", str(tmp_path)), env=env, timeout=60)
    assert time.monotonic() - started < 45
    assert "could not join the gloo process group within 5 s" in one_error_line(result)


def test_rank_that_fails_to_start(tmp_path, launches):
    """Rank 1 dies before corenn even starts (status 3, from a sitecustomize): one line names it and
    says torchrun stopped rank 0, instead of blaming rank 0's SIGTERM; nothing waits for a timeout."""
    (tmp_path / "sitecustomize.py").write_text(
        "import os\nif os.environ.get('RANK') == '1':\n    os._exit(3)\n", encoding="utf-8"
    )
    config = write_config(tmp_path, "net")
    env = environment() | {"PYTHONPATH": str(tmp_path)}
    started = time.monotonic()
    result = launches.run(corenn("train", "--config", str(config), "--out", str(tmp_path), "--nproc", "2"), env=env)
    assert time.monotonic() - started < 45  # the ranks' timeout is 60 s: nobody waited for it
    line = one_error_line(result)
    assert line == (
        "corenn train: error: rank 1 exited with status 3, so torchrun stopped rank 0 "
        "(any output of the failed rank is above)"
    )


def _rank_pid(parent, rank):
    """The pid of the worker of ``rank`` under the torchrun process ``parent`` (from /proc)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = open(f"/proc/{entry}/status").read()
            environ = open(f"/proc/{entry}/environ", "rb").read().split(b"\0")
        except OSError:
            continue
        ppid = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
        if ppid == parent and f"RANK={rank}".encode() in environ:
            return int(entry)
    return None


def test_killed_rank_restarts_and_ends_bit_identical(tmp_path, launches):
    config = write_config(tmp_path, "net", epochs=150)
    reference = launches.run(
        corenn("train", "--config", str(config), "--out", str(tmp_path), "--name", "whole", "--nproc", "2", "--quiet")
    )
    assert reference.returncode == 0, reference.stderr
    port = free_port()
    args = ("--nproc-per-node", "2", "--max-restarts", "1", "--master-addr", "127.0.0.1", "--master-port", str(port))
    process = launches.start(
        torchrun(
            *args,
            "-m",
            "corenn",
            "train",
            "--config",
            str(config),
            "--out",
            str(tmp_path),
            "--name",
            "killed",
            "--quiet",
        )
    )
    metrics = tmp_path / "killed" / "metrics.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # past a few epochs' checkpoints, well before the end
        if metrics.is_file() and 5 <= len(json.loads(metrics.read_text() or "[]")) < 100:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the run never reached its fifth epoch")
    victim = _rank_pid(process.pid, 1)
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    result = launches.wait(process)
    assert result.returncode == 0, result.stderr
    assert "torchrun restarted the group (restart 1); resuming" in result.stderr
    whole, killed = parameters(tmp_path / "whole"), parameters(tmp_path / "killed")
    assert all(np.array_equal(whole[key], killed[key]) for key in whole)
    assert json.loads((tmp_path / "killed" / "result.json").read_text())["epochs"] == 150


def test_two_nodes_on_loopback_form_one_run(tmp_path, launches):
    config = write_config(tmp_path, "net")
    one = launches.run(corenn("train", "--config", str(config), "--out", str(tmp_path), "--name", "one", "--quiet"))
    assert one.returncode == 0, one.stderr
    port = free_port()
    nodes = [
        launches.start(
            torchrun(
                "--nnodes",
                "2",
                "--node-rank",
                str(rank),
                "--nproc-per-node",
                "1",
                "--master-addr",
                "127.0.0.1",
                "--master-port",
                str(port),
                "-m",
                "corenn",
                "train",
                "--config",
                str(config),
                "--out",
                str(tmp_path / f"node{rank}"),
                "--name",
                "two-nodes",
                "--quiet",
            )
        )
        for rank in (0, 1)
    ]
    for node in nodes:
        result = launches.wait(node)
        assert result.returncode == 0, result.stderr
    assert not (tmp_path / "node1").exists()  # rank 1 (on the second node) writes nothing
    assert largest_difference(parameters(tmp_path / "one"), parameters(tmp_path / "node0" / "two-nodes")) < 1e-10
