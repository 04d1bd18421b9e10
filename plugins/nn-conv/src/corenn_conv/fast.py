"""The numpy backend's faster versions of this package's kernels (registered in :mod:`corenn_conv.plugin`).

Each computes what its kernel's reference computes (``corenn.testing.check_kernel`` holds them
to 1e-10), in another way:

- the convolution as im2col: the batch's windows gathered once into a patch matrix ``P``, so
  that ``Z``, ``dW`` and the windows' share of ``dX`` are one BLAS product each (see
  :mod:`corenn_conv.patches`), in a buffer kept from step to step in the layer's ``scratch``;
- pooling with in-place ufuncs, max pooling recording the offset of each window's first maximum
  as it goes instead of comparing every window with the maximum again in the backward pass;
- the patch-whitening covariance summed chunk by chunk over strided views of the images.
"""

import dataclasses

import numpy as np

from corenn.backend import product_dtypes
from corenn.errors import CorennError
from corenn.kernels import override

from corenn_conv.conv2d import conv2d_backward, conv2d_forward
from corenn_conv.patches import PatchMatrix, Workspace, crop_padding, zero_padded
from corenn_conv.pool2d import pool2d_backward, pool2d_forward
from corenn_conv.whitening import patch_whitening_covariance

# --- convolution ------------------------------------------------------------------------------


@dataclasses.dataclass
class SavedPatches:
    """What :func:`conv2d_backward_im2col` needs from the forward pass: the patch matrix ``P``
    (in the dtype the products ran in) and how it was gathered. ``P`` is ``None`` once the
    input gradient's ``dP`` has overwritten it in the workspace."""

    patch_matrix: PatchMatrix
    P: np.ndarray
    dtype: np.dtype
    workspace: Workspace


@override(conv2d_forward)
def conv2d_forward_im2col(X, W, b, geometry, *, compute_dtype=None, scratch=None):
    """``Z`` as one matrix product of the batch's patch matrix ``P`` ``(m * H_out * W_out, kh *
    kw * C)`` with ``W`` as a ``(kh * kw * C, n_out)`` matrix, in the working dtype (float32
    batches run on single-precision BLAS).

    ``P`` is written into a :class:`corenn_conv.patches.Workspace` kept in ``scratch``, and the
    backward pass's ``dP`` then over it, instead of into fresh memory at every step.
    """
    dtype, working = product_dtypes(X, W, compute_dtype)
    workspace = None if scratch is None else scratch.setdefault("patch_matrix", Workspace())
    n_out = W.shape[-1]
    patch_matrix = PatchMatrix(geometry)
    P = patch_matrix.gather(X.astype(working, copy=False), workspace)
    Z = P @ W.reshape(-1, n_out).astype(working, copy=False)
    Z += b.astype(working, copy=False)
    Z = Z.reshape(X.shape[0], *geometry.output_size, n_out).astype(dtype, copy=False)
    return Z, SavedPatches(patch_matrix, P, working, workspace)


@override(conv2d_backward)
def conv2d_backward_im2col(dZ, W, saved, *, input_gradient=True, weight_gradient=True):
    """With ``dZ`` as an ``(M, n_out)`` matrix: ``dW = P^T dZ``, ``db = 1^T dZ`` and ``dX`` the
    rows of ``dP = dZ W^T`` added back onto the input pixels each window came from (col2im).

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


# --- pooling ----------------------------------------------------------------------------------


@dataclasses.dataclass
class SavedArgmax:
    """What :func:`pool2d_backward_in_place` needs: the geometry and mode, and for max pooling
    the offset of each window's first maximum."""

    geometry: object
    mode: str
    argmax: np.ndarray = None


@override(pool2d_forward)
def pool2d_forward_in_place(X, geometry, mode):
    """Loops over the ``kh * kw`` kernel offsets with in-place ufuncs on one output-sized
    array; max pooling records, as it goes, the offset of each window's first maximum."""
    padded = zero_padded(X, geometry)
    windows = [padded[:, rows, cols, :] for _, _, rows, cols in geometry.window_offsets()]
    Y = windows[0].copy()
    saved = SavedArgmax(geometry, mode)
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


@override(pool2d_backward)
def pool2d_backward_in_place(dY, saved):
    """Each offset's share written (or, for overlapping windows, added) into one padded
    gradient: max pooling's where the recorded first maximum is, average pooling's everywhere."""
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


# --- patch whitening --------------------------------------------------------------------------

# Patch rows gathered at once while summing the covariance: bounds the memory a large batch
# needs (2**18 rows of d = 12 floats is 24 MiB) without a Python loop over single samples.
PATCH_ROWS_PER_CHUNK = 2**18


def samples_per_chunk(image_shape, kernel_size):
    """How many images of ``(H, W, C)`` give about :data:`PATCH_ROWS_PER_CHUNK` patches."""
    rows, cols = image_shape[0] - kernel_size + 1, image_shape[1] - kernel_size + 1
    return max(1, PATCH_ROWS_PER_CHUNK // (rows * cols))


@override(patch_whitening_covariance)
def patch_whitening_covariance_chunked(X, kernel_size):
    """``P^T P`` summed over chunks of :func:`samples_per_chunk` images, each chunk's patches one
    copy of a strided view (``sliding_window_view``) of its images."""
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
