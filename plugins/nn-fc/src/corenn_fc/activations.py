"""The activations: elementwise functions of a layer's pre-activation ``Z`` (softmax: row-wise).

Each has ``forward(Z) -> Y`` and ``backward(Z, dY) -> dZ``, recomputing what it needs from
``Z`` so that an activation holds no state and one object can serve several layers. Floating
inputs keep their dtype (float32 stays float32); integer inputs are computed in float64.

Written once for every backend: the math is the array namespace's (``tanh``, ``atan``, the
products of the backward passes) or, where the backends compute it differently (a stable
sigmoid, a fused gelu, relu's masked gradient), a kernel (see :mod:`corenn_fc.kernels` for the
formulas). On torch, tensors keep their device, and numpy input becomes a CPU tensor.
"""

import math

import numpy as np

from corenn.nn.kernels import array_namespace, device_of
from corenn.nn.layers import Activation


def _float_pair(activation, Z, dY):
    """``Z`` and ``dY`` as floating arrays of the activation's backend, ``dY`` on ``Z``'s device."""
    Z = activation.kernels.as_float_array(Z)
    return Z, activation._as_float_on(dY, device_of(Z))


class Linear(Activation):
    """The identity: the layer's output is its affine map."""

    name = "linear"

    def forward(self, Z):
        return self.kernels.as_float_array(Z)

    def backward(self, Z, dY):
        return _float_pair(self, Z, dY)[1]


class Sigmoid(Activation):
    """``1 / (1 + exp(-Z))``, computed so that no exponent can overflow (kernel ``sigmoid_forward``)."""

    name = "sigmoid"

    def forward(self, Z):
        kernels = self.kernels
        return kernels.sigmoid_forward(kernels.as_float_array(Z))

    def backward(self, Z, dY):
        kernels = self.kernels
        Z, dY = _float_pair(self, Z, dY)
        Y = kernels.sigmoid_forward(Z)
        return dY * Y * (1 - Y)


class Tanh(Activation):
    """The hyperbolic tangent."""

    name = "tanh"
    gain = 5.0 / 3.0

    def forward(self, Z):
        Z = self.kernels.as_float_array(Z)
        return array_namespace(Z).tanh(Z)

    def backward(self, Z, dY):
        Z, dY = _float_pair(self, Z, dY)
        Y = array_namespace(Z).tanh(Z)
        return dY * (1 - Y * Y)


class ArcTan(Activation):
    """The arc tangent: like tanh, but its tails approach +-pi/2 only polynomially."""

    name = "arctan"

    def forward(self, Z):
        Z = self.kernels.as_float_array(Z)
        return array_namespace(Z).atan(Z)

    def backward(self, Z, dY):
        Z, dY = _float_pair(self, Z, dY)
        with np.errstate(over="ignore"):  # Z * Z = inf for huge Z gives the right limit, 0
            return dY / (1 + Z * Z)


class ReLU(Activation):
    """``max(Z, 0)``; its derivative at exactly 0 is taken as 0 (kernels ``relu_forward`` and
    ``relu_backward``)."""

    name = "relu"
    gain = math.sqrt(2.0)  # the weight initializers' gain for layers with this activation

    def forward(self, Z):
        kernels = self.kernels
        return kernels.relu_forward(kernels.as_float_array(Z))

    def backward(self, Z, dY):
        kernels = self.kernels
        return kernels.relu_backward(*_float_pair(self, Z, dY))


class GELU(Activation):
    """The Gaussian error linear unit (Hendrycks & Gimpel 2016), in its tanh approximation:

        ``0.5 * Z * (1 + tanh(u))`` with ``u = sqrt(2 / pi) * (Z + 0.044715 * Z**3)``

    the form torch computes with ``gelu(approximate="tanh")`` and the one GPT-2 and airbench
    use. Both passes are kernels (``gelu_forward``, ``gelu_backward``): numpy's work in place
    on one or two arrays of ``Z``'s size (the layers that use gelu, whitening and batch norm,
    hand it millions of values a step; :mod:`corenn_fc.kernels` holds the derivation), torch's
    are its fused kernels. Huge finite inputs give the input or 0, and a slope of 1 or 0.
    """

    name = "gelu"
    gain = math.sqrt(2.0)  # as relu's, which gelu is close to; torch has no gain for it

    def forward(self, Z):
        kernels = self.kernels
        return kernels.gelu_forward(kernels.as_float_array(Z))

    def backward(self, Z, dY):
        kernels = self.kernels
        return kernels.gelu_backward(*_float_pair(self, Z, dY))


class Softmax(Activation):
    """Probabilities over the last axis: ``exp(Z) / sum(exp(Z))`` row by row, huge logits
    included (kernel ``softmax_forward``)."""

    name = "softmax"

    def forward(self, Z):
        kernels = self.kernels
        return kernels.softmax_forward(kernels.as_float_array(Z))

    def backward(self, Z, dY):
        # The Jacobian of row y = softmax(z) is diag(y) - y y^T, so J^T dy = y * (dy - <dy, y>),
        # which is this, for all rows at once and without building any Jacobian.
        kernels = self.kernels
        Z, dY = _float_pair(self, Z, dY)
        Y = kernels.softmax_forward(Z)
        return Y * (dY - (dY * Y).sum(axis=-1, keepdims=True))
