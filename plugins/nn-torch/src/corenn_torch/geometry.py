"""Where a sliding window goes: kernel, stride and padding options, and the output size they give.

The same rules as the numpy backend's ``conv2d`` and ``pool2d`` (plugins never import each
other, so they are restated here; the cross-backend tests hold the two together):

- ``kernel_shape`` and ``stride``: a positive int or a pair ``(rows, cols)``.
- ``pad``: ``"valid"`` (none); an int ``p`` (``p`` zeros on every side); a pair
  ``(p_rows, p_cols)``; four ints ``(top, bottom, left, right)``; or ``"same"``, the course's
  convention that keeps the output the size of the input *for every stride*: per axis of size
  ``n``, ``total = s * (n - 1) + k - n`` zeros, ``total // 2`` before and the rest after.
- output size per axis: ``floor((n + before + after - k) / s) + 1``.
"""

import dataclasses
import numbers

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
        raise ConfigError(
            f"{layer}: {option} must be a positive integer or a pair of them (rows, cols), got {value!r}"
        )
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


def _same_padding(size, kernel, stride):
    total = stride * (size - 1) + kernel - size
    return total // 2, total - total // 2


@dataclasses.dataclass(frozen=True)
class WindowGeometry:
    """Where a layer's windows fall on one input shape ``(m, H, W, C)``."""

    input_shape: tuple
    kernel: tuple
    stride: tuple
    padding: tuple  # (top, bottom, left, right)

    @property
    def padded_size(self):
        top, bottom, left, right = self.padding
        return self.input_shape[1] + top + bottom, self.input_shape[2] + left + right

    @property
    def output_size(self):
        (rows, cols), (kh, kw), (sh, sw) = self.padded_size, self.kernel, self.stride
        return (rows - kh) // sh + 1, (cols - kw) // sw + 1

    @property
    def symmetric_padding(self):
        """``(rows, cols)`` when each axis is padded equally on both sides (torch's kernels
        then pad themselves), else ``None``."""
        top, bottom, left, right = self.padding
        return (top, left) if top == bottom and left == right else None

    @property
    def torch_pad(self):
        """The padding as ``torch.nn.functional.pad`` takes it for an NCHW tensor."""
        top, bottom, left, right = self.padding
        return (left, right, top, bottom)

    def crop(self, padded_nchw):
        """The input-sized interior of a padded NCHW tensor (a view)."""
        top, _, left, _ = self.padding
        rows, cols = self.input_shape[1], self.input_shape[2]
        return padded_nchw[:, :, top : top + rows, left : left + cols]


def window_geometry(input_shape, kernel, stride, pad, layer):
    """The geometry of ``kernel`` windows with ``stride`` and ``pad`` on an NHWC ``input_shape``.

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
        padding = _same_padding(rows, kernel[0], stride[0]) + _same_padding(cols, kernel[1], stride[1])
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
