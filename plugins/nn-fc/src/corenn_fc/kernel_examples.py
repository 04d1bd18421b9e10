"""Example arguments of this package's kernels, for checking a backend's overrides against the
references (``corenn.testing.check_kernel``): each function yields ``(args, kwargs)`` calls of
one kernel, its arrays float64 numpy arrays drawn from ``rng`` (see :func:`corenn.kernels.kernel`)."""

import numpy as np

# (batch, n_in, n_out): batch 1, one feature, one output, and ordinary shapes
DENSE_SHAPES = ((1, 4, 3), (5, 1, 2), (6, 7, 1), (8, 5, 9))


def fully_connected_forward(rng, run):
    for m, n_in, n_out in DENSE_SHAPES:
        yield (rng.standard_normal((m, n_in)), rng.standard_normal((n_in, n_out)), rng.standard_normal((1, n_out))), {}


def fully_connected_backward(rng, run):
    for m, n_in, n_out in DENSE_SHAPES:
        dZ, X, W = rng.standard_normal((m, n_out)), rng.standard_normal((m, n_in)), rng.standard_normal((n_in, n_out))
        yield (dZ, X, W), {}
        yield (dZ, X, W.astype(np.float32)), {}  # a float32 layer fed float64 inputs: promoted products
