"""Data-parallel speed-up, measured side by side in one run: one epoch of a preset on 1 rank x 1
thread, then on 2 ranks x 1 thread (``corenn train --nproc 2``), and the all-reduce a step of
that preset needs (its bytes, and its time on 2 gloo ranks over loopback).

    CORENN_DATA_DIR=../shared/data python bench/distributed_speedup.py fmnist-mlp lenet-mnist
    CORENN_DATA_DIR=../shared/data python bench/distributed_speedup.py lenet-mnist --batch-size 256

It also prints the speed-up no data-parallel implementation can beat on this machine, the
*ceiling*: each of 2 ranks computes every step on half the global batch, so a rank's epoch is at
least the time of one process training at half the batch, divided by 2 (half the steps). That
ceiling counts no communication at all; what the 2-rank run loses against it is the all-reduce
(whose median, mean and 90th percentile over the probe's steps are printed) and waiting for the
slower rank.

Needs corenn-torch (torchrun). Prints one line per preset; the epoch times are the trainer's own
(``seconds`` of the epoch in metrics.json: training and validation, not start-up).
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE_STEPS = 200


def run_name(preset, nproc, batch_size):
    return f"{preset}-{nproc}-{batch_size}"


def epoch_seconds(preset, out, nproc, batch_size):
    name = run_name(preset, nproc, batch_size)
    command = [sys.executable, "-m", "corenn", "train", "--preset", preset, "--epochs", "1", "--threads", "1"]
    command += ["--out", out, "--name", name, "--overwrite", "--quiet", "--batch-size", str(batch_size)]
    if nproc > 1:
        command += ["--nproc", str(nproc)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(command, check=True, env=env, timeout=3600, stdout=subprocess.DEVNULL)
    return json.loads((Path(out) / name / "metrics.json").read_text())[0]["seconds"]


def probe(n_values, dtype):
    """Under torchrun: time PROBE_STEPS all-reduces of a flat buffer of ``n_values``, one by one;
    rank 0 prints their median, mean and 90th percentile in seconds."""
    import time

    import numpy as np
    import torch
    import torch.distributed as dist

    dist.init_process_group("gloo")
    buffer = torch.from_numpy(np.ones(n_values, dtype=dtype))
    for _ in range(10):
        dist.all_reduce(buffer)
    dist.barrier()
    seconds = []
    for _ in range(PROBE_STEPS):
        started = time.perf_counter()
        dist.all_reduce(buffer)
        seconds.append(time.perf_counter() - started)
    if dist.get_rank() == 0:
        median, p90 = np.percentile(seconds, [50, 90])
        print(json.dumps({"median": median, "mean": float(np.mean(seconds)), "p90": p90}))
    dist.destroy_process_group()


def all_reduce_seconds(n_values, dtype):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    command += ["--master-port", str(port), __file__, "--probe", str(n_values), dtype]
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=600).stdout
    return json.loads(output.strip().splitlines()[-1])


def step_buffer(run_dir):
    """Values and dtype of one step's flat buffer (every parameter's gradient plus the two totals),
    read off the parameters a run of the preset saved: no second build of the run and its data."""
    import numpy as np

    with np.load(Path(run_dir) / "parameters.npz") as saved:
        arrays = [saved[key] for key in saved.files]
    return sum(array.size for array in arrays) + 2, str(arrays[0].dtype)


def main(presets, batch_size=None):
    with tempfile.TemporaryDirectory() as out:
        for preset in presets:
            batch = batch_size or preset_batch_size(preset)
            one = epoch_seconds(preset, out, 1, batch)
            half = epoch_seconds(preset, out, 1, batch // 2)
            two = epoch_seconds(preset, out, 2, batch)
            values, dtype = step_buffer(Path(out) / run_name(preset, 1, batch))
            reduce = all_reduce_seconds(values, dtype)
            size = values * (4 if dtype == "float32" else 8)
            print(
                f"{preset}, batch {batch}: epoch 1 rank x 1 thread {one:.2f} s, 2 ranks x 1 thread {two:.2f} s, "
                f"speed-up {one / two:.2f}x; ceiling {one / (half / 2):.2f}x (1 rank at batch {batch // 2}: "
                f"{half:.2f} s for twice the steps); all-reduce {size / 1e6:.3f} MB per step, median "
                f"{reduce['median'] * 1e3:.3f} ms, mean {reduce['mean'] * 1e3:.3f} ms, 90th percentile "
                f"{reduce['p90'] * 1e3:.3f} ms (2 gloo ranks, loopback, {PROBE_STEPS} steps)",
                flush=True,
            )


def preset_batch_size(preset):
    from corenn.run.config import load_preset

    return load_preset(preset).dataset.batch_size


if __name__ == "__main__":
    if sys.argv[1:2] == ["--probe"]:
        probe(int(sys.argv[2]), sys.argv[3])
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("presets", nargs="*", default=["fmnist-mlp", "lenet-mnist"])
        parser.add_argument("--batch-size", type=int, help="the global batch (default: each preset's own)")
        arguments = parser.parse_args()
        main(arguments.presets, arguments.batch_size)
