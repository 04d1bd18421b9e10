"""2-d max and average pooling over NHWC batches, for every backend."""

from corenn.errors import ConfigError, ShapeError
from corenn.nn.geometry import checked_pad, positive_pair, window_geometry
from corenn.nn.kernels import device_of
from corenn.nn.layers import Layer

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

    The pooling and its gradient are the backend's kernels ``pool2d_forward`` and
    ``pool2d_backward``: on numpy loops over the ``kh * kw`` kernel offsets only, each step
    working on the whole batch through a strided view (no loop over samples or output pixels);
    on torch its pooling kernels on the batch's channels-last view, the zeros added with
    ``F.pad``. No parameters.
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
        X = self._input(X)
        geometry = window_geometry(X.shape, self.kernel_shape, self.stride, self.pad, self._description)
        self.n_in = self.n_out = X.shape[3]
        Y, saved = self.kernels.pool2d_forward(X, geometry, self.mode)
        self.cache["geometry"] = geometry
        self.cache["pooling"] = saved
        self.cache["Y_shape"] = tuple(Y.shape)
        self.cache["device"] = device_of(X)
        return Y

    def backward(self, dLdY):
        self._require_forward("geometry")
        dLdY = self._gradient_input(dLdY, self.cache["device"])
        if tuple(dLdY.shape) != self.cache["Y_shape"]:
            raise ShapeError(
                f"{self._description}: the gradient for backward must have the output's shape "
                f"{self.cache['Y_shape']}, got shape {tuple(dLdY.shape)}"
            )
        return self.kernels.pool2d_backward(dLdY, self.cache["pooling"])
