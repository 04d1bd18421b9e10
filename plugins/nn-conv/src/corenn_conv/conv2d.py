"""The 2-d convolution layer (a cross-correlation, as in every deep-learning library), for every backend."""

import numbers

from corenn.errors import ConfigError, ShapeError
from corenn.nn.geometry import checked_pad, positive_pair, window_geometry
from corenn.nn.kernels import device_of
from corenn.nn.layers import ProductLayer, build_activation, build_initializer

from corenn_conv.patches import Workspace


class Conv2D(ProductLayer):
    """``Y = activation(Z)``, ``Z[n, y, x, o] = b[o] + sum_{i, j, c} Xp[n, y*sh + i, x*sw + j, c] W[i, j, c, o]``.

    ``X`` is an NHWC batch ``(m, H, W, C_in)`` and ``Xp`` it zero-padded (see
    :mod:`corenn.nn.geometry` for ``pad``; ``"same"`` is the course's ``(k - 1) // 2`` zeros on
    each side at every stride). ``W`` is ``(kh, kw, C_in, n_out)`` and ``b`` is ``(1, n_out)``, made at
    the first forward in the input's dtype on its device, ``W`` from ``weight_init`` drawing on
    ``self.rng`` (so a seed gives the same weights on every backend).

    The convolution and its gradients are the backend's kernels ``conv2d_forward`` and
    ``conv2d_backward``: on numpy one matrix product of the batch's patch matrix with ``W``
    (im2col, see :mod:`corenn_conv.patches`), and one product each for ``dW`` and ``dX``; on
    torch ``F.conv2d`` on the batch's channels-last view and ``aten.convolution_backward``.
    Everything is computed in the input's dtype, so float32 batches run in single precision,
    unless ``compute_dtype`` says otherwise (``"bfloat16"`` on torch: mixed precision, see
    :class:`corenn.nn.layers.ProductLayer`).

    ``needs_input_gradient`` (default True) may be set to False on a network's first layer,
    whose ``dL/dX`` nobody uses: ``backward`` then still fills ``gradients`` but skips ``dX``
    (for LeNet's first layer, a third of its backward pass) and returns ``None``. This is what
    torch's autograd does for inputs that do not require a gradient.
    """

    name = "conv2d"
    example_input_shape = (2, 7, 7, 3)

    def __init__(self, n_out, kernel_shape, activation="linear", stride=1, pad="same", weight_init="xavier_uniform"):
        if isinstance(n_out, bool) or not isinstance(n_out, numbers.Integral) or n_out < 1:
            raise ConfigError(f"conv2d: n_out (the number of filters) must be a positive integer, got {n_out!r}")
        super().__init__()
        self.n_out = int(n_out)
        self.kernel_shape = positive_pair(kernel_shape, "kernel_shape", "conv2d")
        self.stride = positive_pair(stride, "stride", "conv2d")
        self.pad = checked_pad(pad, "conv2d")
        self.activation = build_activation(activation)
        self.weight_init = weight_init
        self._initializer = build_initializer(weight_init, self.activation)
        self.needs_input_gradient = True
        # scratch memory a backend's kernels may reuse from step to step (numpy: the patch
        # matrix P, then dP; see corenn_conv.patches); others leave it empty
        self._workspace = Workspace()

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return (
            f"Conv2D(n_out={self.n_out}, kernel_shape={self.kernel_shape}, activation={activation!r}, "
            f"stride={self.stride}, pad={self.pad!r}, weight_init={self.weight_init!r})"
        )

    @property
    def _description(self):
        kh, kw = self.kernel_shape
        return f"conv2d (n_out={self.n_out}, kernel {kh}x{kw}, stride {self.stride}, pad {self.pad!r})"

    def forward(self, X):
        X = self._input(X)
        geometry = window_geometry(X.shape, self.kernel_shape, self.stride, self.pad, self._description)
        if "W" not in self.parameters:
            self._init_parameters(X.shape, X.dtype, device_of(X))
        W = self.parameters["W"]
        # Parameters may also have been set from outside (a loaded checkpoint): W decides n_in.
        self.n_in = W.shape[2]
        if X.shape[3] != self.n_in:
            raise ShapeError(
                f"{self._description} was initialised for {self.n_in} input channels (W of shape "
                f"{tuple(W.shape)}), got an input of shape {tuple(X.shape)} with {X.shape[3]} channels"
            )
        Z, saved = self.kernels.conv2d_forward(
            X, W, self.parameters["b"], geometry, compute_dtype=self.compute_dtype, workspace=self._workspace
        )
        self.cache["Z"] = Z
        self.cache["geometry"] = geometry
        self.cache["convolution"] = saved
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = self._activation_gradient(dLdY, self._description)
        W = self.parameters["W"]
        dX, self.gradients["W"], self.gradients["b"] = self.kernels.conv2d_backward(
            dZ, W, self.cache["convolution"], input_gradient=self.needs_input_gradient, weight_gradient=True
        )
        return dX

    def _init_parameters(self, X_shape, dtype="float64", device=None):
        """Make ``W`` and ``b`` (and zero gradients) for NHWC inputs of shape ``X_shape``."""
        shape = (*self.kernel_shape, X_shape[3], self.n_out)
        self._init_weights(shape, self._initializer, self.weight_init, dtype, device)
        self.n_in = X_shape[3]
