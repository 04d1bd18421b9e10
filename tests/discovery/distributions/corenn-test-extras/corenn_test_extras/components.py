"""The components, correct and deliberately wrong (each wrong one says how)."""

import math
from collections import OrderedDict

import numpy as np


class LeakyReLU:
    """``max(Z, slope * Z)``; its initializer gain is torch's ``sqrt(2 / (1 + slope**2))``."""

    name = "leaky_relu"

    def __init__(self, slope=0.01):
        self.slope = float(slope)

    @property
    def gain(self):
        return math.sqrt(2.0 / (1.0 + self.slope**2))

    def forward(self, Z):
        return np.where(Z > 0, Z, self.slope * Z)

    def backward(self, Z, dY):
        return np.where(Z > 0, dY, self.slope * dY)


class _Layer:
    """Bookkeeping shared by the layers below: the protocol's tables and sizes."""

    example_input_shape = (4, 5)

    def __init__(self):
        self.parameters = OrderedDict()
        self.gradients = OrderedDict()
        self.cache = OrderedDict()
        self.n_in = None
        self.n_out = None
        self.rng = None


class LayerNorm(_Layer):
    """Each sample normalised over its features, then scaled by ``gamma`` and shifted by ``beta`` (n,)."""

    name = "layer_norm"

    def __init__(self, epsilon=1e-5):
        super().__init__()
        self.epsilon = epsilon

    def forward(self, X):
        if "gamma" not in self.parameters:
            self.n_in = self.n_out = X.shape[1]
            self.parameters["gamma"] = np.ones(X.shape[1], dtype=X.dtype)
            self.parameters["beta"] = np.zeros(X.shape[1], dtype=X.dtype)
        inv_std = 1.0 / np.sqrt(X.var(axis=1, keepdims=True) + self.epsilon)
        X_hat = (X - X.mean(axis=1, keepdims=True)) * inv_std
        self.cache["X_hat"], self.cache["inv_std"] = X_hat, inv_std
        return X_hat * self.parameters["gamma"] + self.parameters["beta"]

    def _scaled(self, dLdY):
        return dLdY * self.parameters["gamma"]

    def backward(self, dLdY):
        X_hat, inv_std = self.cache["X_hat"], self.cache["inv_std"]
        self.gradients["gamma"] = (dLdY * X_hat).sum(axis=0)
        self.gradients["beta"] = dLdY.sum(axis=0)
        d_hat = self._scaled(dLdY)
        return inv_std * (
            d_hat - d_hat.mean(axis=1, keepdims=True) - X_hat * (d_hat * X_hat).mean(axis=1, keepdims=True)
        )


class LayerNormIgnoringGamma(LayerNorm):
    """WRONG: dL/dX as if ``gamma`` were 1, which it is at initialisation."""

    name = "layer_norm_ignoring_gamma"

    def _scaled(self, dLdY):
        return dLdY


class DropsAColumn(_Layer):
    """WRONG: ``Y = X``, but backward returns dL/dX without its last column."""

    name = "drops_a_column"

    def forward(self, X):
        self.n_in = self.n_out = X.shape[1]
        return X

    def backward(self, dLdY):
        return dLdY[:, :-1]


class RowShapedGradient(_Layer):
    """WRONG: ``Y = X * gamma`` with ``gamma`` of shape (n,), but its gradient is a (1, n) row."""

    name = "row_shaped_gradient"

    def forward(self, X):
        if "gamma" not in self.parameters:
            self.n_in = self.n_out = X.shape[1]
            self.parameters["gamma"] = np.ones(X.shape[1], dtype=X.dtype)
        self.cache["X"] = X
        return X * self.parameters["gamma"]

    def backward(self, dLdY):
        self.gradients["gamma"] = (dLdY * self.cache["X"]).sum(axis=0, keepdims=True)
        return dLdY * self.parameters["gamma"]
