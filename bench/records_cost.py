"""What a tiny run costs beyond its training steps: Iris wall times and the per-epoch cost outside the step.

Two figures, for this checkout and (``--before PATH``, a worktree of the code to compare with)
another one, measured in turns (before, after, before, after, ...) so that a busy spell of the
machine lands on both, and reported as medians:

- ``wall``: ``corenn train`` of the ``iris-ffnn`` preset (``--quiet``, a fresh ``--out``) at 100,
  1,000 and 10,000 epochs (``--epochs``), on numpy and on torch (``--backends``), the whole
  command's wall time, the torch import and the plots included. A run slower than ``--timeout``
  seconds is stopped and reported as ``>timeout``.
- ``outside``: the same training in one process, timed from inside: the time of ``Trainer.fit``
  less the time spent in its training steps (each batch's forward, loss, backward and update,
  timed through the trainer's ``progress`` wrapper around the batches) and in the records
  written once, when training is over (the trainer's ``before_test``: the last checkpoint),
  per epoch. That is what an epoch costs besides its steps: the validation pass, the records
  (rows, scheduled checkpoints), the hooks and the loop's own bookkeeping. The torch import is
  not in it.

::

    git worktree add --detach /tmp/before-records main
    python bench/records_cost.py --before /tmp/before-records --rounds 3
    python bench/records_cost.py --epochs 100 1000 10000 --backends numpy torch --json

Each measurement runs in a fresh process with the checkout's ``src`` and plugins first on
``PYTHONPATH`` (as ``/work/tools/env.sh`` sets them), so the two checkouts share one venv.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLUGIN_SOURCES = ("src", "plugins/nn-fc/src", "plugins/nn-conv/src", "plugins/nn-torch/src")


def environment(checkout):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(Path(checkout) / folder) for folder in PLUGIN_SOURCES)
    env.pop("CORENN_CHECKPOINT_SECONDS", None)  # each checkout's default schedule
    return env


def wall_time(checkout, backend, epochs, timeout):
    """Seconds of ``corenn train --preset iris-ffnn`` (None when it ran past ``timeout``)."""
    with tempfile.TemporaryDirectory(prefix="records-cost-") as out:
        command = [sys.executable, "-m", "corenn", "train", "--preset", "iris-ffnn", "--backend", backend]
        command += ["--epochs", str(epochs), "--out", out, "--quiet"]
        started = time.perf_counter()
        try:
            subprocess.run(command, env=environment(checkout), check=True, timeout=timeout, stdout=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None
        return time.perf_counter() - started


WORKER = r"""
import json, sys, tempfile, time
from corenn.run.loop import Trainer
from corenn.run.config import load_preset, with_overrides
from corenn.run.train import train

backend, epochs = sys.argv[1], int(sys.argv[2])
inside = [0.0]
fit_seconds = [0.0]

def timed_batches(steps, epoch, epochs):
    for batch in steps:
        started = time.perf_counter()
        yield batch
        inside[0] += time.perf_counter() - started

fit = Trainer.fit

end_seconds = [0.0]

def timed_fit(self):
    self.progress = timed_batches
    before_test = self.before_test
    if before_test is not None:  # the records written once training is over: timed apart
        def timed_before_test(trainer):
            started = time.perf_counter()
            try:
                return before_test(trainer)
            finally:
                end_seconds[0] += time.perf_counter() - started
        self.before_test = timed_before_test
    started = time.perf_counter()
    try:
        return fit(self)
    finally:
        fit_seconds[0] = time.perf_counter() - started

Trainer.fit = timed_fit
config = with_overrides(load_preset("iris-ffnn"), epochs=epochs, backend=backend)
with tempfile.TemporaryDirectory() as out:
    train(config, out_dir=out, verbose=False)
print(json.dumps({"fit": fit_seconds[0], "steps": inside[0], "end": end_seconds[0]}))
"""


def outside_cost(checkout, backend, epochs, timeout):
    """Milliseconds per epoch of ``Trainer.fit`` outside the training steps (None past ``timeout``)."""
    command = [sys.executable, "-c", WORKER, backend, str(epochs)]
    try:
        done = subprocess.run(
            command, env=environment(checkout), check=True, timeout=timeout, capture_output=True, text=True
        )
    except subprocess.TimeoutExpired:
        return None
    times = json.loads(done.stdout.strip().splitlines()[-1])
    return 1000 * (times["fit"] - times["steps"] - times["end"]) / epochs


def import_seconds(checkout, module):
    """Seconds of ``python -c "import MODULE"``, the interpreter's start included."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], env=environment(checkout), check=True)
    return time.perf_counter() - started


def median(values):
    if any(value is None for value in values):
        return None
    return statistics.median(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="a checkout of the code to compare with (a git worktree)")
    parser.add_argument("--epochs", type=int, nargs="+", default=[100, 1000, 10000])
    parser.add_argument("--backends", nargs="+", default=["numpy", "torch"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds after which a run is stopped")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    after = str(Path(__file__).resolve().parents[1])
    checkouts = {"before": args.before, "after": after} if args.before else {"after": after}
    results = []
    for backend in args.backends:
        for epochs in args.epochs:
            samples = {(name, what): [] for name in checkouts for what in ("wall", "outside")}
            stopped = set()  # (checkout, figure) already past the timeout: not run again
            for _ in range(args.rounds):
                for name, checkout in checkouts.items():
                    for what, measure in (("wall", wall_time), ("outside", outside_cost)):
                        if (name, what) in stopped:
                            samples[name, what].append(None)
                            continue
                        value = measure(checkout, backend, epochs, args.timeout)
                        samples[name, what].append(value)
                        if value is None:
                            stopped.add((name, what))
            row = {"backend": backend, "epochs": epochs}
            for (name, what), values in samples.items():
                row[f"{name}_{what}"] = median(values)
            results.append(row)
            if not args.json:
                print(_line(row, checkouts, args.timeout), flush=True)
    ratios = _torch_ratios(results, checkouts, args.rounds) if {"numpy", "torch"} <= set(args.backends) else {}
    if args.json:
        print(json.dumps({"load": os.getloadavg(), "results": results, "torch_over_numpy": ratios}, indent=2))
    else:
        print(f"load average at the end: {', '.join(f'{value:.2f}' for value in os.getloadavg())}")


def _torch_ratios(results, checkouts, rounds):
    """torch's wall time over numpy's at the fewest epochs measured, per checkout, beside the
    least it could be: numpy's wall time plus what importing torch adds (``python -c "import
    torch"`` less ``python -c "import numpy"``, medians of ``rounds`` alternating runs), over
    numpy's, the ratio a torch backend whose steps cost nothing would reach."""
    epochs = min(row["epochs"] for row in results)
    walls = {row["backend"]: row for row in results if row["epochs"] == epochs}
    after = next(iter(checkouts.values()))
    torch_import, numpy_import = [], []
    for _ in range(rounds):
        torch_import.append(import_seconds(after, "torch"))
        numpy_import.append(import_seconds(after, "numpy"))
    extra = statistics.median(torch_import) - statistics.median(numpy_import)
    ratios = {"epochs": epochs, "torch_import_seconds": extra}
    for name in checkouts:
        numpy_wall, torch_wall = walls["numpy"][f"{name}_wall"], walls["torch"][f"{name}_wall"]
        if numpy_wall and torch_wall:
            ratios[name] = torch_wall / numpy_wall
            ratios[f"{name}_ceiling"] = (numpy_wall + extra) / numpy_wall
            print(
                f"torch/numpy wall at {epochs} epochs, {name}: {ratios[name]:.2f}x (importing torch adds "
                f"{extra:.2f}s: with steps as cheap as numpy's the ratio would be {ratios[f'{name}_ceiling']:.2f}x)",
                file=sys.stderr,
            )
    return ratios


def _line(row, checkouts, timeout):
    def seconds(value):
        return f">{timeout:.0f}s" if value is None else f"{value:.2f}s"

    def milliseconds(value):
        return "  timed out" if value is None else f"{value:.3f} ms"

    parts = [f"{row['backend']:>5} {row['epochs']:>6} epochs:"]
    for name in checkouts:
        parts.append(
            f"{name} wall {seconds(row[f'{name}_wall'])}, outside the steps {milliseconds(row[f'{name}_outside'])}/epoch"
        )
    return "  ".join(parts)


if __name__ == "__main__":
    main()
