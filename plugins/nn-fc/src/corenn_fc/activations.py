"""The activations: elementwise functions of a layer's pre-activation ``Z`` (softmax: row-wise).

Each has ``forward(Z) -> Y`` and ``backward(Z, dY) -> dZ``, recomputing what it needs from
``Z`` so that an activation holds no state and one object can serve several layers. Floating
inputs keep their dtype (float32 stays float32); integer inputs are computed in float64.

Written once for every backend: the math is the array namespace's (``tanh``, ``atan``, the
products of the backward passes) or, where the backends compute it differently (a stable
sigmoid, gelu, relu's masked gradient, a stable softmax), a kernel declared here above the
activation that calls it, its reference the formula (numpy's faster versions are in
:mod:`corenn_fc.fast`, torch's in ``corenn_torch.kernels.activations``). On torch, tensors
keep their device, and numpy input becomes a CPU tensor.
"""

import math

import numpy as np

from corenn.backend import array_namespace, device_of
from corenn.errors import ShapeError
from corenn.kernels import kernel
from corenn.nn.layers import Activation

GELU_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
GELU_CUBIC = 0.044715
GELU_SATURATION = 100.0
"""gelu clips its inputs to +-this before the cubic: beyond it ``tanh(u)`` is exactly +-1 in
every float dtype, so nothing changes, but ``Z**3`` cannot overflow for huge finite inputs."""


def _float_pair(activation, Z, dY):
    """``Z`` and ``dY`` as floating arrays of the activation's backend, ``dY`` on ``Z``'s device,
    of one shape (an activation called on its own gets no layer's check)."""
    Z = activation.backend.as_float_array(Z)
    dY = activation.as_float_on(dY, device_of(Z))
    if tuple(dY.shape) != tuple(Z.shape):
        raise ShapeError(
            f"{activation.name}: the gradient for backward must have the output's shape {tuple(Z.shape)}, "
            f"got shape {tuple(dY.shape)}"
        )
    return Z, dY


class Linear(Activation):
    """The identity: the layer's output is its affine map."""

    name = "linear"

    def forward(self, Z):
        return self.backend.as_float_array(Z)

    def backward(self, Z, dY):
        return _float_pair(self, Z, dY)[1]


@kernel(examples="corenn_fc.kernel_examples:sigmoid_forward")
def sigmoid_forward(Z):
    """``1 / (1 + exp(-Z))``, computed from ``e = exp(-|Z|)`` so that no exponent can overflow:
    ``1 / (1 + e)`` where ``Z >= 0`` and ``e / (1 + e)`` elsewhere (the same value, since
    ``exp(Z) / (1 + exp(Z)) = 1 / (1 + exp(-Z))``)."""
    xp = array_namespace(Z)
    decay = xp.exp(-xp.abs(Z))  # in (0, 1]: never overflows, underflows harmlessly to 0
    return xp.where(Z >= 0, 1 / (1 + decay), decay / (1 + decay))


class Sigmoid(Activation):
    """``1 / (1 + exp(-Z))``, computed so that no exponent can overflow (:func:`sigmoid_forward`)."""

    name = "sigmoid"

    def forward(self, Z):
        return sigmoid_forward(self.backend.as_float_array(Z))

    def backward(self, Z, dY):
        Z, dY = _float_pair(self, Z, dY)
        Y = sigmoid_forward(Z)
        return dY * Y * (1 - Y)


class Tanh(Activation):
    """The hyperbolic tangent."""

    name = "tanh"
    gain = 5.0 / 3.0

    def forward(self, Z):
        Z = self.backend.as_float_array(Z)
        return array_namespace(Z).tanh(Z)

    def backward(self, Z, dY):
        Z, dY = _float_pair(self, Z, dY)
        Y = array_namespace(Z).tanh(Z)
        return dY * (1 - Y * Y)


class ArcTan(Activation):
    """The arc tangent: like tanh, but its tails approach +-pi/2 only polynomially."""

    name = "arctan"

    def forward(self, Z):
        Z = self.backend.as_float_array(Z)
        return array_namespace(Z).atan(Z)

    def backward(self, Z, dY):
        Z, dY = _float_pair(self, Z, dY)
        with np.errstate(over="ignore"):  # Z * Z = inf for huge Z gives the right limit, 0
            return dY / (1 + Z * Z)


@kernel(examples="corenn_fc.kernel_examples:relu_forward")
def relu_forward(Z):
    """``max(Z, 0)``."""
    return array_namespace(Z).maximum(Z, 0)


@kernel(examples="corenn_fc.kernel_examples:relu_backward")
def relu_backward(Z, dY):
    """``dZ = dY`` where ``Z > 0``, else 0 (the derivative at exactly 0 is taken as 0)."""
    return array_namespace(Z).where(Z > 0, dY, 0)


class ReLU(Activation):
    """``max(Z, 0)``; its derivative at exactly 0 is taken as 0 (:func:`relu_forward`,
    :func:`relu_backward`)."""

    name = "relu"
    gain = math.sqrt(2.0)  # the weight initializers' gain for layers with this activation

    def forward(self, Z):
        return relu_forward(self.backend.as_float_array(Z))

    def backward(self, Z, dY):
        return relu_backward(*_float_pair(self, Z, dY))


@kernel(examples="corenn_fc.kernel_examples:gelu_forward")
def gelu_forward(Z):
    """The Gaussian error linear unit in its tanh approximation:

        ``Y = 0.5 * Z * (1 + tanh(u))`` with ``u = sqrt(2 / pi) * (Z + 0.044715 * Z**3)``

    ``u`` is taken of ``Z`` clipped to +-:data:`GELU_SATURATION` (where ``tanh(u)`` is already
    +-1), so that the cube cannot overflow; ``0.5 * Z`` comes first for the same reason.
    """
    xp = array_namespace(Z)
    bounded = xp.clip(Z, -GELU_SATURATION, GELU_SATURATION)
    u = GELU_SQRT_2_OVER_PI * (bounded + GELU_CUBIC * bounded**3)
    return 0.5 * Z * (1 + xp.tanh(u))


@kernel(examples="corenn_fc.kernel_examples:gelu_backward")
def gelu_backward(Z, dY):
    """dL/dZ of gelu, by the product rule on ``0.5 * Z * (1 + t)`` with ``t = tanh(u)``:

        ``dZ = dY * (0.5 * (1 + t) + 0.5 * Z * (1 - t**2) * du)``
        ``du = sqrt(2 / pi) * (1 + 3 * 0.044715 * Z**2)``, the derivative of ``u``

    (``1 - t**2`` is the derivative of ``tanh``). ``Z`` is clipped to +-:data:`GELU_SATURATION`
    first: beyond it the slope is exactly 1 or 0 (``t`` is +-1), and the powers cannot overflow.
    """
    xp = array_namespace(Z)
    Z = xp.clip(Z, -GELU_SATURATION, GELU_SATURATION)
    t = xp.tanh(GELU_SQRT_2_OVER_PI * (Z + GELU_CUBIC * Z**3))
    du = GELU_SQRT_2_OVER_PI * (1 + 3 * GELU_CUBIC * Z**2)
    return dY * (0.5 * (1 + t) + 0.5 * Z * (1 - t**2) * du)


class GELU(Activation):
    """The Gaussian error linear unit (Hendrycks & Gimpel 2016), in its tanh approximation:

        ``0.5 * Z * (1 + tanh(u))`` with ``u = sqrt(2 / pi) * (Z + 0.044715 * Z**3)``

    the form torch computes with ``gelu(approximate="tanh")`` and the one GPT-2 and airbench
    use (the exact GELU, ``Z * Phi(Z)``, needs erf, which numpy lacks). Both passes are kernels,
    :func:`gelu_forward` and :func:`gelu_backward` (the derivative written out): numpy's work in
    place on one or two arrays of ``Z``'s size (the layers that use gelu, whitening and batch
    norm, hand it millions of values a step), torch's are its fused kernels. Huge finite inputs
    give the input or 0, and a slope of 1 or 0.
    """

    name = "gelu"
    gain = math.sqrt(2.0)  # as relu's, which gelu is close to; torch has no gain for it

    def forward(self, Z):
        return gelu_forward(self.backend.as_float_array(Z))

    def backward(self, Z, dY):
        return gelu_backward(*_float_pair(self, Z, dY))


@kernel(examples="corenn_fc.kernel_examples:softmax_forward")
def softmax_forward(Z):
    """Probabilities over the last axis: ``exp(Z) / sum(exp(Z))`` row by row.

    The row maximum is subtracted first, which leaves the result unchanged but keeps every
    exponent <= 0, so huge logits cannot overflow.
    """
    xp = array_namespace(Z)
    exponentials = xp.exp(Z - xp.max(Z, axis=-1, keepdims=True))
    return exponentials / xp.sum(exponentials, axis=-1, keepdims=True)


class Softmax(Activation):
    """Probabilities over the last axis: ``exp(Z) / sum(exp(Z))`` row by row, huge logits
    included (:func:`softmax_forward`)."""

    name = "softmax"

    def forward(self, Z):
        return softmax_forward(self.backend.as_float_array(Z))

    def backward(self, Z, dY):
        # The Jacobian of row y = softmax(z) is diag(y) - y y^T, so J^T dy = y * (dy - <dy, y>),
        # which is this, for all rows at once and without building any Jacobian.
        Z, dY = _float_pair(self, Z, dY)
        Y = softmax_forward(Z)
        return Y * (dY - (dY * Y).sum(axis=-1, keepdims=True))
