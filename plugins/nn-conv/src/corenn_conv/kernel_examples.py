"""Example arguments of this package's kernels, for checking a backend's overrides against the
references (``corenn.testing.check_kernel``): each function yields ``(args, kwargs)`` calls of
one kernel, its arrays float64 numpy arrays drawn from ``rng`` (see :func:`corenn.kernels.kernel`)."""

import numpy as np

from corenn.nn.geometry import checked_pad, window_geometry

from corenn_conv import conv2d, pool2d

# (input shape (m, H, W, C), kernel, stride, pad, n_out): batch 1, non-square kernels and images,
# strides, every kind of padding, one and several channels. For numpy's im2col they also cover
# both layouts of the patch matrix (few channels: gathered channels first; many: rows) and of
# col2im, in each combination.
CONVOLUTIONS = (
    ((1, 5, 5, 1), (3, 3), (1, 1), "same", 2),
    ((2, 7, 9, 1), (3, 3), (1, 1), "valid", 3),
    ((3, 6, 7, 8), (3, 3), (1, 1), "same", 4),
    ((2, 9, 8, 4), (3, 2), (2, 3), 1, 5),
    ((2, 8, 7, 2), (4, 4), (3, 1), (1, 2, 0, 3), 2),
    ((1, 5, 9, 3), (2, 5), (1, 2), (0, 1), 3),
    ((2, 4, 6, 5), (1, 1), (1, 1), "same", 2),
    ((2, 3, 3, 2), (5, 5), (1, 1), 1, 2),
)

# (input shape, kernel, stride, pad): non-overlapping and overlapping windows, padding, strides,
# non-square kernels and images, batch 1
POOLINGS = (
    ((2, 6, 6, 3), (2, 2), (2, 2), "valid"),
    ((1, 7, 7, 2), (3, 3), (2, 2), "valid"),
    ((2, 5, 6, 1), (3, 3), (1, 1), 1),
    ((2, 6, 9, 2), (2, 3), (1, 2), "same"),
    ((1, 8, 7, 3), (3, 2), (3, 1), (1, 0, 2, 1)),
    ((2, 4, 4, 2), (4, 4), (1, 1), 2),
)

# (input shape, kernel size): square patches of 1 to 3 pixels, non-square images, batch 1
PATCHES = (((3, 5, 6, 3), 2), ((1, 4, 4, 1), 3), ((2, 3, 5, 2), 1), ((4, 6, 6, 2), 2))


def _geometry(shape, kernel, stride, pad):
    return window_geometry(shape, kernel, stride, checked_pad(pad, "example"), "example")


def _convolution_arguments(rng, shape, kernel, stride, pad, n_out):
    X = rng.standard_normal(shape)
    W = rng.standard_normal((*kernel, shape[3], n_out))
    return X, W, rng.standard_normal((1, n_out)), _geometry(shape, kernel, stride, pad)


def conv2d_forward(rng, run):
    for shape, kernel, stride, pad, n_out in CONVOLUTIONS:
        yield _convolution_arguments(rng, shape, kernel, stride, pad, n_out), {}
    X, W, b, geometry = _convolution_arguments(rng, *CONVOLUTIONS[2])
    yield (X, W.astype(np.float32), b.astype(np.float32), geometry), {}  # a float32 layer fed float64 inputs
    yield (X, W, b, geometry), {"scratch": {}}  # memory an implementation may keep between calls


def conv2d_backward(rng, run):
    for number, convolution in enumerate(CONVOLUTIONS):
        X, W, b, geometry = _convolution_arguments(rng, *convolution)
        for gradients in ({}, {"input_gradient": False}, {"weight_gradient": False}):
            forward_options = {"scratch": {}} if number % 2 else {}
            Z, saved = run(conv2d.conv2d_forward, X, W, b, geometry, **forward_options)
            yield (rng.standard_normal(tuple(Z.shape)), W, saved), gradients
    X, W, b, geometry = _convolution_arguments(rng, *CONVOLUTIONS[3])
    W, b = W.astype(np.float32), b.astype(np.float32)
    Z, saved = run(conv2d.conv2d_forward, X, W, b, geometry)
    yield (rng.standard_normal(tuple(Z.shape)), W, saved), {}


def _pooling_inputs(rng, shape):
    """Distinct values, and small integers that tie within windows (and with the zero padding)."""
    yield rng.standard_normal(shape)
    yield rng.integers(-2, 3, shape).astype(np.float64)


def pool2d_forward(rng, run):
    for shape, kernel, stride, pad in POOLINGS:
        for X in _pooling_inputs(rng, shape):
            for mode in ("max", "average"):
                yield (X, _geometry(shape, kernel, stride, pad), mode), {}


def pool2d_backward(rng, run):
    for shape, kernel, stride, pad in POOLINGS:
        for X in _pooling_inputs(rng, shape):
            for mode in ("max", "average"):
                Y, saved = run(pool2d.pool2d_forward, X, _geometry(shape, kernel, stride, pad), mode)
                yield (rng.standard_normal(tuple(Y.shape)), saved), {}


def patch_whitening_covariance(rng, run):
    for shape, kernel_size in PATCHES:
        yield (rng.standard_normal(shape), kernel_size), {}
