"""The fully connected (dense) layer."""

import numbers

import numpy as np

from corenn.errors import ConfigError, ShapeError
from corenn.nn.layers import Layer, build_activation, build_initializer

from corenn_fc.activations import activation_gradient, as_float_array


class FullyConnected(Layer):
    """``Y = activation(X @ W + b)`` for a batch ``X`` of shape (m, n_in).

    ``W`` (n_in, n_out) and ``b`` (1, n_out) are made at the first forward, once the input
    tells ``n_in``: ``W`` from the ``weight_init`` initializer drawing on ``self.rng``, ``b``
    zero, both in the input's dtype.
    """

    name = "fully_connected"
    example_input_shape = (4, 5)

    def __init__(self, n_out, activation="linear", weight_init="xavier_uniform"):
        # Errors here name no layer: corenn.create prefixes them with "layer 'fully_connected'".
        if isinstance(n_out, bool) or not isinstance(n_out, numbers.Integral) or n_out < 1:
            raise ConfigError(f"n_out must be a positive integer (1, 2, ...), got {n_out!r}")
        super().__init__()
        self.n_out = int(n_out)
        self.activation = build_activation(activation)
        self.weight_init = weight_init
        self._initializer = build_initializer(weight_init, self.activation)

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return f"FullyConnected(n_out={self.n_out}, activation={activation!r}, weight_init={self.weight_init!r})"

    def forward(self, X):
        X = as_float_array(X)
        if X.ndim != 2:
            expected = f"(m, {self.n_in})" if self.n_in is not None else "(m, n_in)"
            raise ShapeError(
                f"fully_connected expects a 2-d input of shape {expected}, got shape {X.shape} "
                f"(flatten image batches first)"
            )
        if "W" not in self.parameters:
            self._init_parameters(X.shape, X.dtype)
        # Parameters may also have been set from outside (a loaded checkpoint): W decides n_in.
        self.n_in = self.parameters["W"].shape[0]
        if X.shape[1] != self.n_in:
            raise ShapeError(f"fully_connected expects input of shape (m, {self.n_in}), got shape {X.shape}")
        Z = X @ self.parameters["W"] + self.parameters["b"]
        self.cache["X"] = X
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = activation_gradient(self, dLdY)
        X = self.cache["X"]
        self.gradients["W"] = X.T @ dZ
        self.gradients["b"] = dZ.sum(axis=0, keepdims=True)
        return dZ @ self.parameters["W"].T

    def _init_parameters(self, X_shape, dtype=np.float64):
        """Make ``W`` and ``b`` (and zero gradients) for inputs of shape ``X_shape`` ``(m, n_in)``."""
        n_in = X_shape[1]
        if n_in < 1:
            raise ShapeError(f"fully_connected needs at least one input feature, got input of shape (m, {n_in})")
        rng = self.rng if self.rng is not None else np.random.default_rng()
        W = np.asarray(self._initializer((n_in, self.n_out), rng))
        if W.shape != (n_in, self.n_out):
            raise ConfigError(
                f"fully_connected: weight_init {self.weight_init!r} made weights of shape {W.shape}, "
                f"expected {(n_in, self.n_out)}"
            )
        self.n_in = n_in
        self._make_parameters(W=W.astype(dtype), b=np.zeros((1, self.n_out), dtype=dtype))
