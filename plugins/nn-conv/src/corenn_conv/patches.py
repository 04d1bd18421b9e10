"""im2col and col2im: a batch's receptive fields as one matrix, so a convolution is one BLAS product.

Row ``(n, y, x)`` of the patch matrix ``P`` (shape ``(m * H_out * W_out, kh * kw * C)``) holds
the window of sample ``n`` under output pixel ``(y, x)``, flattened in the order ``(i, j, c)`` of
the kernel ``W (kh, kw, C, n_out)``. Then ``Z = P @ W.reshape(-1, n_out)``,
``dW = P.T @ dZ`` and ``dP = dZ @ W.reshape(-1, n_out).T``, whose rows are added back onto
the input's pixels (col2im) to give ``dX``.

Building ``P`` is a copy, and its speed depends on how long the contiguous runs it copies are.
Two memory layouts of the same matrix are used, whichever copies the longer runs:

- *rows* (``P`` C-ordered, ``(m, H_out, W_out, kh, kw, C)``): one strided view of the padded
  NHWC input, reshaped; each window row of ``kw * C`` values is contiguous. Good for many
  channels.
- *columns* (``P.T`` C-ordered, ``(kh, kw, C, m, H_out, W_out)``): the padded input is moved
  channels-first once, then each kernel offset copies whole output rows of ``W_out`` values.
  Good for few channels (a first layer on grey images has ``C = 1``, where rows would copy
  runs of only ``kw`` values).

col2im, chosen on its own, adds ``dP`` back in one of two ways: *rows*, each offset's runs of
``C`` values added into the padded NHWC gradient; or, at stride 1, *flat*: ``dP`` made with its
columns laid out as padded images, so that each kernel offset's share is one contiguous add
onto the flattened padded gradient, shifted (see :meth:`PatchMatrix._scatter_flat`). Either
way col2im loops over the ``kh * kw`` kernel offsets only, never over samples or pixels.

``P`` and ``dP`` for a whole batch would be the largest arrays of a training step (a CIFAR-10
batch's first convolution: 200 MB each), written and read back from main memory. So the numpy
backend gathers and multiplies them block of samples by block (:func:`sample_blocks`, a few
MiB each), each block's patches still in the CPU's cache when BLAS reads them, into two
:class:`Workspace` buffers a layer keeps from step to step (see
:func:`corenn_conv.conv2d.conv2d_forward`'s ``scratch``).

This is the numpy backend's convolution (:mod:`corenn_conv.fast`); the course's, a loop over
the kernel offsets, is the reference in :mod:`corenn_conv.conv2d`.
"""

import numpy as np
from numpy.lib.stride_tricks import as_strided


class Workspace:
    """A flat buffer reused from call to call: ``take(size, dtype)`` gives its first ``size``
    values, making a new buffer only when it is too small or of another dtype. It holds one
    block's patches (see :func:`sample_blocks`), so it stays a few MiB whatever the batch."""

    def __init__(self):
        self._buffer = None

    def take(self, size, dtype):
        if self._buffer is None or self._buffer.size < size or self._buffer.dtype != dtype:
            self._buffer = np.empty(size, dtype=dtype)
        return self._buffer[:size]


# The bytes of one block's patch matrix: small enough that a block's patches, written by the
# gather, are still in the CPU's cache when the products read them, large enough that each
# product is a good BLAS call. On cifar10-cnn's convolutions (batch 250, float32, one thread)
# 8 MiB blocks took 27% less CPU time than one patch matrix for the whole batch on the first
# (200 MB of patches) and 10-13% less on the others; 4 MiB blocks were as good on one thread,
# but their many small products were up to twice slower than whole-batch ones with two BLAS
# threads on a loaded machine, where 8 MiB blocks stayed within 5-17% of them.
PATCH_BLOCK_BYTES = 8 * 2**20


def sample_blocks(geometry, itemsize):
    """``(start, stop)`` of consecutive blocks of samples whose patch matrices take about
    :data:`PATCH_BLOCK_BYTES` each (at least one sample per block)."""
    m, _, _, channels = geometry.input_shape
    (out_rows, out_cols), (kh, kw) = geometry.output_size, geometry.kernel
    sample_bytes = out_rows * out_cols * kh * kw * channels * itemsize
    samples = max(1, PATCH_BLOCK_BYTES // max(1, sample_bytes))
    return [(start, min(start + samples, m)) for start in range(0, m, samples)]


def zero_padded(X, geometry):
    """``X`` (NHWC) with the geometry's zero padding, as a C-contiguous array (``X`` itself
    when there is no padding and it is contiguous already)."""
    if not any(geometry.padding):
        return np.ascontiguousarray(X)
    m, _, _, channels = X.shape
    padded = np.zeros((m, *geometry.padded_size, channels), dtype=X.dtype)
    rows, cols = geometry.interior()
    padded[:, rows, cols, :] = X
    return padded


def crop_padding(padded, geometry):
    """The input-sized interior of a padded NHWC array (a view)."""
    if not any(geometry.padding):
        return padded
    rows, cols = geometry.interior()
    return padded[:, rows, cols, :]


class PatchMatrix:
    """im2col / col2im for one input shape, in the layout that copies the longer runs."""

    def __init__(self, geometry):
        self.geometry = geometry
        m, _, _, channels = geometry.input_shape
        out_rows, out_cols = geometry.output_size
        kh, kw = geometry.kernel
        self.n_rows = m * out_rows * out_cols
        self.n_cols = kh * kw * channels
        # The contiguous run each gather step copies: a window row of kw * C values (rows
        # layout) or an output row (columns layout); the longer one wins. Scattering, rows
        # adds runs of C values, flat whole images but with a transpose at the end: on
        # LeNet's and cifar10-cnn's layers flat was 1.4-2.9x faster wherever W_out >= C, and
        # rows up to 25% faster with 128 channels on 16 or 8 columns.
        output_row_run = out_cols if geometry.stride[1] == 1 else 1
        self.channels_first = output_row_run > kw * channels
        self.scatter_flat = geometry.stride == (1, 1) and out_cols >= channels

    @property
    def size(self):
        """The number of values in ``P`` (and in ``dP`` scattered by rows)."""
        return self.n_rows * self.n_cols

    def gather(self, X, workspace=None):
        """The patch matrix ``P`` of ``X``: shape ``(M, K)``, C- or F-ordered (see the module),
        in ``workspace``'s buffer when one is given."""
        out = None if workspace is None else workspace.take(self.size, X.dtype)
        if self.channels_first:
            return self._gather_columns(X, out)
        return self._gather_rows(X, out)

    def input_gradient(self, dZ, W_matrix, workspace=None):
        """``dL/dX`` from ``dZ`` ``(M, n_out)`` and the kernel as a ``(K, n_out)`` matrix:
        ``dP = dZ @ W_matrix.T`` added back onto the input pixels each window came from.
        ``dP`` is made in ``workspace``'s buffer when one is given (overwriting a ``P`` there)."""
        if self.scatter_flat:
            return self._scatter_flat(dZ, W_matrix, workspace)
        out = None if workspace is None else workspace.take(self.size, dZ.dtype).reshape(self.n_rows, self.n_cols)
        return self._scatter_rows(np.matmul(dZ, W_matrix.T, out=out))

    def _gather_rows(self, X, out=None):
        padded = zero_padded(X, self.geometry)
        m, _, _, channels = padded.shape
        (out_rows, out_cols), (kh, kw), (sh, sw) = self.geometry.output_size, self.geometry.kernel, self.geometry.stride
        s_m, s_h, s_w, s_c = padded.strides
        windows = as_strided(
            padded,
            shape=(m, out_rows, out_cols, kh, kw, channels),
            strides=(s_m, s_h * sh, s_w * sw, s_h, s_w, s_c),
            writeable=False,
        )
        if out is None:
            return windows.reshape(self.n_rows, self.n_cols)  # the one copy: im2col
        np.copyto(out.reshape(windows.shape), windows)
        return out.reshape(self.n_rows, self.n_cols)

    def _gather_columns(self, X, out=None):
        geometry = self.geometry
        m, rows, cols, channels = X.shape
        (out_rows, out_cols), (kh, kw) = geometry.output_size, geometry.kernel
        padded = np.zeros((channels, m, *geometry.padded_size), dtype=X.dtype)
        inner_rows, inner_cols = geometry.interior()
        padded[:, :, inner_rows, inner_cols] = X.transpose(3, 0, 1, 2)
        shape = (kh, kw, channels, m, out_rows, out_cols)
        columns = np.empty(shape, dtype=X.dtype) if out is None else out.reshape(shape)
        for i, j, window_rows, window_cols in geometry.window_offsets():
            columns[i, j] = padded[:, :, window_rows, window_cols]
        return columns.reshape(self.n_cols, self.n_rows).T

    def _scatter_rows(self, dP):
        geometry = self.geometry
        m, _, _, channels = geometry.input_shape
        (out_rows, out_cols), (kh, kw) = geometry.output_size, geometry.kernel
        dP = dP.reshape(m, out_rows, out_cols, kh, kw, channels)
        d_padded = np.zeros((m, *geometry.padded_size, channels), dtype=dP.dtype)
        for i, j, window_rows, window_cols in geometry.window_offsets():
            d_padded[:, window_rows, window_cols, :] += dP[:, :, :, i, j, :]
        return crop_padding(d_padded, geometry)

    def _scatter_flat(self, dZ, W_matrix, workspace=None):
        """col2im at stride 1 with one contiguous add per kernel offset.

        Flattened, a padded image's pixel ``(y + i, x + j)`` is at ``(y * Wp + x) + (i * Wp + j)``:
        the window of output pixel ``(y, x)`` is, at every offset, the same place shifted by
        ``i * Wp + j``. So ``dP`` is made with its columns laid out as padded images (output pixel
        ``(y, x)`` of sample ``n`` at ``n * Hp * Wp + y * Wp + x``, zeros elsewhere): then each
        offset's rows of ``dP``, for all channels and samples at once, add onto the flattened
        padded gradient shifted by ``i * Wp + j``. The zeros land anywhere; the values land in
        their own sample's image.
        """
        geometry = self.geometry
        m, _, _, channels = geometry.input_shape
        (out_rows, out_cols), (kh, kw) = geometry.output_size, geometry.kernel
        padded_rows, padded_cols = geometry.padded_size
        image, n_out = padded_rows * padded_cols, dZ.shape[-1]
        # dZ's rows widened to padded rows, zeros past W_out: the products give dP's layout
        dZ_wide = np.zeros((m, out_rows, padded_cols, n_out), dtype=dZ.dtype)
        dZ_wide[:, :, :out_cols] = dZ.reshape(m, out_rows, out_cols, n_out)
        size = self.n_cols * m * image
        buffer = np.empty(size, dZ.dtype) if workspace is None else workspace.take(size, dZ.dtype)
        dP = buffer.reshape(self.n_cols, m, image)
        dP[:, :, out_rows * padded_cols :] = 0  # the padded rows below the last output row
        np.matmul(
            W_matrix,
            dZ_wide.reshape(m, out_rows * padded_cols, n_out).transpose(0, 2, 1),
            out=dP[:, :, : out_rows * padded_cols].transpose(1, 0, 2),  # one product per sample
        )
        offsets = dP.reshape(kh, kw, channels, m * image)
        d_flat = np.zeros((channels, m * image + (kh - 1) * padded_cols + kw - 1), dtype=dZ.dtype)
        for i, j, _, _ in geometry.window_offsets():
            shift = i * padded_cols + j
            d_flat[:, shift : shift + m * image] += offsets[i, j]
        d_padded = d_flat[:, : m * image].reshape(channels, m, padded_rows, padded_cols)
        inner_rows, inner_cols = geometry.interior()
        return np.ascontiguousarray(d_padded[:, :, inner_rows, inner_cols].transpose(1, 2, 3, 0))
