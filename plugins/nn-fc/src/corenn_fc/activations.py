"""The activations: elementwise functions of a layer's pre-activation ``Z`` (softmax: row-wise).

Each has ``forward(Z) -> Y`` and ``backward(Z, dY) -> dZ``, recomputing what it needs from
``Z`` so that an activation holds no state and one object can serve several layers. Floating
inputs keep their dtype (float32 stays float32); integer inputs are computed in float64.
"""

import math

import numpy as np

from corenn.errors import CorennError, ShapeError
from corenn.nn.layers import Activation


def as_float_array(array):
    """``array`` as a floating ndarray, leaving float16/32/64 as they are."""
    array = np.asarray(array)
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64)


def activation_gradient(layer, dLdY):
    """dL/dZ in a layer's ``backward``: ``dLdY`` checked against the cached output
    ``layer.cache["Z"]`` and taken back through ``layer.activation`` (the layers' shared first
    step)."""
    if "Z" not in layer.cache:
        raise CorennError(f"{layer.name}: backward was called before any forward")
    Z = layer.cache["Z"]
    dLdY = as_float_array(dLdY)
    if dLdY.shape != Z.shape:
        raise ShapeError(
            f"{layer.name}: the gradient for backward must have the output's shape {Z.shape}, got shape {dLdY.shape}"
        )
    return layer.activation.backward(Z, dLdY)


class Linear(Activation):
    """The identity: the layer's output is its affine map."""

    name = "linear"

    def forward(self, Z):
        return as_float_array(Z)

    def backward(self, Z, dY):
        return as_float_array(dY)


class Sigmoid(Activation):
    """``1 / (1 + exp(-Z))``, computed from ``exp(-|Z|)`` so that no exponent can overflow."""

    name = "sigmoid"

    def forward(self, Z):
        Z = as_float_array(Z)
        decay = np.exp(-np.abs(Z))  # in (0, 1]: never overflows, underflows harmlessly to 0
        return np.where(Z >= 0, 1 / (1 + decay), decay / (1 + decay))

    def backward(self, Z, dY):
        Y = self.forward(Z)
        return as_float_array(dY) * Y * (1 - Y)


class Tanh(Activation):
    """The hyperbolic tangent."""

    name = "tanh"
    gain = 5.0 / 3.0

    def forward(self, Z):
        return np.tanh(as_float_array(Z))

    def backward(self, Z, dY):
        Y = self.forward(Z)
        return as_float_array(dY) * (1 - Y * Y)


class ArcTan(Activation):
    """The arc tangent: like tanh, but its tails approach +-pi/2 only polynomially."""

    name = "arctan"

    def forward(self, Z):
        return np.arctan(as_float_array(Z))

    def backward(self, Z, dY):
        Z = as_float_array(Z)
        with np.errstate(over="ignore"):  # Z * Z = inf for huge Z gives the right limit, 0
            return as_float_array(dY) / (1 + Z * Z)


class ReLU(Activation):
    """``max(Z, 0)``; its derivative at exactly 0 is taken as 0."""

    name = "relu"
    gain = math.sqrt(2.0)  # the weight initializers' gain for layers with this activation

    def forward(self, Z):
        Z = as_float_array(Z)
        return np.maximum(Z, 0)

    def backward(self, Z, dY):
        # A multiply by the boolean mask is about 10x faster than np.where on large batches.
        return as_float_array(dY) * (as_float_array(Z) > 0)


class GELU(Activation):
    """The Gaussian error linear unit (Hendrycks & Gimpel 2016), in its tanh approximation:

        ``0.5 * Z * (1 + tanh(u))`` with ``u = sqrt(2 / pi) * (Z + 0.044715 * Z**3)``

    The exact GELU, ``Z * Phi(Z)``, needs erf, which numpy lacks; this is the form torch computes
    with ``gelu(approximate="tanh")`` and the one GPT-2 and airbench use. Its backward is

        ``dZ = dY * (0.5 * (1 + t) + 0.5 * Z * (1 - t**2) * sqrt(2 / pi) * (1 + 3 * 0.044715 * Z**2))``

    with ``t = tanh(u)``. Inputs are clipped to +-``SATURATION`` before the cubic, which changes
    nothing (beyond it ``t`` is exactly +-1 in every float dtype) but keeps ``Z**3`` from
    overflowing for huge finite inputs.

    Both passes work in place on one or two arrays of ``Z``'s size rather than building a
    temporary per operator: the layers that use gelu (whitening, batch norm) hand it millions of
    values a step, and the memory traffic of a dozen temporaries, not the arithmetic, was what
    it cost (20 times the time of this form on a CIFAR-10 batch). The backward pass uses the
    factored form ``dZ = dY * 0.5 * (1 + t) * (1 + Z * (1 - t) * k)``, with
    ``k = sqrt(2 / pi) * (1 + 3 * 0.044715 * Z**2)`` the derivative of ``u``.
    """

    name = "gelu"
    gain = math.sqrt(2.0)  # as relu's, which gelu is close to; torch has no gain for it
    SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
    CUBIC = 0.044715
    SATURATION = 100.0

    def _inner(self, bounded):
        """``u = sqrt(2 / pi) * (Z + 0.044715 * Z**3)`` of the clipped ``Z``, as a new array."""
        u = bounded * bounded
        u *= self.SQRT_2_OVER_PI * self.CUBIC
        u += self.SQRT_2_OVER_PI
        u *= bounded
        return u

    def forward(self, Z):
        Z = as_float_array(Z)
        t = self._inner(np.clip(Z, -self.SATURATION, self.SATURATION))
        np.tanh(t, out=t)
        t += 1
        t *= 0.5  # before Z: (1 + t) * Z would overflow for Z near the dtype's largest value
        t *= Z
        return t  # 0.5 * Z * (1 + t)

    def backward(self, Z, dY):
        Z = as_float_array(Z)
        bounded = np.clip(Z, -self.SATURATION, self.SATURATION)
        t = self._inner(bounded)
        np.tanh(t, out=t)
        slope = bounded * bounded  # k = sqrt(2 / pi) * (1 + 3 * 0.044715 * Z**2)
        slope *= 3 * self.CUBIC * self.SQRT_2_OVER_PI
        slope += self.SQRT_2_OVER_PI
        slope *= bounded
        # 1 - t, not 1 - t * t later: no cancellation where t is near -1
        slope *= np.subtract(1, t, out=bounded)
        slope += 1
        t += 1
        slope *= t
        slope *= 0.5
        dY = as_float_array(dY)
        if dY.dtype != slope.dtype:  # numpy's promotion, as dY * slope would give
            return dY * slope
        slope *= dY
        return slope


class Softmax(Activation):
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
