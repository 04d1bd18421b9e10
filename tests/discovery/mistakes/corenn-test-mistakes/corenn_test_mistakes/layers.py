"""A dense layer ``Y = X W + b``, written right (``dense``) and with one mistake each.

Plain numpy on top of corenn's ``Layer`` tables (no helper of the base class is called, so the
layers run on corenn before and after the author's API was renamed)."""

import numpy as np

from corenn.nn.layers import Layer


class Dense(Layer):
    """``Y = X W + b``, W (n_in, n_out), b (1, n_out); the backward pass done right."""

    name = "dense"
    example_input_shape = (4, 5)
    example_options = {"n_out": 3}

    def __init__(self, n_out=3):
        super().__init__()
        self.n_out = n_out

    def forward(self, X):
        X = np.asarray(X, dtype=float) if not hasattr(X, "dtype") else X
        if "W" not in self.parameters:
            self.n_in = X.shape[1]
            W = np.random.default_rng(0).normal(size=(self.n_in, self.n_out)).astype(X.dtype)
            self.parameters["W"], self.parameters["b"] = W, np.zeros((1, self.n_out), dtype=X.dtype)
            self.gradients["W"], self.gradients["b"] = np.zeros_like(W), np.zeros((1, self.n_out), dtype=X.dtype)
        self.cache["X"] = X
        return X @ self.parameters["W"] + self.parameters["b"]

    def backward(self, dLdY):
        X, W = self.cache["X"], self.parameters["W"]
        self.gradients["W"] = self.weight_gradient(X, dLdY)
        self.gradients["b"] = self.bias_gradient(dLdY)
        return self.input_gradient(dLdY, W)

    def weight_gradient(self, X, dLdY):
        return X.T @ dLdY

    def bias_gradient(self, dLdY):
        return dLdY.sum(axis=0, keepdims=True)

    def input_gradient(self, dLdY, W):
        return dLdY @ W.T


class WrongWeightGradient(Dense):
    """WRONG: dL/dW divided by the batch size (the loss already averages): right shape, wrong values."""

    name = "wrong_dw"

    def weight_gradient(self, X, dLdY):
        return X.T @ dLdY / X.shape[0]


class PaddedInputGradient(Dense):
    """WRONG: dL/dX with a column of zeros too many, on every backend alike."""

    name = "padded_dx"

    def input_gradient(self, dLdY, W):
        return np.pad(dLdY @ W.T, ((0, 0), (0, 1)))


class WrongBiasShape(Dense):
    """WRONG: dL/db of shape (n_out,) for a bias of shape (1, n_out)."""

    name = "wrong_bias_shape"

    def bias_gradient(self, dLdY):
        return dLdY.sum(axis=0)


class TypoInForward(Dense):
    """WRONG: a typo in forward (``paramters``), which raises AttributeError at the first batch."""

    name = "typo_forward"

    def forward(self, X):
        super().forward(X)
        return X @ self.paramters["W"] + self.parameters["b"]
