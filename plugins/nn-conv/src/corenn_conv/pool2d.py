"""2-d max and average pooling over NHWC batches, and its two kernels."""

from types import SimpleNamespace

from corenn.backend import array_namespace, device_of
from corenn.errors import ConfigError, ShapeError
from corenn.kernels import kernel
from corenn.nn.geometry import checked_pad, positive_pair, window_geometry, zero_padded
from corenn.nn.layers import Layer

MODES = ("max", "average")


@kernel(examples="corenn_conv.kernel_examples:pool2d_forward")
def pool2d_forward(X, geometry, mode):
    """``(Y, saved)``: the maximum (``mode="max"``) or the mean (``"average"``) of each window
    of the NHWC batch ``X``, channel by channel::

        Y[n, y, x, c] = max (or mean) over (i, j) of Xp[n, y*sh + i, x*sw + j, c]

    ``Xp`` is ``X`` zero-padded as ``geometry`` says: average pooling counts the zeros (it
    divides by ``kh * kw``), max pooling sees them as values 0. Taken one kernel offset
    ``(i, j)`` at a time over ``Xp[:, rows, cols, :]``, that entry of every window.
    ``saved`` is what :func:`pool2d_backward` needs.
    """
    xp = array_namespace(X)
    Xp = zero_padded(X, geometry.padding)
    windows = [Xp[:, rows, cols, :] for _, _, rows, cols in geometry.window_offsets()]
    if mode == "max":
        Y = windows[0]
        for window in windows[1:]:
            Y = xp.maximum(Y, window)
    else:
        Y = sum(windows) / len(windows)
    return Y, SimpleNamespace(Xp=Xp, Y=Y, geometry=geometry, mode=mode)


@kernel(examples="corenn_conv.kernel_examples:pool2d_backward")
def pool2d_backward(dY, saved):
    """``dX = dL/dX`` (in ``dY``'s dtype) from ``dY = dL/dY`` and the forward pass's ``saved``.

    Max pooling: each window's gradient goes to the first of its entries equal to its maximum
    in row-major window order (top row first, then left to right), as torch's CPU kernel picks
    it. Average pooling: each window's gradient is spread evenly, ``dY / (kh * kw)`` to each of
    its entries. Windows that overlap add up; the padding is cropped off at the end.
    """
    xp = array_namespace(dY)
    Xp, geometry = saved.Xp, saved.geometry
    kh, kw = geometry.kernel
    dXp = xp.zeros(Xp.shape, dtype=dY.dtype, device=device_of(dY))
    if saved.mode == "max":
        taken = xp.zeros(dY.shape, dtype=xp.bool, device=device_of(dY))  # windows whose maximum is found
        for _, _, rows, cols in geometry.window_offsets():
            first_maximum = (Xp[:, rows, cols, :] == saved.Y) & ~taken
            dXp[:, rows, cols, :] += dY * first_maximum
            taken = taken | first_maximum
    else:
        for _, _, rows, cols in geometry.window_offsets():
            dXp[:, rows, cols, :] += dY / (kh * kw)
    rows, cols = geometry.interior()
    return dXp[:, rows, cols, :]


class Pool2D(Layer):
    """The maximum or the mean of each ``kernel_shape`` window, channel by channel.

    Windows move by ``stride`` and may overlap. ``pad`` (as for conv2d: ``"same"``, ``"valid"``
    or ints) adds *zeros*, as the course package does: average pooling counts them (it always
    divides by ``kh * kw``, like torch's ``count_include_pad=True``) and max pooling sees them as
    values 0 (torch pads max pooling with -inf instead).

    The max-pool gradient goes to the window's maximum. When several entries tie for the
    maximum, the first in row-major window order (top row first, then left to right) takes all
    of it, as torch's CPU kernel does.

    The pooling and its gradient are the two kernels above (numpy runs them with in-place
    ufuncs, :mod:`corenn_conv.fast`; torch with its own pooling kernels). No parameters.
    """

    name = "pool2d"
    example_input_shape = (2, 6, 6, 3)
    example_options = {"kernel_shape": [2, 2], "stride": 2}  # what corenn plugins --check builds
    # corenn describe shows these as the allowed values
    option_values = {"mode": ("max", "average"), "pad": '"same", "valid", an int, a pair or four ints'}

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
        X = self.as_input(X)
        geometry = window_geometry(X.shape, self.kernel_shape, self.stride, self.pad, self._description)
        self.n_in = self.n_out = X.shape[3]
        Y, saved = pool2d_forward(X, geometry, self.mode)
        self.cache["geometry"] = geometry
        self.cache["pooling"] = saved
        self.cache["Y_shape"] = tuple(Y.shape)
        self.cache["device"] = device_of(X)
        return Y

    def backward(self, dLdY):
        self.require_forward("geometry")
        dLdY = self.as_gradient(dLdY, self.cache["device"])
        if tuple(dLdY.shape) != self.cache["Y_shape"]:
            raise ShapeError(
                f"{self._description}: the gradient for backward must have the output's shape "
                f"{self.cache['Y_shape']}, got shape {tuple(dLdY.shape)}"
            )
        return pool2d_backward(dLdY, self.cache["pooling"])
