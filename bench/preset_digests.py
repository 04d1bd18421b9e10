"""A SHA-256 digest of what each preset's training leaves, to show a change moved no bit.

Run it with one version of corenn, then with another, and compare the lines (``diff``): each
line is a preset (or a case), its backend, and the digest of its arrays (names, dtypes, shapes
and bytes, in name order)::

    python bench/preset_digests.py > after.txt
    PYTHON=/path/to/old/venv/bin/python; $PYTHON bench/preset_digests.py > before.txt
    diff before.txt after.txt

Cases (issue 19's list): ``corenn train`` of ``iris-ffnn`` (its 100 epochs), ``lenet-mnist
--epochs 1`` and ``fmnist-mlp --epochs 2`` on numpy (their ``parameters.npz``); and one
forward and backward of the ``cifar10-cnn`` network on numpy and on torch (float32, a batch of
16 random images, the whitening layer fitted to them): the output, every gradient and the
parameters. ``--quick`` trains iris only. Training goes through the command line, which every
version of corenn has; the CIFAR-10 case builds the network in Python from the preset. The
data sets come from ``CORENN_DATA_DIR``.
"""

import argparse
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

TRAINED = (("iris-ffnn", ()), ("lenet-mnist", ("--epochs", "1")), ("fmnist-mlp", ("--epochs", "2")))


def digest(arrays):
    """One digest of named arrays: names, dtypes, shapes and bytes, in name order."""
    hashed = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        hashed.update(f"{name}|{array.dtype}|{array.shape}|".encode())
        hashed.update(array.tobytes())
    return hashed.hexdigest()[:24]


def trained_digest(preset, options, folder):
    out = Path(folder) / preset
    command = [sys.executable, "-m", "corenn", "train", "--preset", preset, "--out", str(out), "--quiet", *options]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    (run_dir,) = [path for path in out.iterdir() if (path / "parameters.npz").exists()]
    with np.load(run_dir / "parameters.npz", allow_pickle=False) as saved:
        return digest({name: saved[name] for name in saved.files})


def cifar_step_digest(backend, seed=0, batch_size=16):
    """One forward and backward of the cifar10-cnn preset's network on ``backend``."""
    from corenn.nn.model import Sequential
    from corenn.run.config import load_preset

    config = load_preset("cifar10-cnn")
    model = Sequential.from_config(config.layers, n_classes=10, backend=backend, seed=seed)
    model.initialize((32, 32, 3), "float32")
    X = np.random.default_rng(seed).standard_normal((batch_size, 32, 32, 3)).astype(np.float32)
    G = np.random.default_rng(seed + 1).standard_normal((batch_size, 10)).astype(np.float32)
    if backend == "torch":
        import torch

        X, G = torch.from_numpy(X), torch.from_numpy(G)

    def host(array):
        return array.detach().cpu().numpy() if hasattr(array, "detach") else np.asarray(array)

    model.fit_to_data(X)
    model.train()
    arrays = {"output": host(model.forward(X)), "dX": host(model.backward(G))}
    for name, value in model.named_parameters().items():
        arrays[f"parameter {name}"] = host(value)
    for name, value in model.named_gradients().items():
        arrays[f"gradient {name}"] = host(value)
    return digest(arrays)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="iris-ffnn only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for preset, options in TRAINED[:1] if args.quick else TRAINED:
            print(
                f"{preset} {' '.join(options) or '(preset epochs)'} numpy {trained_digest(preset, options, folder)}",
                flush=True,
            )
    if args.quick:
        return
    for backend in ("numpy", "torch"):
        print(f"cifar10-cnn forward+backward {backend} {cifar_step_digest(backend)}", flush=True)


if __name__ == "__main__":
    main()
