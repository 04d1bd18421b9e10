"""The course-style scripts in examples/course train through corenn.course."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from course_markers import needs_mnist

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "course"


def run_script(name, cwd, **budget):
    """Run an example in ``cwd`` with only the given CORENN_COURSE_* budget; its test accuracy."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CORENN_COURSE_")} | budget
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    match = re.search(r"Test Loss: \S+ Test Accuracy: (\S+)", completed.stdout)
    assert match, completed.stdout[-2000:]
    return float(match.group(1))


def test_iris_script_trains_to_high_accuracy(tmp_path):
    accuracy = run_script("train_ffnn.py", tmp_path)
    assert accuracy >= 0.9
    run_dir = tmp_path / "experiments" / "feed_forward"
    assert json.loads((run_dir / "result.json").read_text())["test_accuracy"] == pytest.approx(accuracy, abs=1e-4)
    assert len(json.loads((run_dir / "metrics.json").read_text())) == 100
    assert (run_dir / "loss.png").is_file()


@needs_mnist
def test_lenet_script_learns_on_a_small_budget(tmp_path):
    accuracy = run_script("train_conv.py", tmp_path, CORENN_COURSE_EPOCHS="1", CORENN_COURSE_MAX_SAMPLES="2000")
    assert accuracy >= 0.6  # chance is 0.1; one epoch over 2,000 images reaches 0.78 with seed 0
    assert (tmp_path / "experiments" / "lenet" / "metrics.csv").is_file()


def test_import_corenn_does_not_import_the_facade():
    code = "import sys, corenn; corenn.list_components(); print('corenn.course' in sys.modules)"
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
        == "False"
    )
