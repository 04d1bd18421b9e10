"""One training step of the ``cifar10-cnn`` network (or ``--preset lenet-mnist``'s) on the numpy
backend against the torch backend, layer by layer, on the same CPU.

Both backends build the preset's network from the same seed, fit the whitening layer to the
same batch, and run forward then backward (float32 by default, a batch of 250 random images,
as a training step sees them) on the same input. The two take turns, repetition by
repetition, each timing every layer's forward and backward, so a slow spell of the machine
lands on both. Printed: each layer's median time on each backend, the step's total, and the
ratio numpy / torch (issue 23's target for cifar10-cnn: at most 1.5); then, timed in the same
turns, the numpy convolutions' matrix products alone (``Z = P W``, ``dW = P^T dZ``, ``dP = dZ W^T``
on the layers' own block shapes) against torch's whole step: no numpy step can cost less than
its products, so that ratio is the floor of the other on this machine's BLAS::

    python bench/cifar_step.py
    python bench/cifar_step.py --batch-size 500 --repeats 7 --threads 1
    python bench/cifar_step.py --json
    python bench/cifar_step.py --preset lenet-mnist --batch-size 128 --threads 1

Needs corenn-conv, corenn-fc and corenn-torch installed; no data set (the images are random:
the time of a step does not depend on what the pixels hold).
"""

import argparse
import json
import statistics
import time

# The image shape each preset's network is built for.
INPUT_SHAPES = {"cifar10-cnn": (32, 32, 3), "lenet-mnist": (28, 28, 1)}


def build(backend, dtype, batch_size, seed, preset="cifar10-cnn"):
    """The preset's network on ``backend``, initialised for the preset's images and fitted to
    a random batch; returns ``(model, X)`` with ``X`` that batch on the backend."""
    import numpy as np

    from corenn.nn.model import Sequential
    from corenn.run.config import load_preset

    config = load_preset(preset)
    model = Sequential.from_config(config.layers, n_classes=10, backend=backend, seed=seed)
    model.skip_input_gradient()
    model.initialize(INPUT_SHAPES[preset], dtype)
    X = np.random.default_rng(seed).standard_normal((batch_size, *INPUT_SHAPES[preset])).astype(dtype)
    if backend == "torch":
        import torch

        X = torch.from_numpy(X)
    model.fit_to_data(X)
    model.train()
    return model, X


def timed_step(model, X, times):
    """One forward and backward through every layer, appending each layer's seconds to
    ``times[(index, "forward" | "backward")]``."""
    import numpy as np

    A = X
    for index, layer in enumerate(model.layers):
        started = time.perf_counter()
        A = layer.forward(A)
        times.setdefault((index, "forward"), []).append(time.perf_counter() - started)
    G = np.full(tuple(A.shape), 1.0 / A.shape[0], dtype=np.float32 if str(A.dtype).endswith("float32") else np.float64)
    if not isinstance(A, np.ndarray):
        import torch

        G = torch.from_numpy(G)
    for index in reversed(range(len(model.layers))):
        started = time.perf_counter()
        G = model.layers[index].backward(G)
        times.setdefault((index, "backward"), []).append(time.perf_counter() - started)
        if G is None:  # the first layer skips dL/dX of the data
            break


def conv_input_shapes(model, X):
    """``{layer index: the shape of its input}`` for the network's Conv2D layers, from one forward pass."""
    shapes, A = {}, X
    for index, layer in enumerate(model.layers):
        if type(layer).__name__ == "Conv2D":
            shapes[index] = tuple(A.shape)
        A = layer.forward(A)
    return shapes


def product_floor(model, input_shapes, seed):
    """A function timing, for each numpy Conv2D layer, its matrix products alone: ``Z = P W``,
    ``dW = P^T dZ`` and (when the layer computes ``dL/dX``) ``dP = dZ W^T``, block of samples by
    block as the layer runs them, on patch matrices gathered from random inputs of the layer's
    input shape. The sum is what the convolutions cost at this BLAS's speed with nothing
    around them: the numpy step's floor."""
    import numpy as np

    from corenn.nn.geometry import window_geometry

    from corenn_conv.fast import _block_patches
    from corenn_conv.patches import sample_blocks

    rng = np.random.default_rng(seed)
    work = []
    for index, shape in input_shapes.items():
        layer = model.layers[index]
        W = np.asarray(layer.parameters["W"])
        geometry = window_geometry(shape, layer.kernel_shape, layer.stride, layer.pad, "bench")
        W_matrix = W.reshape(-1, W.shape[-1])
        for start, stop in sample_blocks(geometry, W.itemsize):
            X = rng.standard_normal((stop - start, *shape[1:])).astype(W.dtype)
            P = np.array(_block_patches(geometry, start, stop).gather(X), order="K")
            dZ = rng.standard_normal((P.shape[0], W.shape[-1])).astype(W.dtype)
            work.append((P, W_matrix, dZ, getattr(layer, "needs_input_gradient", True)))

    def run():
        started = time.perf_counter()
        for P, W_matrix, dZ, input_gradient in work:
            P @ W_matrix
            P.T @ dZ
            if input_gradient:
                dZ @ W_matrix.T
        return time.perf_counter() - started

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(INPUT_SHAPES), default="cifar10-cnn")
    parser.add_argument("--batch-size", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per backend (after one warm-up step)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--threads", type=int, help="cap the BLAS's and torch's threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import contextlib

    import torch

    limit = contextlib.nullcontext()
    if args.threads:
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        limit = threadpool_limits(limits=args.threads)
    with limit:
        models = {
            backend: build(backend, args.dtype, args.batch_size, args.seed, args.preset)
            for backend in ("numpy", "torch")
        }
        times = {backend: {} for backend in models}
        floor = product_floor(models["numpy"][0], conv_input_shapes(*models["numpy"]), args.seed)
        floor_times = []
        for repeat in range(args.repeats + 1):
            for backend, (model, X) in models.items():
                step_times = {} if repeat == 0 else times[backend]  # the first step warms up, untimed
                timed_step(model, X, step_times)
            seconds = floor()
            if repeat:
                floor_times.append(seconds)

    model = models["numpy"][0]
    rows = []
    for index, name in enumerate(model.layer_names):
        row = {"index": index, "layer": name}
        for backend in models:
            for direction in ("forward", "backward"):
                samples = times[backend].get((index, direction))
                row[f"{backend}_{direction}_ms"] = 1000 * statistics.median(samples) if samples else 0.0
        rows.append(row)
    totals = {
        backend: sum(row[f"{backend}_forward_ms"] + row[f"{backend}_backward_ms"] for row in rows) for backend in models
    }
    summary = {
        "preset": args.preset,
        "batch_size": args.batch_size,
        "dtype": args.dtype,
        "threads": args.threads or torch.get_num_threads(),
        "numpy_step_ms": totals["numpy"],
        "torch_step_ms": totals["torch"],
        "ratio": totals["numpy"] / totals["torch"],
        "conv_products_ms": 1000 * statistics.median(floor_times),
        "conv_products_ratio": 1000 * statistics.median(floor_times) / totals["torch"],
        "layers": rows,
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(f"{args.preset} step, batch {args.batch_size}, {args.dtype}, median of {args.repeats}; milliseconds")
    print(f"{'':3}{'layer':17}{'numpy fwd':>10}{'bwd':>8}{'torch fwd':>11}{'bwd':>8}")
    for row in rows:
        print(
            f"{row['index']:<3}{row['layer']:17}{row['numpy_forward_ms']:10.1f}{row['numpy_backward_ms']:8.1f}"
            f"{row['torch_forward_ms']:11.1f}{row['torch_backward_ms']:8.1f}"
        )
    print(f"step: numpy {totals['numpy']:.0f} ms, torch {totals['torch']:.0f} ms, ratio {summary['ratio']:.2f}")
    print(
        f"the numpy convolutions' matrix products alone: {summary['conv_products_ms']:.0f} ms, "
        f"{summary['conv_products_ratio']:.2f} x torch's whole step (the floor of the ratio on this BLAS)"
    )


if __name__ == "__main__":
    main()
