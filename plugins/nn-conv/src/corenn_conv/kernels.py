"""The numpy backend's kernels of the convolution-network layers: convolution, pooling and the
patch-whitening fit, the course's math on the BLAS.

The layers (``corenn_conv.conv2d``, ``pool2d``, ``whitening``) are written once for every
backend and call these through ``self.kernels`` (see :mod:`corenn.nn.kernels`); the torch
backend registers its own under the same names and signatures. A forward kernel returns its
output and what its backward kernel needs (``saved``), which the layer keeps in its cache and
hands back unopened.

Inputs are NHWC batches ``(m, H, W, C)``, kernels ``(kh, kw, C, n_out)``; ``geometry`` is the
layer's :class:`corenn.nn.geometry.WindowGeometry` for the input's shape.
"""

import dataclasses

import numpy as np

from corenn.errors import CorennError
from corenn.nn.whitening import patch_covariance

from corenn_conv.patches import PatchMatrix, crop_padding, zero_padded


@dataclasses.dataclass
class SavedConvolution:
    """What :func:`conv2d_backward` needs from the forward pass: the patch matrix ``P`` (in the
    dtype the products ran in) and how it was gathered. ``P`` is ``None`` once the input
    gradient's ``dP`` has overwritten it in the workspace."""

    patch_matrix: PatchMatrix
    P: np.ndarray
    dtype: np.dtype
    workspace: object


def conv2d_forward(X, W, b, geometry, *, compute_dtype=None, workspace=None):
    """``(Z, saved)``: ``Z[n, y, x, o] = b[o] + sum_{i, j, c} Xp[n, y*sh + i, x*sw + j, c] W[i, j, c, o]``.

    ``Xp`` is ``X`` zero-padded as ``geometry`` says. One matrix product of the batch's patch
    matrix ``P`` ``(m * H_out * W_out, kh * kw * C)`` with ``W`` as a ``(kh * kw * C, n_out)``
    matrix (im2col, see :mod:`corenn_conv.patches`), in ``compute_dtype`` (``None``: ``X``'s
    dtype, so float32 batches run on single-precision BLAS); ``Z`` comes back in ``X``'s dtype.

    ``workspace`` (a :class:`corenn_conv.patches.Workspace` the layer keeps from step to step)
    holds ``P``, and then the backward pass's ``dP``, instead of fresh memory at every step.
    """
    dtype = X.dtype if compute_dtype is None else np.dtype(compute_dtype)
    n_out = W.shape[-1]
    patch_matrix = PatchMatrix(geometry)
    P = patch_matrix.gather(X.astype(dtype, copy=False), workspace)
    Z = P @ W.reshape(-1, n_out).astype(dtype, copy=False)
    Z += b.astype(dtype, copy=False)
    Z = Z.reshape(X.shape[0], *geometry.output_size, n_out).astype(X.dtype, copy=False)
    return Z, SavedConvolution(patch_matrix, P, dtype, workspace)


def conv2d_backward(dZ, W, saved, *, input_gradient=True, weight_gradient=True):
    """``(dX, dW, db)`` from ``dZ = dL/dZ`` (NHWC, the output's shape) and the forward pass's ``saved``.

    With ``dZ`` as an ``(M, n_out)`` matrix: ``dW = P^T dZ`` (shape and dtype of ``W``),
    ``db = 1^T dZ`` (``(1, n_out)``, summed in ``dZ``'s dtype, then ``W``'s), and ``dX`` the
    rows of ``dP = dZ W^T`` added back onto the input pixels each window came from (col2im), in
    ``dZ``'s dtype. ``dX`` is ``None`` unless ``input_gradient``, ``dW`` ``None`` unless
    ``weight_gradient``: a network's first layer needs no ``dX``, frozen filters no ``dW``.

    ``dP`` is written over ``P`` in the workspace, so a second backward after one forward
    cannot compute ``dW`` and is refused.
    """
    if weight_gradient and saved.P is None:
        raise CorennError("conv2d: backward was called twice after one forward (it overwrites what it needs)")
    n_out = W.shape[-1]
    dZ_rows = dZ.reshape(-1, n_out)
    dZ_products = dZ_rows.astype(saved.dtype, copy=False)
    dW = None
    if weight_gradient:
        dW = (saved.P.T @ dZ_products).reshape(W.shape).astype(W.dtype, copy=False)
    # a BLAS product sums the tall dZ's columns many times faster than dZ.sum(axis=0)
    db = (np.ones((1, dZ_rows.shape[0]), dtype=dZ_rows.dtype) @ dZ_rows).astype(W.dtype, copy=False)
    if not input_gradient:
        return None, dW, db
    W_matrix = W.reshape(-1, n_out).astype(saved.dtype, copy=False)
    dX = saved.patch_matrix.input_gradient(dZ_products, W_matrix, saved.workspace)
    if saved.workspace is not None:
        saved.P = None  # dP took its place
    return dX.astype(dZ.dtype, copy=False), dW, db


@dataclasses.dataclass
class SavedPooling:
    """What :func:`pool2d_backward` needs: the geometry and mode, and for max pooling the
    offset of each window's first maximum."""

    geometry: object
    mode: str
    argmax: np.ndarray = None


def pool2d_forward(X, geometry, mode):
    """``(Y, saved)``: the maximum (``mode="max"``) or the mean (``"average"``) of each window,
    channel by channel.

    Padding is zeros: average pooling counts them (it always divides by ``kh * kw``) and max
    pooling sees them as values 0. The max-pool gradient will go to the first maximum of each
    window in row-major order (top row first, then left to right), as torch's CPU kernel picks
    it; which one is decided here. Loops over the ``kh * kw`` kernel offsets only, each step
    working on the whole batch through a strided view.
    """
    padded = zero_padded(X, geometry)
    windows = [padded[:, rows, cols, :] for _, _, rows, cols in geometry.window_offsets()]
    Y = windows[0].copy()
    saved = SavedPooling(geometry, mode)
    if mode == "max":
        # argmax: the offset of each window's first maximum. Offsets only grow, so "the
        # window moved to offset k" is max(argmax, k * larger); plain ufuncs, no masked writes.
        index_dtype = np.uint8 if len(windows) <= 256 else np.intp
        argmax = np.zeros(Y.shape, dtype=index_dtype)
        larger = np.empty(Y.shape, dtype=bool)
        moved = np.empty(Y.shape, dtype=index_dtype)
        for offset, window in enumerate(windows[1:], start=1):
            np.greater(window, Y, out=larger)
            np.maximum(Y, window, out=Y)
            np.multiply(larger, index_dtype(offset), out=moved)
            np.maximum(argmax, moved, out=argmax)
        saved.argmax = argmax
    else:
        for window in windows[1:]:
            Y += window
        Y *= X.dtype.type(1.0 / len(windows))
    return Y, saved


def pool2d_backward(dY, saved):
    """``dL/dX`` (in ``dY``'s dtype) from ``dY = dL/dY``: max pooling sends each window's
    gradient to its first maximum, average pooling spreads it evenly over the window; windows
    that overlap add up."""
    geometry = saved.geometry
    m, _, _, channels = geometry.input_shape
    d_padded = np.zeros((m, *geometry.padded_size, channels), dtype=dY.dtype)
    offsets = list(geometry.window_offsets())
    if saved.mode == "max":
        chosen = np.empty(saved.argmax.shape, dtype=bool)
        for offset, (_, _, rows, cols) in enumerate(offsets):
            np.equal(saved.argmax, offset, out=chosen)
            if geometry.overlapping:
                d_padded[:, rows, cols, :] += dY * chosen
            else:
                np.multiply(dY, chosen, out=d_padded[:, rows, cols, :])
    else:
        share = dY * dY.dtype.type(1.0 / len(offsets))
        for _, _, rows, cols in offsets:
            if geometry.overlapping:
                d_padded[:, rows, cols, :] += share
            else:
                d_padded[:, rows, cols, :] = share
    return crop_padding(d_padded, geometry)


def patch_whitening_covariance(X, kernel_size):
    """``P^T P / n_patches`` (float64, ``(d, d)``) over every ``k x k`` patch of the NHWC batch
    ``X``: :func:`corenn.nn.whitening.patch_covariance`, the math the filters are fitted from."""
    return patch_covariance(X, kernel_size)
