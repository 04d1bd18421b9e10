"""The numpy backend's faster versions of this package's kernels (registered in :mod:`corenn_conv.plugin`).

Each computes what its kernel's reference computes (``corenn.testing.check_kernel`` holds them
to 1e-10), in another way:

- the convolution as im2col: the batch's windows gathered once into a patch matrix ``P``, so
  that ``Z``, ``dW`` and the windows' share of ``dX`` are one BLAS product each (see
  :mod:`corenn_conv.patches`), in a buffer kept from step to step in the layer's ``scratch``;
- pooling with in-place ufuncs over the windows gathered into one contiguous array, max
  pooling recording the offset of each window's first maximum as it goes instead of comparing
  every window with the maximum again in the backward pass;
- the patch-whitening covariance summed chunk by chunk over strided views of the images.
"""

import dataclasses

import numpy as np
from numpy.lib.stride_tricks import as_strided

from corenn.backend import product_dtypes
from corenn.kernels import override

from corenn_conv.conv2d import conv2d_backward, conv2d_forward
from corenn_conv.patches import PatchMatrix, Workspace, crop_padding, sample_blocks, zero_padded
from corenn_conv.pool2d import pool2d_backward, pool2d_forward
from corenn_conv.whitening import patch_whitening_covariance

# --- convolution ------------------------------------------------------------------------------


@dataclasses.dataclass
class SavedInput:
    """What :func:`conv2d_backward_im2col` needs from the forward pass: the input ``X`` in the
    dtype the products ran in, its geometry, and the layer's workspaces (or ``None``). The
    backward gathers each block's patches again rather than keep the batch's patch matrix,
    which would be ``kh * kw`` times the input's size."""

    X: np.ndarray
    geometry: object
    workspaces: tuple
    P: np.ndarray = None  # the patch matrix, kept when the batch was one block


def _workspaces(scratch):
    """The two block buffers (patches ``P``, patch gradients ``dP``) a layer keeps in its
    ``scratch``, or ``(None, None)`` without one."""
    if scratch is None:
        return None, None
    return scratch.setdefault("patches", Workspace()), scratch.setdefault("patch_gradients", Workspace())


def _block_patches(geometry, start, stop):
    """The :class:`PatchMatrix` of samples ``start:stop`` of a batch of ``geometry``."""
    if stop - start == geometry.input_shape[0]:
        return PatchMatrix(geometry)
    return PatchMatrix(dataclasses.replace(geometry, input_shape=(stop - start, *geometry.input_shape[1:])))


@override(conv2d_forward)
def conv2d_forward_im2col(X, W, b, geometry, *, compute_dtype=None, scratch=None):
    """``Z`` as matrix products of the patch matrix ``P`` (rows ``m * H_out * W_out``, columns
    ``kh * kw * C``) with ``W`` as a ``(kh * kw * C, n_out)`` matrix, in the working dtype
    (float32 batches run on single-precision BLAS).

    ``P`` is gathered and multiplied block of samples by block (:func:`sample_blocks`), each
    block's rows of ``Z`` written in place, in a buffer the layer keeps in ``scratch``, so the
    patches are still in the CPU's cache when BLAS reads them.
    """
    dtype, working = product_dtypes(X, W, compute_dtype)
    X = X.astype(working, copy=False)
    patches_workspace, _ = _workspaces(scratch)
    n_out = W.shape[-1]
    W_matrix = W.reshape(-1, n_out).astype(working, copy=False)
    out_pixels = geometry.output_size[0] * geometry.output_size[1]
    Z = np.empty((X.shape[0] * out_pixels, n_out), dtype=working)
    blocks = sample_blocks(geometry, X.itemsize)
    for start, stop in blocks:
        P = _block_patches(geometry, start, stop).gather(X[start:stop], patches_workspace)
        np.matmul(P, W_matrix, out=Z[start * out_pixels : stop * out_pixels])
    add_to_every_row(Z, b.astype(working, copy=False))
    Z = Z.reshape(X.shape[0], *geometry.output_size, n_out).astype(dtype, copy=False)
    # A batch of one block keeps its patches for the backward (they fit in the cache anyway)
    return Z, SavedInput(X, geometry, _workspaces(scratch), P if len(blocks) == 1 else None)


@override(conv2d_backward)
def conv2d_backward_im2col(dZ, W, saved, *, input_gradient=True, weight_gradient=True):
    """With ``dZ`` as an ``(M, n_out)`` matrix: ``dW = P^T dZ``, ``db = 1^T dZ`` and ``dX`` the
    rows of ``dP = dZ W^T`` added back onto the input pixels each window came from (col2im).

    Block of samples by block, like the forward: each block's ``P`` gathered again from the
    saved input (unless the batch was one block, whose ``P`` the forward kept), its share of
    ``dW`` added up, its ``dP`` scattered into its samples' ``dX``.
    """
    X, geometry = saved.X, saved.geometry
    patches_workspace, gradients_workspace = saved.workspaces
    n_out = W.shape[-1]
    dZ_rows = dZ.reshape(-1, n_out)
    dZ_products = dZ_rows.astype(X.dtype, copy=False)
    W_matrix = W.reshape(-1, n_out).astype(X.dtype, copy=False)
    out_pixels = geometry.output_size[0] * geometry.output_size[1]
    dW = None
    dX = np.empty(X.shape, dtype=dZ.dtype) if input_gradient else None
    for start, stop in sample_blocks(geometry, X.itemsize):
        patches = _block_patches(geometry, start, stop)
        dZ_block = dZ_products[start * out_pixels : stop * out_pixels]
        if weight_gradient:
            P = saved.P if saved.P is not None else patches.gather(X[start:stop], patches_workspace)
            if dW is None:
                dW = P.T @ dZ_block  # the first block's own product: a batch of one block gets P^T dZ's bits
            else:
                dW += P.T @ dZ_block
        if input_gradient:
            dX[start:stop] = patches.input_gradient(dZ_block, W_matrix, gradients_workspace)
    if weight_gradient and dW is None:  # an empty batch: no block
        dW = np.zeros(W_matrix.shape, dtype=X.dtype)
    # a BLAS product sums the tall dZ's columns many times faster than dZ.sum(axis=0)
    db = (np.ones((1, dZ_rows.shape[0]), dtype=dZ_rows.dtype) @ dZ_rows).astype(W.dtype, copy=False)
    if weight_gradient:
        dW = dW.reshape(W.shape).astype(W.dtype, copy=False)
    return dX, dW, db


def add_to_every_row(Z, b):
    """``Z += b`` for a C-contiguous ``(M, n)`` ``Z`` and a ``(1, n)`` ``b``, as rows of a few
    hundred values: numpy's broadcast add runs its inner loop ``n`` values at a time, and a
    convolution's ``n`` is its few output channels (on LeNet's first layer, 6: five times
    slower than the wide rows)."""
    rows, n = Z.shape
    repeats = max(1, 256 // n)  # rows of n values joined into one, as many as divide rows evenly
    while rows % repeats:
        repeats -= 1
    Z.reshape(rows // repeats, repeats * n)[...] += np.tile(b, (1, repeats))


# --- pooling ----------------------------------------------------------------------------------


@dataclasses.dataclass
class SavedArgmax:
    """What :func:`pool2d_backward_in_place` needs: the geometry and mode, and for max pooling
    the offset of each window's first maximum."""

    geometry: object
    mode: str
    argmax: np.ndarray = None


# Bytes pooled at once: a block's gathered windows, maxima and argmax stay in the CPU's cache
# between the few passes each kernel offset makes. Against the whole batch over strided views
# (float32, one thread): cifar10-cnn's 33 MB pooling inputs took 2.1-2.6x less time forward and
# 1.4-1.7x less backward, its 8 MB one 25% more both ways, LeNet's first 1.9x less forward;
# blocks of 512 KiB to 4 MiB were up to 50% slower than 1 MiB.
POOL_BLOCK_BYTES = 2**20


def pooling_blocks(padded, geometry):
    """Slices of consecutive samples of the padded batch, about :data:`POOL_BLOCK_BYTES` each,
    counting the larger of a sample's padded image and its gathered windows (see
    :func:`gathered_windows`: ``kh * kw`` times the output, the input's size when windows tile it)."""
    m, _, _, channels = padded.shape
    (out_rows, out_cols), (kh, kw) = geometry.output_size, geometry.kernel
    sample_bytes = max(padded.nbytes // max(1, m), kh * kw * out_rows * out_cols * channels * padded.itemsize)
    samples = max(1, POOL_BLOCK_BYTES // max(1, sample_bytes))
    return [slice(start, start + samples) for start in range(0, m, samples)]


def pixels(images):
    """The C-contiguous NHWC array ``images`` seen as ``(m, H, W)`` opaque items of one pixel's
    ``C`` values each (a ``void`` dtype, no copy)."""
    m, rows, cols, channels = images.shape
    return images.view(np.dtype((np.void, channels * images.itemsize))).reshape(m, rows, cols)


def gathered_windows(padded, geometry):
    """The entry at each kernel offset of every window of the padded NHWC batch ``padded``, as
    one C-contiguous ``(kh * kw, m, H_out, W_out, C)`` array: offset ``(i, j)`` at ``i * kw + j``.

    One copy of pixels as opaque items (:func:`pixels`). Float ufuncs on strided views of the
    windows would run their inner loop ``C`` values at a time (on LeNet's 6 channels, about 10x
    slower than on contiguous arrays); a whole pixel is one item to copy.
    """
    m, _, _, channels = padded.shape
    (out_rows, out_cols), (kh, kw), (sh, sw) = geometry.output_size, geometry.kernel, geometry.stride
    gathered = np.empty((kh * kw, m, out_rows, out_cols, channels), dtype=padded.dtype)
    if gathered.size == 0:
        return gathered
    source = pixels(padded)
    s_m, s_h, s_w = source.strides
    windows = as_strided(
        source,
        shape=(kh, kw, m, out_rows, out_cols),
        strides=(s_h, s_w, s_m, s_h * sh, s_w * sw),
        writeable=False,
    )
    np.copyto(pixels(gathered.reshape(-1, out_rows, out_cols, channels)).reshape(windows.shape), windows)
    return gathered


@override(pool2d_forward)
def pool2d_forward_in_place(X, geometry, mode):
    """Each block of samples' windows gathered into one contiguous array
    (:func:`gathered_windows`, :func:`pooling_blocks`), then reduced over the ``kh * kw``
    kernel offsets with in-place ufuncs; max pooling records, as it goes, the offset of each
    window's first maximum."""
    padded = zero_padded(X, geometry)
    n_offsets = geometry.kernel[0] * geometry.kernel[1]
    Y = np.empty((X.shape[0], *geometry.output_size, X.shape[3]), dtype=X.dtype)
    saved = SavedArgmax(geometry, mode)
    if mode == "max":
        saved.argmax = np.empty(Y.shape, dtype=np.uint8 if n_offsets <= 256 else np.intp)
    for block in pooling_blocks(padded, geometry):
        windows = gathered_windows(padded[block], geometry)
        if mode == "max":
            _maximum_and_first_offset(windows, Y[block], saved.argmax[block])
        else:
            _mean(windows, Y[block])
    return Y, saved


def _maximum_and_first_offset(windows, Y, argmax):
    """``Y``: the maximum over ``windows``; ``argmax``: the index of the first window holding
    it. Indices only grow, so "the maximum moved to window k" is ``max(argmax, k * larger)``:
    plain ufuncs, no masked writes."""
    np.copyto(Y, windows[0])
    argmax[...] = 0
    larger = np.empty(Y.shape, dtype=bool)
    moved = np.empty(Y.shape, dtype=argmax.dtype)
    for offset, window in enumerate(windows[1:], start=1):
        np.greater(window, Y, out=larger)
        np.maximum(Y, window, out=Y)
        np.multiply(larger, argmax.dtype.type(offset), out=moved)
        np.maximum(argmax, moved, out=argmax)


def _mean(windows, Y):
    """``Y``: the mean over ``windows``, summed in order then multiplied by ``1 / len(windows)``."""
    np.copyto(Y, windows[0])
    for window in windows[1:]:
        Y += window
    Y *= Y.dtype.type(1.0 / len(windows))


@override(pool2d_backward)
def pool2d_backward_in_place(dY, saved):
    """Each offset's share written (or, for overlapping windows, added) into one padded
    gradient, block of samples by block: max pooling's where the recorded first maximum is,
    average pooling's everywhere."""
    geometry = saved.geometry
    m, _, _, channels = geometry.input_shape
    (out_rows, out_cols), (sh, sw) = geometry.output_size, geometry.stride
    # windows that tile the padded image exactly write every value of its gradient
    tiled = geometry.kernel == geometry.stride and geometry.padded_size == (out_rows * sh, out_cols * sw)
    d_padded = (np.empty if tiled else np.zeros)((m, *geometry.padded_size, channels), dtype=dY.dtype)
    offsets = list(geometry.window_offsets())
    share = dY * dY.dtype.type(1.0 / len(offsets)) if saved.mode != "max" else None
    for block in pooling_blocks(d_padded, geometry):
        if saved.mode == "max":
            argmax, dY_block = saved.argmax[block], dY[block]
            chosen = np.empty(argmax.shape, dtype=bool)
            for offset, (_, _, rows, cols) in enumerate(offsets):
                np.equal(argmax, offset, out=chosen)
                if geometry.overlapping:
                    d_padded[block, rows, cols, :] += dY_block * chosen
                else:
                    np.multiply(dY_block, chosen, out=d_padded[block, rows, cols, :])
        else:
            for _, _, rows, cols in offsets:
                if geometry.overlapping:
                    d_padded[block, rows, cols, :] += share[block]
                else:
                    d_padded[block, rows, cols, :] = share[block]
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
