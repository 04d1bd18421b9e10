"""Data-parallel speed-up, before and after bucketed overlap, measured side by side in one run.

    CORENN_DATA_DIR=../shared/data python bench/distributed_speedup.py                 # fmnist-mlp:512 lenet-mnist:256
    CORENN_DATA_DIR=../shared/data python bench/distributed_speedup.py lenet-mnist:256 --rounds 5

For each ``preset:global_batch``, each round runs one epoch (``--threads 1``) of: one process at
the global batch; one process at half of it, alone and then two side by side (the ceilings); 2
ranks (``corenn train --nproc 2``) with ``CORENN_BUCKET_MB=0``, one all-reduce after the whole
backward (*before*); 2 ranks with the buckets of each ``--bucket-mb`` size (*after*: each
bucket's all-reduce starts as soon as backward has finished its layers). The rounds alternate
the runs; the line printed per preset gives each run's median epoch (the trainer's own
``seconds``: training and validation, not start-up), the speed-ups of those medians, and the
speed-ups of every round.

The *ceiling* is the speed-up no data-parallel implementation can beat here: each of 2 ranks
computes every step on half the global batch, so a rank's epoch takes at least the time of one
process at half the batch divided by 2 (half the steps). It counts no communication at all. The
*ceiling with both cores busy* times two such processes started together (each round): 2 ranks
that never communicated, sharing the memory bandwidth and caches as 2 ranks do.

A second line per preset shows where a step's time goes, on 2 gloo ranks x 1 thread over
loopback (medians over ``PROBE_STEPS`` steps of the preset's own model at half the global batch,
the ranks started together at each step): forward (with the loss's gradient) and the optimizer's
update, for scale; backward alone; the all-reduce of every gradient alone; the two in sequence (before); backward with the buckets (after). Overlap gains only what
the CPU has to spare: on 2 cores each rank's gloo thread competes with the other rank's backward.

Needs corenn-torch (torchrun). Check ``uptime`` first: on a busy machine the ranks wait for the
CPU, not for each other, and the figures say little.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from corenn.run.distributed import DEFAULT_BUCKET_MB

PROBE_STEPS = 60
DEFAULT_RUNS = ["fmnist-mlp:512", "lenet-mnist:256"]


def start_epoch(preset, out, batch_size, nproc=1, bucket_mb=None, name="run"):
    """``corenn train`` of one epoch, started; see :func:`seconds_of`."""
    command = [sys.executable, "-m", "corenn", "train", "--preset", preset, "--epochs", "1", "--threads", "1"]
    command += ["--out", out, "--name", name, "--overwrite", "--quiet", "--json", "--batch-size", str(batch_size)]
    if nproc > 1:
        command += ["--nproc", str(nproc)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if bucket_mb is not None:
        env["CORENN_BUCKET_MB"] = str(bucket_mb)
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def seconds_of(process):
    """The epoch's seconds, from the final metrics ``corenn train --json`` prints."""
    output, errors = process.communicate(timeout=3600)
    if process.returncode:
        raise RuntimeError(f"{process.args} failed: {errors[-2000:]}")
    return json.loads(output.strip().splitlines()[-1])["seconds"]


def epoch_seconds(preset, out, batch_size, nproc=1, bucket_mb=None):
    return seconds_of(start_epoch(preset, out, batch_size, nproc, bucket_mb))


def concurrent_epoch_seconds(preset, out, batch_size):
    """The mean epoch of two single processes at ``batch_size`` started together: what 2 ranks
    that never communicated would take, each core busy."""
    processes = [start_epoch(preset, out, batch_size, name=f"run-{number}") for number in (1, 2)]
    return statistics.mean(seconds_of(process) for process in processes)


def torchrun(*arguments):
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1"]
    command += ["--master-port", str(port), __file__, *arguments]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=1200, env=env).stdout
    return json.loads(output.strip().splitlines()[-1])


def probe(preset, batch_size, bucket_mb):
    """Under torchrun: time backward, the all-reduce of all gradients, both in sequence, and
    backward with buckets, on this rank's half of a batch of the preset; rank 0 prints medians."""
    import numpy as np
    import torch.distributed as dist

    from corenn.run.build import build_with_arrays
    from corenn.run.config import load_preset, with_overrides
    from corenn.run.distributed import (
        BUCKET_VARIABLE,
        GradientBuckets,
        bucket_bytes,
        launch_from_environment,
        start_process_group,
    )

    config = with_overrides(load_preset(preset), batch_size=batch_size)
    data, model, loss, optimizer, _, arrays = build_with_arrays(config)
    group = start_process_group(launch_from_environment(), arrays)
    share = batch_size // 2
    X = data.train.X[group.rank * share : (group.rank + 1) * share]
    Y = data.train.Y[group.rank * share : (group.rank + 1) * share]
    before = GradientBuckets(group, model, 0)
    after = GradientBuckets(group, model, bucket_bytes({BUCKET_VARIABLE: str(bucket_mb)}))

    def backward(after_layer=None):
        model.backward(dLdY, after_layer=after_layer)

    def update():  # the trainer's update, without the scheduler and the learning-rate scales
        gradients = model.named_gradients()
        for name, parameter in model.named_parameters().items():
            updated = optimizer.update(name, parameter, gradients[name])
            if updated is not parameter:
                model.set_parameter(name, updated)

    steps = {
        "forward": lambda: loss.backward(Y, model.forward(X)),
        "update": update,
        "backward": lambda: backward(),
        "all-reduce": lambda: group.all_reduce_sum(list(model.named_gradients().values()), [0.0, 0.0, 0.0]),
        "before": lambda: before.backward_and_sum(backward, [0.0, 0.0, 0.0]),
        "after": lambda: after.backward_and_sum(backward, [0.0, 0.0, 0.0]),
    }
    seconds = {name: [] for name in steps}
    for repeat in range(PROBE_STEPS + 5):
        for name, step in steps.items():
            dLdY = loss.backward(Y, model.forward(X))
            dist.barrier()
            started = time.perf_counter()
            step()
            if repeat >= 5:  # the first few warm up
                seconds[name].append(time.perf_counter() - started)
    if group.rank == 0:
        medians = {name: float(np.median(values)) for name, values in seconds.items()}
        print(json.dumps(medians | {"buckets": [len(bucket) for bucket in after.buckets]}))
    group.close()


def measure(preset, batch, rounds, bucket_sizes, out):
    runs = {
        "one": lambda: epoch_seconds(preset, out, batch),
        "half": lambda: epoch_seconds(preset, out, batch // 2),
        "two halves": lambda: concurrent_epoch_seconds(preset, out, batch // 2),
        "before": lambda: epoch_seconds(preset, out, batch, nproc=2, bucket_mb=0),
    }
    for size in bucket_sizes:
        runs[f"after {size:g}"] = lambda size=size: epoch_seconds(preset, out, batch, nproc=2, bucket_mb=size)
    seconds = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            seconds[name].append(run())
    median = {name: statistics.median(values) for name, values in seconds.items()}

    def speed_up(name):
        rounds = "/".join(f"{one / two:.2f}" for one, two in zip(seconds["one"], seconds[name], strict=True))
        return f"{median[name]:.2f} s, speed-up {median['one'] / median[name]:.2f}x [rounds: {rounds}]"

    afters = "; ".join(f"2 ranks after (buckets of {size:g} MB) {speed_up(f'after {size:g}')}" for size in bucket_sizes)
    print(
        f"{preset}, batch {batch}, {rounds} rounds (medians): 1 process {median['one']:.2f} s; 2 ranks before "
        f"(one all-reduce after backward) {speed_up('before')}; {afters}; ceiling "
        f"{median['one'] / (median['half'] / 2):.2f}x (1 process at batch {batch // 2}: {median['half']:.2f} s); "
        f"ceiling with both cores busy {median['one'] / (median['two halves'] / 2):.2f}x (2 processes at batch "
        f"{batch // 2} side by side: {median['two halves']:.2f} s)",
        flush=True,
    )
    for size in bucket_sizes:
        step = torchrun("--probe", preset, str(batch), str(size))
        print(
            f"  one step of 2 ranks, ms (medians of {PROBE_STEPS}): forward {step['forward'] * 1e3:.2f}, update "
            f"{step['update'] * 1e3:.2f}, backward {step['backward'] * 1e3:.2f}, all-reduce "
            f"{step['all-reduce'] * 1e3:.2f}, backward then all-reduce (before) {step['before'] * 1e3:.2f}, backward "
            f"with buckets of {size:g} MB, {step['buckets']} arrays (after) {step['after'] * 1e3:.2f}",
            flush=True,
        )


def main(arguments):
    load = os.getloadavg()
    print(f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} CPUs)", flush=True)
    with tempfile.TemporaryDirectory() as out:
        for spec in arguments.runs:
            preset, _, batch = spec.partition(":")
            batch = int(batch) if batch else arguments.batch_size or preset_batch_size(preset)
            measure(preset, batch, arguments.rounds, arguments.bucket_mb, out)
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}", flush=True)


def preset_batch_size(preset):
    from corenn.run.config import load_preset

    return load_preset(preset).dataset.batch_size


if __name__ == "__main__":
    if sys.argv[1:2] == ["--probe"]:
        probe(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("runs", nargs="*", default=DEFAULT_RUNS, help="preset:global_batch (default: %(default)s)")
        parser.add_argument("--batch-size", type=int, help="the global batch of runs given without one")
        parser.add_argument("--rounds", type=int, default=3, help="epochs of each kind, alternating")
        parser.add_argument(
            "--bucket-mb", type=float, nargs="+", default=[DEFAULT_BUCKET_MB], help="CORENN_BUCKET_MB of 'after' runs"
        )
        main(parser.parse_args())
