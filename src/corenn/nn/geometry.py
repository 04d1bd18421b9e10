"""Where a sliding window goes: kernel, stride and padding options, and the output size they give.

Shared by convolution and pooling, which slide their windows the same way, on every backend:
the layers compute the geometry of each input and hand it to their kernels, whose references
read the windows off it (:meth:`WindowGeometry.window_offsets`) and pad with
:func:`zero_padded` (torch's kernels derive the padding torch's functions take from it). The
sizes are plain Python, so backends agree on every size by construction.

Kernel and stride: a positive int, or a pair ``(rows, cols)``.

Padding, per spatial axis of size ``n`` with kernel ``k`` and stride ``s``:

- ``"valid"``: none.
- an int ``p``: ``p`` zeros on each side; a pair ``(p_rows, p_cols)``: per axis; four ints
  ``(top, bottom, left, right)``: each side on its own.
- ``"same"``: the course package's convention: ``(k - 1) // 2`` zeros on *each* side of the
  axis, whatever the stride (PyTorch's ``padding=((kh - 1) // 2, (kw - 1) // 2)``). With stride
  1 and an odd kernel the output keeps the input's size; an even kernel shrinks it by one, and a
  stride divides it: a 16x16 input, 5x5 kernel and stride 2 give 8x8; 3x3 at stride 3 give 6x6;
  a 4x2 kernel pads (1, 0). (TensorFlow's "same", ``ceil(n / s)`` with the odd zero at the
  bottom / right, is not this; ask for such padding with four explicit ints.)

The output size is ``floor((n + before + after - k) / s) + 1``.
"""

import dataclasses
import functools
import numbers

from corenn.backend import array_namespace, device_of
from corenn.errors import ConfigError, ShapeError

PAD_WORDS = ("same", "valid")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def positive_pair(value, option, layer):
    """``value`` (an int, or a pair of ints) as a ``(rows, cols)`` tuple of positive ints."""
    pair = (value, value) if _is_int(value) else value
    if (
        isinstance(pair, (str, bytes))
        or not hasattr(pair, "__len__")
        or len(pair) != 2
        or not all(_is_int(v) and v >= 1 for v in pair)
    ):
        raise ConfigError(f"{layer}: {option} must be a positive integer or a pair of them (rows, cols), got {value!r}")
    return int(pair[0]), int(pair[1])


def checked_pad(pad, layer):
    """``pad`` checked and normalised: ``"same"``, ``"valid"``, or ``(top, bottom, left, right)``."""
    if isinstance(pad, str):
        if pad in PAD_WORDS:
            return pad
    elif _is_int(pad):
        if pad >= 0:
            return (int(pad),) * 4
    elif hasattr(pad, "__len__") and len(pad) in (2, 4) and all(_is_int(v) and v >= 0 for v in pad):
        if len(pad) == 2:
            return (int(pad[0]), int(pad[0]), int(pad[1]), int(pad[1]))
        return tuple(int(v) for v in pad)
    raise ConfigError(
        f"{layer}: pad must be 'same', 'valid', a non-negative integer, a pair (rows, cols) or "
        f"four integers (top, bottom, left, right), got {pad!r}"
    )


def same_padding(kernel):
    """The course's "same" for a ``(kh, kw)`` kernel: ``(top, bottom, left, right)`` zeros,
    ``(kh - 1) // 2`` above and below, ``(kw - 1) // 2`` left and right, at every stride."""
    rows, cols = (kernel[0] - 1) // 2, (kernel[1] - 1) // 2
    return rows, rows, cols, cols


@dataclasses.dataclass(frozen=True)
class WindowGeometry:
    """Where a layer's windows fall on one input shape ``(m, H, W, C)``: ``kernel`` ``(kh, kw)``,
    ``stride`` ``(sh, sw)`` and ``padding`` ``(top, bottom, left, right)``, in pixels.

    Output pixel ``(y, x)``'s window covers rows ``y*sh .. y*sh + kh - 1`` and columns
    ``x*sw .. x*sw + kw - 1`` of the zero-padded input.
    """

    input_shape: tuple
    kernel: tuple
    stride: tuple
    padding: tuple  # (top, bottom, left, right)

    @functools.cached_property  # asked for dozens of times a training step
    def padded_size(self):
        """``(H + top + bottom, W + left + right)``: the size of a padded image."""
        top, bottom, left, right = self.padding
        return self.input_shape[1] + top + bottom, self.input_shape[2] + left + right

    @functools.cached_property
    def output_size(self):
        """``(H_out, W_out)``: ``floor((padded - kernel) / stride) + 1`` along each axis."""
        (rows, cols), (kh, kw), (sh, sw) = self.padded_size, self.kernel, self.stride
        return (rows - kh) // sh + 1, (cols - kw) // sw + 1

    @property
    def overlapping(self):
        """Whether an input pixel can fall into more than one window."""
        return self.stride[0] < self.kernel[0] or self.stride[1] < self.kernel[1]

    def window_offsets(self):
        """``(i, j, rows, cols)`` for each kernel offset ``(i, j)``, in row-major order.

        ``rows`` and ``cols`` are the slices ``i, i + sh, ..., i + sh * (H_out - 1)`` and
        ``j, j + sw, ..., j + sw * (W_out - 1)``: ``Xp[:, rows, cols, :]`` of a padded batch
        ``Xp`` is, for every output pixel ``(y, x)`` at once, the entry at offset ``(i, j)`` of
        its window, an ``(m, H_out, W_out, C)`` array.
        """
        (out_rows, out_cols), (kh, kw), (sh, sw) = self.output_size, self.kernel, self.stride
        for i in range(kh):
            rows = slice(i, i + sh * (out_rows - 1) + 1, sh)
            for j in range(kw):
                yield i, j, rows, slice(j, j + sw * (out_cols - 1) + 1, sw)

    def interior(self):
        """The ``(rows, cols)`` slices of a padded image that hold the image itself: cropping
        ``Xp[:, rows, cols, :]`` undoes the padding."""
        top, _, left, _ = self.padding
        return slice(top, top + self.input_shape[1]), slice(left, left + self.input_shape[2])


def zero_padded(X, padding):
    """A new NHWC array: ``X`` with ``padding`` ``(top, bottom, left, right)`` rows and columns
    of zeros around each image, built with the array namespace of ``X`` (any backend's)."""
    top, bottom, left, right = padding
    xp = array_namespace(X)
    m, rows, cols, channels = X.shape

    def zeros(n_rows, n_cols):
        return xp.zeros((m, n_rows, n_cols, channels), dtype=X.dtype, device=device_of(X))

    taller = xp.concat([zeros(top, cols), X, zeros(bottom, cols)], axis=1)
    return xp.concat([zeros(taller.shape[1], left), taller, zeros(taller.shape[1], right)], axis=2)


def window_geometry(input_shape, kernel, stride, pad, layer):
    """The geometry of ``kernel`` windows with ``stride`` and ``pad`` on an NHWC ``input_shape``.

    ``kernel`` and ``stride`` come from ``positive_pair`` and ``pad`` from ``checked_pad``.

    Raises ShapeError, naming ``layer`` and the shapes, when the input is not 4-d, is empty,
    or is smaller than the kernel even after padding.
    """
    input_shape = tuple(int(n) for n in input_shape)
    if len(input_shape) != 4:
        raise ShapeError(f"{layer} expects a 4-d NHWC input (m, H, W, C), got shape {input_shape}")
    _, rows, cols, channels = input_shape
    if rows < 1 or cols < 1 or channels < 1:
        raise ShapeError(f"{layer} got an empty input of shape {input_shape}; H, W and C must be >= 1")
    if pad == "valid":
        padding = (0, 0, 0, 0)
    elif pad == "same":
        padding = same_padding(kernel)
    else:
        padding = tuple(pad)
    geometry = WindowGeometry(input_shape, tuple(kernel), tuple(stride), padding)
    padded_rows, padded_cols = geometry.padded_size
    if padded_rows < kernel[0] or padded_cols < kernel[1]:
        raise ShapeError(
            f"{layer}: kernel {kernel[0]}x{kernel[1]} is larger than the padded input "
            f"{padded_rows}x{padded_cols} (input shape {input_shape}, padding top/bottom/left/right "
            f"{padding}), so the output would be empty"
        )
    return geometry
