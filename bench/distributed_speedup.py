"""Data-parallel speed-up, measured side by side in one run: one epoch of a preset on 1 rank x 1
thread, then on 2 ranks x 1 thread (``corenn train --nproc 2``), and the all-reduce a step of
that preset needs (its bytes, and its time on 2 gloo ranks over loopback).

    CORENN_DATA_DIR=../shared/data python bench/distributed_speedup.py fmnist-mlp lenet-mnist

Needs corenn-torch (torchrun). Prints one line per preset; the epoch times are the trainer's own
(``seconds`` of the epoch in metrics.json: training and validation, not start-up).
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE_STEPS = 200


def epoch_seconds(preset, out, nproc):
    name = f"{preset}-{nproc}"
    command = [sys.executable, "-m", "corenn", "train", "--preset", preset, "--epochs", "1", "--threads", "1"]
    command += ["--out", out, "--name", name, "--overwrite", "--quiet"]
    if nproc > 1:
        command += ["--nproc", str(nproc)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(command, check=True, env=env, timeout=3600)
    return json.loads((Path(out) / name / "metrics.json").read_text())[0]["seconds"]


def probe(n_values, dtype):
    """Under torchrun: time PROBE_STEPS all-reduces of a flat buffer of ``n_values``; rank 0 prints seconds per step."""
    import time

    import numpy as np
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    buffer = torch.from_numpy(np.ones(n_values, dtype=dtype))
    for _ in range(10):
        dist.all_reduce(buffer)
    dist.barrier()
    started = time.perf_counter()
    for _ in range(PROBE_STEPS):
        dist.all_reduce(buffer)
    seconds = (time.perf_counter() - started) / PROBE_STEPS
    if dist.get_rank() == 0:
        print(json.dumps({"seconds": seconds}))
    dist.destroy_process_group()


def all_reduce_seconds(n_values, dtype):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    command += ["--master-port", str(port), __file__, "--probe", str(n_values), dtype]
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=600).stdout
    return json.loads(output.strip().splitlines()[-1])["seconds"]


def step_buffer(preset):
    """Values and dtype of one step's flat buffer: every parameter's gradient plus the two totals."""
    from corenn.run.build import build
    from corenn.run.config import load_preset

    config = load_preset(preset)
    _, model, *_ = build(config)
    return model.parameter_count() + 2, config.dtype


def main(presets):
    with tempfile.TemporaryDirectory() as out:
        for preset in presets:
            one = epoch_seconds(preset, out, 1)
            two = epoch_seconds(preset, out, 2)
            print(f"{preset}: epoch 1 rank x 1 thread {one:.2f} s, 2 ranks x 1 thread {two:.2f} s", flush=True)
            values, dtype = step_buffer(preset)
            reduce_seconds = all_reduce_seconds(values, dtype)
            size = values * (4 if dtype == "float32" else 8)
            print(
                f"{preset}: epoch 1 rank x 1 thread {one:.2f} s, 2 ranks x 1 thread {two:.2f} s, speed-up {one / two:.2f}x; "
                f"all-reduce {size / 1e6:.3f} MB per step, {reduce_seconds * 1e3:.3f} ms per step (2 gloo ranks, loopback)",
                flush=True,
            )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--probe"]:
        probe(int(sys.argv[2]), sys.argv[3])
    else:
        main(sys.argv[1:] or ["fmnist-mlp", "lenet-mnist"])
