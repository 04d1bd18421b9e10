"""One optimizer update of every parameter of a preset's network: numpy's overrides of the step
kernels against the kernels' references.

The optimizers' steps are kernels (:mod:`corenn.nn.optimizers`) whose references are whole-array
formulas returning new arrays, which on large parameters make a pass over memory and a
parameter-sized temporary per operation; numpy's overrides (:mod:`corenn.nn.fast_optimizers`)
run the same operations block by block over flat views, in place, and ``update_all`` (what the
trainer calls) steps the small parameters together, one kernel call over flat arrays
(:mod:`corenn.nn.flat_groups`). For each preset (its network
built from the preset's layers, in its dtype, float32 for both) and each optimizer setting, this
times one update of all the parameters, parameter by parameter with the references
(:func:`corenn.kernels.reference_kernels`) and with numpy's overrides, and with ``update_all``,
taking turns ``--repeats`` times, and prints the best time of each, the ratios to the
references, and whether all three left the same bits (they must). Run it on one thread, as training runs::

    OMP_NUM_THREADS=1 python bench/optimizer_step.py
    OMP_NUM_THREADS=1 python bench/optimizer_step.py --presets fmnist-mlp --repeats 50 --json

Gradients are random (the update's cost does not depend on their values); no data set is read.
"""

import argparse
import json
import time

import numpy as np

import corenn
from corenn.kernels import reference_kernels
from corenn.nn.model import Sequential
from corenn.run.config import load_preset

# The input shape of each preset's data set (one sample, NHWC), so no data need be read.
INPUT_SHAPES = {"fmnist-mlp": (28, 28, 1), "lenet-mnist": (28, 28, 1)}
N_CLASSES = 10
SETTINGS = {
    "adam": ("adam", {"lr": 0.001}),
    "sgd momentum": ("sgd", {"lr": 0.01, "momentum": 0.9}),
    "sgd nesterov": ("sgd", {"lr": 0.01, "momentum": 0.9, "nesterov": True}),
}


def preset_parameters(preset):
    """The preset's initial parameters, in its dtype, by name (``"1.W"``)."""
    config = load_preset(preset)
    model = Sequential.from_config(config.layers, n_classes=N_CLASSES, backend="numpy", seed=config.seed)
    model.initialize(INPUT_SHAPES[preset], config.dtype)
    return {name: np.array(value) for name, value in model.named_parameters().items()}


def measure(preset, setting, repeats):
    optimizer_name, options = SETTINGS[setting]
    start = preset_parameters(preset)
    rng = np.random.default_rng(0)
    grads = {name: rng.standard_normal(value.shape).astype(value.dtype) for name, value in start.items()}
    sides = {
        side: ({k: v.copy() for k, v in start.items()}, corenn.create("optimizer", optimizer_name, **options))
        for side in ("reference", "kernel", "grouped")
    }

    def step(side):
        """One update of every parameter, its seconds: one ``update`` per parameter with the
        references or with numpy's overrides, or one ``update_all`` (the trainer's call: small
        parameters stepped together) with the overrides."""
        params, optimizer = sides[side]
        with reference_kernels(side == "reference"):
            began = time.perf_counter()
            if side == "grouped":
                params |= optimizer.update_all(params, grads)
            else:
                for name, param in params.items():
                    params[name] = optimizer.update(name, param, grads[name])
            return time.perf_counter() - began

    best = {side: float("inf") for side in sides}
    for side in sides:  # warm-up: makes the state arrays and the overrides' scratch
        step(side)
    for _ in range(repeats):
        for side in sides:  # taking turns: a slow spell of the machine lands on both
            best[side] = min(best[side], step(side))
    identical = all(
        np.array_equal(sides["reference"][0][name], sides[side][0][name]) for name in start for side in sides
    )
    return {
        "preset": preset,
        "optimizer": setting,
        "dtype": str(next(iter(start.values())).dtype),
        "parameters": int(sum(value.size for value in start.values())),
        "reference_ms": best["reference"] * 1e3,
        "kernel_ms": best["kernel"] * 1e3,
        "grouped_ms": best["grouped"] * 1e3,
        "speedup": best["reference"] / best["kernel"],
        "grouped_speedup": best["reference"] / best["grouped"],
        "identical": identical,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(INPUT_SHAPES), choices=list(INPUT_SHAPES))
    parser.add_argument("--optimizers", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--repeats", type=int, default=30, help="timed updates of each side (default 30)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    rows = [measure(preset, setting, args.repeats) for preset in args.presets for setting in args.optimizers]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"one update of all parameters, best of {args.repeats}, numpy")
    print(
        f"{'preset':<12} {'optimizer':<13} {'dtype':<8} {'params':>9} {'reference':>10} {'kernel':>9} {'ratio':>6}"
        f" {'grouped':>9} {'ratio':>6}  same bits"
    )
    for row in rows:
        print(
            f"{row['preset']:<12} {row['optimizer']:<13} {row['dtype']:<8} {row['parameters']:>9,} "
            f"{row['reference_ms']:>8.2f}ms {row['kernel_ms']:>7.2f}ms {row['speedup']:>5.2f}x "
            f"{row['grouped_ms']:>7.2f}ms {row['grouped_speedup']:>5.2f}x  {'yes' if row['identical'] else 'NO'}"
        )


if __name__ == "__main__":
    main()
