"""LeNet on 2,000 MNIST images with the kernels' references alone, beside the same run with each
backend's fast overrides: what ``corenn train --kernels reference`` costs.

The ``lenet-mnist`` preset's network, optimizer and schedule, trained for one epoch on the first
2,000 training images of MNIST (written to an ``.npz``: 1,800 to train, 200 to validate) and
tested on the first 1,000 test images, through the command line as a user runs it. The two runs
take turns, ``--repeats`` times; printed are each one's wall time (the whole command: start,
data, training, evaluation) and test accuracy::

    python bench/reference_kernels.py
    python bench/reference_kernels.py --backend torch --repeats 3

Data come from ``CORENN_DATA_DIR`` (torchvision's layout, see corenn.data).
"""

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

import numpy as np

TRAIN_IMAGES, TEST_IMAGES = 2000, 1000


def write_subset(path):
    """The first 2,000 training and 1,000 test images of MNIST as an ``.npz`` the ``npz`` data set reads."""
    from corenn.data.mnist import load_mnist

    splits = load_mnist(val_size=0)
    X = np.concatenate([split.X for split in (splits.train, splits.val) if split is not None])
    y = np.concatenate([split.y for split in (splits.train, splits.val) if split is not None])
    np.savez(
        path,
        X=X[:TRAIN_IMAGES],
        y=y[:TRAIN_IMAGES],
        X_test=splits.test.X[:TEST_IMAGES],
        y_test=splits.test.y[:TEST_IMAGES],
    )


def config_text(npz_path, batch_size=32):
    """The lenet-mnist preset with its ``[dataset]`` table replaced by the subset's."""
    preset = resources.files("corenn").joinpath("presets/lenet-mnist.toml").read_text(encoding="utf-8")
    dataset = f'[dataset]\nname = "npz"\npath = "{npz_path}"\nval_size = 0.1\nbatch_size = {batch_size}\n'
    return re.sub(r"\[dataset\]\n(?:[^\[]*\n)*?(?=\n\[)", dataset, preset, count=1).replace(
        'name = "lenet-mnist"', 'name = "lenet-2000"'
    )


def run(config_path, out, kernels, backend):
    command = [sys.executable, "-m", "corenn", "train", "--config", str(config_path), "--out", str(out)]
    command += ["--overwrite", "--quiet", "--json", "--kernels", kernels, "--backend", backend]
    started = time.perf_counter()
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    seconds = time.perf_counter() - started
    return seconds, json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--backend", default="numpy")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        write_subset(folder / "mnist-2000.npz")
        config = folder / "lenet-2000.toml"
        config.write_text(config_text(folder / "mnist-2000.npz"), encoding="utf-8")
        results = {"fast": [], "reference": []}
        for _ in range(args.repeats):
            for kernels in results:
                results[kernels].append(run(config, folder / kernels, kernels, args.backend))
    print(f"lenet-mnist's network, 1 epoch on {TRAIN_IMAGES:,} MNIST images, backend {args.backend}")
    for kernels, runs in results.items():
        best = min(seconds for seconds, _ in runs)
        training = min(summary["seconds"] for _, summary in runs)
        accuracy = runs[-1][1]["test_accuracy"]
        print(
            f"  --kernels {kernels:<9} whole command {best:6.2f} s, training {training:6.2f} s, test accuracy {accuracy:.4f}"
        )
    ratio = min(s for s, _ in results["reference"]) / min(s for s, _ in results["fast"])
    print(f"  reference / fast: {ratio:.2f}x (whole command)")


if __name__ == "__main__":
    main()
