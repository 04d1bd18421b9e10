"""Helpers for the data-parallel tests: corenn started by torchrun on 127.0.0.1, every process
in its own session so that a test that fails or times out kills all of them."""

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TIMEOUT = 240  # seconds any one launch may take before the test kills it and fails

BASE = """
name = "{name}"
seed = 3
epochs = {epochs}
dtype = "float64"
backend = "{backend}"
{extra}
[dataset]
name = "iris"
batch_size = 25
[optimizer]
name = "sgd"
lr = 0.05
momentum = 0.9
[[layers]]
name = "fully_connected"
n_out = 16
activation = "relu"
{middle}
[[layers]]
name = "fully_connected"
n_out = "auto"
activation = "softmax"
"""
BATCH_NORM = '[[layers]]\nname = "batch_norm"\nactivation = "relu"\n'


def write_config(folder, name, *, backend="numpy", epochs=4, batch_norm=False, sync_batch_norm=False):
    """A small iris config (float64) in ``folder``; with ``batch_norm`` a batch-norm layer in the middle."""
    extra = "sync_batch_norm = true\n" if sync_batch_norm else ""
    text = BASE.format(name=name, epochs=epochs, backend=backend, extra=extra, middle=BATCH_NORM if batch_norm else "")
    path = Path(folder) / f"{name}.toml"
    path.write_text(text)
    return path


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment():
    env = dict(os.environ)
    for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID"):
        env.pop(key, None)
    env["OMP_NUM_THREADS"] = "1"
    env["CORENN_DISTRIBUTED_TIMEOUT"] = "60"
    env["CORENN_CHECKPOINT_SECONDS"] = "0"  # a checkpoint (and metrics.json) at every epoch's end, as kills here assume
    return env


class Launches:
    """Started processes, each the leader of its own session; all killed at the test's end."""

    def __init__(self):
        self.processes = []

    def start(self, args, env=None, **kwargs):
        process = subprocess.Popen(
            args,
            env=env or environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            **kwargs,
        )
        self.processes.append(process)
        return process

    def wait(self, process, timeout=TIMEOUT):
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(process)
            out, err = process.communicate()
            pytest.fail(f"{process.args} did not end within {timeout} s; stderr: {err[-2000:]}")
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)

    def run(self, args, env=None, timeout=TIMEOUT):
        return self.wait(self.start(args, env), timeout)

    @staticmethod
    def kill(process):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def close(self):
        for process in self.processes:
            if process.poll() is None:
                self.kill(process)
                process.wait()


@pytest.fixture
def launches():
    kept = Launches()
    yield kept
    kept.close()


def corenn(*args):
    return [sys.executable, "-m", "corenn", *args]


def torchrun(*args):
    return [sys.executable, "-m", "torch.distributed.run", *args]


def parameters(run_dir):
    with np.load(Path(run_dir) / "parameters.npz") as arrays:
        return {key: arrays[key] for key in arrays.files}


def largest_difference(first, second):
    assert first.keys() == second.keys()
    return max(float(np.max(np.abs(first[key] - second[key]))) for key in first)
