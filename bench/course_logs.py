"""What the course's ``Logger`` costs per push as a run's epochs add up.

``corenn.course.logs.Logger(..., save=True)`` is pushed one epoch's log at a time (the loss and
error of both splits and the parameters' extremes, as the course's models push them). Printed,
after 100, 1,000 and 3,000 pushes (``--pushes``): the seconds of all pushes so far and the mean
cost of a push in the last stretch, for this checkout and (``--before PATH``, a worktree of the
code to compare with) another one, each in a fresh process, taking turns ``--rounds`` times
(medians)::

    git worktree add --detach /tmp/before-logs main
    python bench/course_logs.py --before /tmp/before-logs --rounds 3

Plots are off (``plot=False``): what is measured is the records, not matplotlib.
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

PLUGIN_SOURCES = ("src", "plugins/nn-fc/src", "plugins/nn-conv/src")


def measure(pushes):
    """Run in the worker process: ``{count: seconds of the first count pushes}``."""
    from corenn.course.logs import Logger

    log = {
        "loss": {"train": 0.5, "validate": 0.6},
        "error": {"train": 0.1, "validate": 0.2},
        "params": {"W0": {"max": 1.0, "min": -1.0}, "b0": {"max": 0.5, "min": -0.5}},
    }
    marks = {}
    with tempfile.TemporaryDirectory() as folder:
        logger = Logger("bench", {"layers": 2}, {"name": "iris"}, save=True, plot=False, save_dir=folder)
        started = time.perf_counter()
        for count in range(1, max(pushes) + 1):
            logger.push(log)
            if count in pushes:
                marks[count] = time.perf_counter() - started
        logger.flush()
    return marks


def run_worker(checkout, pushes):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(str(Path(checkout) / part) for part in PLUGIN_SOURCES)
    command = [sys.executable, __file__, "--worker", "--pushes", *map(str, pushes)]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"the worker on {checkout} failed:\n{completed.stderr}")
    return {int(count): seconds for count, seconds in json.loads(completed.stdout).items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pushes", type=int, nargs="+", default=[100, 1000, 3000])
    parser.add_argument("--before", help="a checkout of the code to compare with")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    pushes = sorted(set(args.pushes))
    if args.worker:
        print(json.dumps(measure(pushes)))
        return
    checkouts = {"now": Path(__file__).resolve().parents[1]}
    if args.before:
        checkouts = {"before": Path(args.before).resolve(), **checkouts}
    results = {name: [] for name in checkouts}
    for _ in range(max(1, args.rounds)):
        for name, checkout in checkouts.items():
            results[name].append(run_worker(checkout, pushes))
    print(f"course Logger, save=True, plot=False; medians of {max(1, args.rounds)} round(s)")
    for name, rounds in results.items():
        previous_count, previous_seconds = 0, 0.0
        for count in pushes:
            seconds = statistics.median(marks[count] for marks in rounds)
            per_push = (seconds - previous_seconds) / (count - previous_count) * 1e3
            print(
                f"  {name:7} {count:6,} pushes: {seconds:8.2f} s in all, {per_push:7.3f} ms a push since {previous_count:,}"
            )
            previous_count, previous_seconds = count, seconds


if __name__ == "__main__":
    main()
