"""Shared pieces of the fault suite: a small run config, running corenn, comparing runs.

The suite's runs are small (Iris, a dozen epochs, Adam with a decaying rate, so the
optimizer's counters, its moment arrays and the schedule's step all have to survive a resume)
and take about a second each, so killing them at random moments is cheap.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np

RUN_NAME = "faults-iris"
EPOCHS = 12
TIMEOUT_S = 120

SMALL_IRIS_CONFIG = f"""\
name = "{RUN_NAME}"
seed = 7
epochs = {EPOCHS}
loss = "cross_entropy"

[dataset]
name = "iris"
batch_size = 16

[optimizer]
name = "adam"
lr = 0.01

[scheduler]
name = "exponential"
decay = 0.5
stage_length = 40

[[layers]]
name = "fully_connected"
n_out = 16
activation = "tanh"

[[layers]]
name = "fully_connected"
n_out = "auto"
activation = "softmax"
"""

# Keys whose values are wall-clock times or paths: the only ones two equal runs may differ in.
UNCOMPARED_KEYS = {"seconds", "run_dir"}


def write_config(folder, text=SMALL_IRIS_CONFIG, name="faults-iris.toml"):
    path = Path(folder) / name
    path.write_text(text, encoding="utf-8")
    return path


def corenn_command():
    """The ``corenn`` script of the interpreter running the tests (what a user runs)."""
    script = shutil.which("corenn", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "corenn"]


# The suite's runs write their checkpoint at every epoch's end (by default a run writes one at
# most every few seconds, see corenn.run.checkpoints.RunRecords), so that kills and full disks
# land inside the checkpoints of every epoch; test_records_schedule.py covers the default.
EVERY_EPOCH = {"CORENN_CHECKPOINT_SECONDS": "0"}


def environment(**variables):
    env = dict(os.environ)
    env.setdefault("CORENN_DATA_DIR", str(Path(__file__).resolve().parents[3] / "shared" / "data"))
    for name, value in EVERY_EPOCH.items():
        env.setdefault(name, value)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(variables)
    return env


def run_corenn(*args, env=None, timeout=TIMEOUT_S):
    """Run ``corenn ARGS`` to its end; returns the CompletedProcess (text output)."""
    return subprocess.run(
        [*corenn_command(), *map(str, args)], capture_output=True, text=True, env=env or environment(), timeout=timeout
    )


def start_corenn(*args, env=None):
    """Start ``corenn ARGS`` without waiting (output to pipes, text)."""
    return subprocess.Popen(
        [*corenn_command(), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env or environment(),
    )


def run_python(script, *args, env=None, timeout=TIMEOUT_S):
    """Run a Python file of this folder (a fault-injecting driver) to its end."""
    return subprocess.run(
        [sys.executable, str(Path(__file__).parent / script), *map(str, args)],
        capture_output=True,
        text=True,
        env=env or environment(),
        timeout=timeout,
    )


def sigkill(process):
    """SIGKILL ``process`` (no handler runs, nothing is flushed) and reap it."""
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.communicate(timeout=TIMEOUT_S)


def one_line_error(completed):
    """The CLI's contract for a user's error: exit 1, exactly one line on stderr, no traceback."""
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 1, f"exit code {completed.returncode}, stderr:\n{completed.stderr}"
    assert "Traceback" not in completed.stderr, completed.stderr
    assert len(lines) == 1, f"expected one line on stderr, got:\n{completed.stderr}"
    return lines[0]


# Comparing two runs' records.


def load_npz(path):
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def without_times(value):
    """``value`` (records as parsed JSON) with wall times and paths removed, recursively."""
    if isinstance(value, dict):
        return {key: without_times(item) for key, item in value.items() if key not in UNCOMPARED_KEYS}
    if isinstance(value, list):
        return [without_times(item) for item in value]
    return value


def checkpoint_state(path):
    arrays = load_npz(path)
    state = json.loads(arrays.pop("state").tobytes().decode("utf-8"))
    return arrays, without_times(state)


def csv_without_seconds(path):
    rows = [line.split(",") for line in Path(path).read_text(encoding="utf-8").splitlines()]
    column = rows[0].index("seconds")
    return [row[:column] + row[column + 1 :] for row in rows]


def assert_same_arrays(expected, actual, what):
    assert sorted(expected) == sorted(actual), f"{what}: names differ: {sorted(expected)} vs {sorted(actual)}"
    for name in expected:
        assert expected[name].dtype == actual[name].dtype, f"{what}: {name} dtype differs"
        assert np.array_equal(expected[name], actual[name]), (
            f"{what}: {name} differs (max |diff| {np.max(np.abs(expected[name] - actual[name]))})"
        )


def assert_same_run(reference_dir, run_dir, epochs=EPOCHS):
    """Parameters bit for bit, checkpoint state, metrics and result equal (wall times aside).

    Also: ``metrics.json`` holds exactly one row per epoch (a resume never duplicates rows).
    """
    reference_dir, run_dir = Path(reference_dir), Path(run_dir)
    assert_same_arrays(
        load_npz(reference_dir / "parameters.npz"), load_npz(run_dir / "parameters.npz"), "parameters.npz"
    )
    expected_arrays, expected_state = checkpoint_state(reference_dir / "checkpoint.npz")
    actual_arrays, actual_state = checkpoint_state(run_dir / "checkpoint.npz")
    assert_same_arrays(expected_arrays, actual_arrays, "checkpoint.npz")
    assert expected_state == actual_state, "checkpoint state differs"
    for name in ("metrics.json", "result.json"):
        expected = without_times(json.loads((reference_dir / name).read_text(encoding="utf-8")))
        actual = without_times(json.loads((run_dir / name).read_text(encoding="utf-8")))
        assert expected == actual, f"{name} differs"
    assert csv_without_seconds(reference_dir / "metrics.csv") == csv_without_seconds(run_dir / "metrics.csv")
    rows = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert [row["epoch"] for row in rows] == list(range(1, epochs + 1))


def assert_records_whole(run_dir):
    """Every record a killed run left is complete: each file parses as what it claims to be.

    Hidden ``.*.tmp`` files are a killed writer's temporaries (never read, removed by the
    next resume); everything else must be whole.
    """
    import tomllib

    for path in Path(run_dir).iterdir():
        if path.name.startswith("."):
            assert path.name.endswith(".tmp"), f"unexpected hidden file {path.name}"
            continue
        if path.suffix == ".npz":
            load_npz(path)
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".toml":
            tomllib.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".csv":
            text = path.read_text(encoding="utf-8")
            assert text.endswith("\n") and text.startswith(("epoch,", "step,")), f"{path.name} is cut short"
        elif path.suffix == ".png":
            assert path.read_bytes().endswith(b"IEND\xaeB`\x82"), f"{path.name} is cut short"
        else:
            raise AssertionError(f"unexpected record {path.name}")


MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
SHARED_MNIST = Path(environment()["CORENN_DATA_DIR"]) / "MNIST" / "raw"


def replace_file(folder, name, data):
    """Put ``data`` at ``folder/name`` in place of what is there (a link to a shared file, say)."""
    (folder / name).unlink()
    (folder / name).write_bytes(data)
    return folder / name
