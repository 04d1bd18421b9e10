"""The scale_shift layer: a learnable scale and shift for each feature.

``Y = activation(X * W + b)`` with ``W`` and ``b`` of shape (1, n), broadcast over the batch;
the layer keeps the number of features (``n_in = n_out = n``, read from the first input). It is
the affine half of batch normalisation, without the normalisation.
"""

import numpy as np

from corenn.errors import ConfigError, CorennError, ShapeError
from corenn.nn.layers import Layer, build_activation, build_initializer

from corenn_example.swish import as_float_array


class ScaleShift(Layer):
    """``Y = activation(X * W + b)`` for a batch ``X`` of shape (m, n).

    ``W`` comes from the ``weight_init`` initializer (default ``"ones"``, so the layer starts as
    the identity) drawing on ``self.rng``, ``b`` starts at zero; both are made at the first
    forward, in the input's dtype. The gradients::

        dZ = activation.backward(Z, dL/dY)
        dL/dW = sum over the batch of dZ * X
        dL/db = sum over the batch of dZ
        dL/dX = dZ * W
    """

    name = "scale_shift"
    example_input_shape = (4, 5)

    def __init__(self, activation="linear", weight_init="ones"):
        super().__init__()
        self.activation = build_activation(activation)
        self.weight_init = weight_init
        self._initializer = build_initializer(weight_init, self.activation)

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return f"ScaleShift(activation={activation!r}, weight_init={self.weight_init!r})"

    def forward(self, X):
        X = as_float_array(X)
        if X.ndim != 2:
            raise ShapeError(f"scale_shift expects a 2-d input of shape (m, n), got shape {X.shape}")
        if "W" not in self.parameters:
            self._init_parameters(X.shape, X.dtype)
        # Parameters may also have been set from outside (a loaded checkpoint): W decides n.
        self.n_in = self.n_out = self.parameters["W"].shape[1]
        if X.shape[1] != self.n_in:
            raise ShapeError(f"scale_shift expects input of shape (m, {self.n_in}), got shape {X.shape}")
        Z = X * self.parameters["W"] + self.parameters["b"]
        self.cache["X"] = X
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        if "Z" not in self.cache:
            raise CorennError("scale_shift: backward was called before any forward")
        X, Z = self.cache["X"], self.cache["Z"]
        dLdY = as_float_array(dLdY)
        if dLdY.shape != Z.shape:
            raise ShapeError(
                f"scale_shift: the gradient for backward must have the output's shape {Z.shape}, got shape {dLdY.shape}"
            )
        dZ = self.activation.backward(Z, dLdY)
        self.gradients["W"] = (dZ * X).sum(axis=0, keepdims=True)
        self.gradients["b"] = dZ.sum(axis=0, keepdims=True)
        return dZ * self.parameters["W"]

    def _init_parameters(self, X_shape, dtype=np.float64):
        """Make ``W`` and ``b`` for inputs of shape ``X_shape`` ``(m, n)``; ``_make_parameters``
        (from ``corenn.nn.layers.Layer``) also makes their zero gradients."""
        n = X_shape[1]
        if n < 1:
            raise ShapeError(f"scale_shift needs at least one input feature, got input of shape (m, {n})")
        rng = self.rng if self.rng is not None else np.random.default_rng()
        W = np.asarray(self._initializer((1, n), rng))
        if W.shape != (1, n):
            raise ConfigError(f"scale_shift: weight_init {self.weight_init!r} made shape {W.shape}, expected {(1, n)}")
        self._make_parameters(W=W.astype(dtype), b=np.zeros((1, n), dtype=dtype))
