"""2-d max and average pooling over NHWC batches."""

import numpy as np

from corenn.errors import ConfigError, CorennError, ShapeError
from corenn.nn.geometry import checked_pad, positive_pair, window_geometry
from corenn.nn.layers import Layer

from corenn_conv.conv2d import as_float_array
from corenn_conv.patches import crop_padding, zero_padded

MODES = ("max", "average")


class Pool2D(Layer):
    """The maximum or the mean of each ``kernel_shape`` window, channel by channel.

    Windows move by ``stride`` and may overlap. ``pad`` (as for conv2d: ``"same"``, ``"valid"``
    or ints) adds *zeros*, as the course package does: average pooling counts them (it always
    divides by ``kh * kw``, like torch's ``count_include_pad=True``) and max pooling sees them as
    values 0 (torch pads max pooling with -inf instead).

    The max-pool gradient goes to the window's maximum. When several entries tie for the
    maximum, the first in row-major window order (top row first, then left to right) takes all
    of it, as torch's CPU kernel does; the choice is made in ``forward`` and cached.

    Both directions loop over the ``kh * kw`` kernel offsets only, each step working on the
    whole batch through a strided view: no loop over samples or output pixels. No parameters.
    """

    name = "pool2d"
    example_input_shape = (2, 6, 6, 3)

    def __init__(self, kernel_shape, mode="max", stride=1, pad=0):
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"pool2d: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
        self.mode = mode
        self.kernel_shape = positive_pair(kernel_shape, "kernel_shape", "pool2d")
        self.stride = positive_pair(stride, "stride", "pool2d")
        self.pad = checked_pad(pad, "pool2d")

    def __repr__(self):
        return f"Pool2D(kernel_shape={self.kernel_shape}, mode={self.mode!r}, stride={self.stride}, pad={self.pad!r})"

    @property
    def _description(self):
        kh, kw = self.kernel_shape
        return f"pool2d ({self.mode}, kernel {kh}x{kw}, stride {self.stride}, pad {self.pad!r})"

    def forward(self, X):
        X = as_float_array(X)
        geometry = window_geometry(X.shape, self.kernel_shape, self.stride, self.pad, self._description)
        self.n_in = self.n_out = X.shape[3]
        padded = zero_padded(X, geometry)
        windows = [padded[:, rows, cols, :] for _, _, rows, cols in geometry.window_offsets()]
        Y = windows[0].copy()
        if self.mode == "max":
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
            self.cache["argmax"] = argmax
        else:
            for window in windows[1:]:
                Y += window
            Y *= X.dtype.type(1.0 / len(windows))
        self.cache["geometry"] = geometry
        self.cache["Y_shape"] = Y.shape
        return Y

    def backward(self, dLdY):
        if "geometry" not in self.cache:
            raise CorennError("pool2d: backward was called before any forward")
        geometry = self.cache["geometry"]
        dLdY = as_float_array(dLdY)
        if dLdY.shape != self.cache["Y_shape"]:
            raise ShapeError(
                f"{self._description}: the gradient for backward must have the output's shape "
                f"{self.cache['Y_shape']}, got shape {dLdY.shape}"
            )
        m, _, _, channels = geometry.input_shape
        d_padded = np.zeros((m, *geometry.padded_size, channels), dtype=dLdY.dtype)
        offsets = list(geometry.window_offsets())
        if self.mode == "max":
            argmax = self.cache["argmax"]
            chosen = np.empty(argmax.shape, dtype=bool)
            for offset, (_, _, rows, cols) in enumerate(offsets):
                np.equal(argmax, offset, out=chosen)
                if geometry.overlapping:
                    d_padded[:, rows, cols, :] += dLdY * chosen
                else:
                    np.multiply(dLdY, chosen, out=d_padded[:, rows, cols, :])
        else:
            share = dLdY * dLdY.dtype.type(1.0 / len(offsets))
            for _, _, rows, cols in offsets:
                if geometry.overlapping:
                    d_padded[:, rows, cols, :] += share
                else:
                    d_padded[:, rows, cols, :] = share
        return crop_padding(d_padded, geometry)
