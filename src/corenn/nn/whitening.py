"""Patch whitening: the math that fits the frozen filters of the ``patch_whitening`` layer.

A ``k x k`` patch of an NHWC image, all channels, flattened in the order ``(i, j, c)`` of a
conv kernel ``(kh, kw, C, n_out)``, is a vector of length ``d = k * k * C``. Natural images'
neighbouring pixels and channels are strongly correlated, so these vectors are too. With
``S = P^T P / n_patches`` their (uncentred, as airbench computes it) second-moment matrix and
``S = V diag(lam) V^T`` its eigendecomposition, the filters ``V[:, i] / sqrt(lam_i + epsilon)``
map each patch to ``d`` outputs that are decorrelated and of (almost) unit variance over the
data: the whitened patch. ``epsilon`` keeps the directions the data barely varies in (noise)
from being blown up.

Every backend fits its filters here: the ``patch_whitening`` layer takes the patches'
second-moment matrix from its backend's kernel ``patch_whitening_covariance`` (numpy's is
:func:`patch_covariance`; torch's computes it on the data's device) and hands that small
``d x d`` matrix to :func:`whitening_filters`. So given the same data all get the same filters,
to rounding.
Eigenvectors are defined only up to sign; each is flipped so that its largest-magnitude entry is
positive, which makes the filters a function of the data alone.
"""

import numbers

import numpy as np

from corenn.errors import ConfigError, DataError, ShapeError

# Patch rows gathered at once while summing the covariance: bounds the memory a large batch
# needs (2**18 rows of d = 12 floats is 24 MiB) without a Python loop over single samples.
PATCH_ROWS_PER_CHUNK = 2**18


def checked_kernel_size(kernel_size, layer):
    """``kernel_size`` as a positive int (the patches are square)."""
    if isinstance(kernel_size, bool) or not isinstance(kernel_size, numbers.Integral) or kernel_size < 1:
        raise ConfigError(
            f"{layer}: kernel_size must be an integer >= 1 (the side of a square patch), got {kernel_size!r}"
        )
    return int(kernel_size)


def checked_epsilon(epsilon, layer):
    """``epsilon`` as a finite float > 0."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not 0.0 < epsilon < float("inf"):
        raise ConfigError(
            f"{layer}: epsilon must be a finite number > 0 (added to each eigenvalue before its "
            f"square root), got {epsilon!r}"
        )
    return float(epsilon)


def check_patch_input(shape, kernel_size, layer):
    """Raise ShapeError unless ``shape`` is a non-empty NHWC batch with room for one patch."""
    shape = tuple(int(n) for n in shape)
    if len(shape) != 4 or 0 in shape:
        raise ShapeError(f"{layer} expects a non-empty 4-d NHWC input (m, H, W, C), got shape {shape}")
    if shape[1] < kernel_size or shape[2] < kernel_size:
        raise ShapeError(
            f"{layer}: images of {shape[1]}x{shape[2]} pixels (input shape {shape}) are smaller than "
            f"one {kernel_size}x{kernel_size} patch"
        )


def samples_per_chunk(image_shape, kernel_size):
    """How many images of ``(H, W, C)`` give about :data:`PATCH_ROWS_PER_CHUNK` patches."""
    rows, cols = image_shape[0] - kernel_size + 1, image_shape[1] - kernel_size + 1
    return max(1, PATCH_ROWS_PER_CHUNK // (rows * cols))


def patch_covariance(X, kernel_size):
    """``P^T P / n_patches`` (float64, ``(d, d)``) over every ``k x k`` patch of the NHWC batch ``X``.

    Patches are taken at stride 1 without padding (the layer's valid convolution sees exactly
    these), flattened in ``(i, j, c)`` order. Uncentred, as airbench computes it.
    """
    X = np.asarray(X)
    check_patch_input(X.shape, kernel_size, "patch_covariance")
    m, _, _, channels = X.shape
    d = kernel_size * kernel_size * channels
    total = np.zeros((d, d), dtype=np.float64)
    chunk = samples_per_chunk(X.shape[1:], kernel_size)
    for start in range(0, m, chunk):
        windows = np.lib.stride_tricks.sliding_window_view(
            X[start : start + chunk], (kernel_size, kernel_size), axis=(1, 2)
        )
        # (n, H', W', C, kh, kw) -> rows (kh, kw, C), the kernel layout
        patches = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, d).astype(np.float64)
        total += patches.T @ patches
    n_patches = m * (X.shape[1] - kernel_size + 1) * (X.shape[2] - kernel_size + 1)
    return total / n_patches


def whitening_filters(patches_covariance, kernel_size, channels, epsilon):
    """The ``(k, k, C, 2d)`` filters that whiten patches with this second-moment matrix.

    Columns ``0 .. d-1`` are ``V[:, i] / sqrt(lam_i + epsilon)`` with the eigenvalues in
    descending order (the direction of most variance first), each eigenvector's sign chosen so
    that its largest-magnitude entry is positive; columns ``d .. 2d-1`` are the same filters
    negated, so that a following ReLU-like activation keeps both signs of each whitened
    component (airbench's first layer). Eigenvalues below zero can only be rounding and count
    as zero.
    """
    covariance = np.asarray(patches_covariance, dtype=np.float64)
    d = kernel_size * kernel_size * channels
    if covariance.shape != (d, d):
        raise ShapeError(
            f"whitening_filters: a {kernel_size}x{kernel_size} patch of {channels} channels has "
            f"{d} entries, so the covariance must be ({d}, {d}), got shape {covariance.shape}"
        )
    if not np.all(np.isfinite(covariance)):
        raise DataError(
            "whitening_filters: the patch covariance holds NaN or infinite values; the data the filters are fitted to must be finite"
        )
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    largest = np.argmax(np.abs(eigenvectors), axis=0)
    eigenvectors = eigenvectors * np.sign(eigenvectors[largest, np.arange(d)])
    scale = 1.0 / np.sqrt(np.clip(eigenvalues, 0.0, None) + epsilon)
    positive = (eigenvectors * scale).reshape(kernel_size, kernel_size, channels, d)
    return np.concatenate([positive, -positive], axis=-1)
