"""The 2-d convolution layer (a cross-correlation, as in every deep-learning library)."""

import numbers

import numpy as np

from corenn.errors import ConfigError, CorennError, ShapeError
from corenn.nn.geometry import checked_pad, positive_pair, window_geometry
from corenn.nn.layers import Layer, build_activation, build_initializer

from corenn_conv.patches import PatchMatrix, Workspace


def as_float_array(array):
    """``array`` as a floating ndarray; float32 stays float32, integers become float64."""
    array = np.asarray(array)
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64)


class Conv2D(Layer):
    """``Y = activation(Z)``, ``Z[n, y, x, o] = b[o] + sum_{i, j, c} Xp[n, y*sh + i, x*sw + j, c] W[i, j, c, o]``.

    ``X`` is an NHWC batch ``(m, H, W, C_in)`` and ``Xp`` it zero-padded (see
    :mod:`corenn.nn.geometry` for ``pad``; ``"same"`` is the course's ``(k - 1) // 2`` zeros on
    each side at every stride). ``W`` is ``(kh, kw, C_in, n_out)`` and ``b`` is ``(1, n_out)``, made at
    the first forward in the input's dtype, ``W`` from ``weight_init`` drawing on ``self.rng``.

    Forward is one matrix product of the batch's patch matrix with ``W`` (im2col, see
    :mod:`corenn_conv.patches`); backward is one product each for ``dW`` and ``dX``. Everything
    is computed in the input's dtype, so float32 batches run on single-precision BLAS.

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
        self._workspace = Workspace()  # P, then dP, from step to step (see corenn_conv.patches)

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
        X = as_float_array(X)
        geometry = window_geometry(X.shape, self.kernel_shape, self.stride, self.pad, self._description)
        if "W" not in self.parameters:
            self._init_parameters(X.shape, X.dtype)
        W = self.parameters["W"]
        # Parameters may also have been set from outside (a loaded checkpoint): W decides n_in.
        self.n_in = W.shape[2]
        if X.shape[3] != self.n_in:
            raise ShapeError(
                f"{self._description} was initialised for {self.n_in} input channels (W of shape "
                f"{W.shape}), got an input of shape {X.shape} with {X.shape[3]} channels"
            )
        patches = PatchMatrix(geometry)
        P = patches.gather(X, self._workspace)
        Z = P @ self._weight_matrix(X.dtype)
        Z += self.parameters["b"].astype(X.dtype, copy=False)
        m = X.shape[0]
        Z = Z.reshape(m, *geometry.output_size, self.n_out)
        self.cache["X"] = X
        self.cache["Z"] = Z
        self.cache["patches"] = P
        self.cache["patch_matrix"] = patches
        return self.activation.forward(Z)

    def backward(self, dLdY):
        if "Z" not in self.cache:
            raise CorennError("conv2d: backward was called before any forward")
        if "patches" not in self.cache:
            raise CorennError("conv2d: backward was called twice after one forward (it overwrites what it needs)")
        Z, P, patches = self.cache["Z"], self.cache.pop("patches"), self.cache["patch_matrix"]
        dLdY = as_float_array(dLdY)
        if dLdY.shape != Z.shape:
            raise ShapeError(
                f"{self._description}: the gradient for backward must have the output's shape "
                f"{Z.shape}, got shape {dLdY.shape}"
            )
        dZ = self.activation.backward(Z, dLdY).reshape(-1, self.n_out).astype(Z.dtype, copy=False)
        W = self.parameters["W"]
        self.gradients["W"] = (P.T @ dZ).reshape(W.shape).astype(W.dtype, copy=False)
        # a BLAS product sums the tall dZ's columns many times faster than dZ.sum(axis=0)
        self.gradients["b"] = (np.ones((1, dZ.shape[0]), dtype=dZ.dtype) @ dZ).astype(W.dtype, copy=False)
        if not self.needs_input_gradient:
            return None
        return patches.input_gradient(dZ, self._weight_matrix(Z.dtype), self._workspace)

    def _weight_matrix(self, dtype):
        """``W`` as the ``(kh * kw * C_in, n_out)`` matrix the patch matrix multiplies."""
        return self.parameters["W"].reshape(-1, self.n_out).astype(dtype, copy=False)

    def _init_parameters(self, X_shape, dtype=np.float64):
        """Make ``W`` and ``b`` (and zero gradients) for NHWC inputs of shape ``X_shape``."""
        self.n_in = X_shape[3]
        shape = (*self.kernel_shape, self.n_in, self.n_out)
        rng = self.rng if self.rng is not None else np.random.default_rng()
        W = np.asarray(self._initializer(shape, rng))
        if W.shape != shape:
            raise ConfigError(
                f"conv2d: weight_init {self.weight_init!r} made weights of shape {W.shape}, expected {shape}"
            )
        self._make_parameters(W=W.astype(dtype), b=np.zeros((1, self.n_out), dtype=dtype))
