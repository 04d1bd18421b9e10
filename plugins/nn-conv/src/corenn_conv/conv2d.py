"""The 2-d convolution layer (a cross-correlation, as in every deep-learning library), and its two kernels."""

import numbers
from types import SimpleNamespace

from corenn.backend import array_namespace, as_dtype, device_of, product_dtypes
from corenn.errors import ConfigError, ShapeError
from corenn.kernels import kernel
from corenn.nn.geometry import checked_pad, positive_pair, window_geometry, zero_padded
from corenn.nn.layers import ProductLayer, build_activation, build_initializer


@kernel(examples="corenn_conv.kernel_examples:conv2d_forward")
def conv2d_forward(X, W, b, geometry, *, compute_dtype=None, scratch=None):
    """``(Z, saved)``: the convolution of the NHWC batch ``X`` (m, H, W, C) with the kernel ``W``
    (kh, kw, C, n_out), plus the bias ``b`` (1, n_out)::

        Z[n, y, x, o] = b[o] + sum_{i, j, c} Xp[n, y*sh + i, x*sw + j, c] W[i, j, c, o]

    ``Xp`` is ``X`` zero-padded and ``(sh, sw)`` the stride, as ``geometry`` (a
    :class:`corenn.nn.geometry.WindowGeometry`) says. Summed one kernel offset ``(i, j)`` at a
    time: the entries at that offset of every window of the batch, ``Xp[:, rows, cols, :]``
    (m, H_out, W_out, C), times ``W[i, j]`` (C, n_out), is that offset's share of ``Z``.
    ``saved`` is what :func:`conv2d_backward` needs.

    Computed in ``X``'s and ``W``'s dtype (the wider one when they differ), or on copies in
    ``compute_dtype`` when one is given (mixed precision), ``Z`` returned in the former.

    ``scratch`` is ``None`` or a dict the caller keeps from call to call (a layer keeps one),
    where an implementation may keep memory to reuse at its next call: numpy's keeps the
    buffer of its patch matrix there. Any implementation may use or ignore it (this one, and
    torch's, ignore it); results never depend on it.
    """
    dtype, working = product_dtypes(X, W, compute_dtype)
    Xp = zero_padded(as_dtype(X, working), geometry.padding)
    W = as_dtype(W, working)
    Z = as_dtype(b, working)  # (1, n_out): added to every sample's every pixel
    for i, j, rows, cols in geometry.window_offsets():
        Z = Z + Xp[:, rows, cols, :] @ W[i, j]
    return as_dtype(Z, dtype), SimpleNamespace(Xp=Xp, geometry=geometry)


@kernel(examples="corenn_conv.kernel_examples:conv2d_backward")
def conv2d_backward(dZ, W, saved, *, input_gradient=True, weight_gradient=True):
    """``(dX, dW, db)`` from ``dZ = dL/dZ`` (m, H_out, W_out, n_out) and the forward pass's
    ``saved``, by the chain rule through the forward's sum, one kernel offset ``(i, j)`` at a
    time, ``window = Xp[:, rows, cols, :]`` being the entries at that offset of every window::

        dW[i, j] = window^T dZ, summed over the samples and output pixels    (C, n_out)
        dXp[:, rows, cols, :] += dZ W[i, j]^T                                 (m, H_out, W_out, C)
        db = the sum of dZ over the samples and output pixels

    and ``dX`` is ``dXp`` with the padding cropped off. ``dX`` is ``None`` unless
    ``input_gradient``, ``dW`` ``None`` unless ``weight_gradient`` (a network's first layer
    needs no ``dX``, frozen filters no ``dW``).

    The products run in the forward pass's dtype; ``dX`` comes back in ``dZ``'s dtype, ``dW``
    and ``db`` in ``W``'s; ``db`` is summed in ``dZ``'s dtype.
    """
    xp = array_namespace(dZ)
    Xp, geometry = saved.Xp, saved.geometry
    channels, n_out = W.shape[2], W.shape[3]
    db = as_dtype(dZ.sum(axis=(0, 1, 2)).reshape(1, n_out), W.dtype)
    dX_dtype, dW_dtype = dZ.dtype, W.dtype
    dZ, W = as_dtype(dZ, Xp.dtype), as_dtype(W, Xp.dtype)  # the forward's dtype
    dW_offsets, dXp = [], xp.zeros(Xp.shape, dtype=Xp.dtype, device=device_of(Xp))
    for i, j, rows, cols in geometry.window_offsets():
        window = Xp[:, rows, cols, :]
        if weight_gradient:
            dW_offsets.append(window.reshape(-1, channels).T @ dZ.reshape(-1, n_out))  # dW[i, j]
        if input_gradient:
            dXp[:, rows, cols, :] += dZ @ W[i, j].T
    rows, cols = geometry.interior()
    dX = as_dtype(dXp[:, rows, cols, :], dX_dtype) if input_gradient else None
    dW = as_dtype(xp.stack(dW_offsets).reshape(W.shape), dW_dtype) if weight_gradient else None
    return dX, dW, db


class Conv2D(ProductLayer):
    """``Y = activation(Z)``, ``Z[n, y, x, o] = b[o] + sum_{i, j, c} Xp[n, y*sh + i, x*sw + j, c] W[i, j, c, o]``.

    ``X`` is an NHWC batch ``(m, H, W, C_in)`` and ``Xp`` it zero-padded (see
    :mod:`corenn.nn.geometry` for ``pad``; ``"same"`` is the course's ``(k - 1) // 2`` zeros on
    each side at every stride). ``W`` is ``(kh, kw, C_in, n_out)`` and ``b`` is ``(1, n_out)``, made at
    the first forward in the input's dtype on its device, ``W`` from ``weight_init`` drawing on
    ``self.rng`` (so a seed gives the same weights on every backend).

    The convolution and its gradients are the two kernels above (numpy runs them as im2col,
    one matrix product each, :mod:`corenn_conv.fast`; torch as its own convolution kernels).
    ``compute_dtype`` (default ``None``: the input's and weights' dtype) may be ``"bfloat16"``
    on torch for mixed precision (see :class:`corenn.nn.layers.ProductLayer`).

    ``needs_input_gradient`` (default True) may be set to False on a network's first layer,
    whose ``dL/dX`` nobody uses: ``backward`` then still fills ``gradients`` but skips ``dX``
    (for LeNet's first layer, a third of its backward pass) and returns ``None``. This is what
    torch's autograd does for inputs that do not require a gradient.
    """

    name = "conv2d"
    example_input_shape = (2, 7, 7, 3)
    example_options = {"n_out": 2, "kernel_shape": [3, 3], "stride": 2}  # what corenn plugins --check builds
    option_values = {"pad": '"same", "valid", an int, a pair or four ints'}  # corenn describe

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
        self._scratch = {}  # the kernels' memory from step to step (see conv2d_forward)

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
        X = self.as_input(X)
        geometry = window_geometry(X.shape, self.kernel_shape, self.stride, self.pad, self._description)
        if "W" not in self.parameters:
            self._init_parameters(X.shape, X.dtype, device_of(X))
        W, b = self.parameters["W"], self.parameters["b"]
        self.n_in = W.shape[2]  # parameters set from outside (a loaded checkpoint) decide n_in
        if X.shape[3] != self.n_in:
            raise ShapeError(
                f"{self._description} was initialised for {self.n_in} input channels (W of shape "
                f"{tuple(W.shape)}), got an input of shape {tuple(X.shape)} with {X.shape[3]} channels"
            )

        Z, saved = conv2d_forward(X, W, b, geometry, compute_dtype=self.compute_dtype, scratch=self._scratch)
        self.cache["Z"] = Z
        self.cache["geometry"] = geometry
        self.cache["convolution"] = saved
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = self.activation_gradient(dLdY, self._description)
        W = self.parameters["W"]
        dX, self.gradients["W"], self.gradients["b"] = conv2d_backward(
            dZ, W, self.cache["convolution"], input_gradient=self.needs_input_gradient
        )
        return dX

    def _init_parameters(self, X_shape, dtype="float64", device=None):
        """Make ``W`` and ``b`` (and zero gradients) for NHWC inputs of shape ``X_shape``."""
        shape = (*self.kernel_shape, X_shape[3], self.n_out)
        self.init_weights(shape, self._initializer, self.weight_init, dtype, device)
        self.n_in = X_shape[3]
