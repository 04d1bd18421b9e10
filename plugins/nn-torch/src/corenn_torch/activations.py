"""The activations on torch tensors: the numpy backend's formulas, with torch's kernels.

Each has ``forward(Z) -> Y`` and ``backward(Z, dY) -> dZ`` and keeps no state, recomputing
what it needs from ``Z``. Tensors keep their dtype and device; numpy input becomes a CPU
tensor (integers as float64).
"""

import math

import torch
import torch.nn.functional as F

from corenn.nn.layers import Activation

from corenn_torch.tensors import as_float_tensor


def _pair(Z, dY):
    Z = as_float_tensor(Z)
    return Z, as_float_tensor(dY, device=Z.device)


class Linear(Activation):
    """The identity: the layer's output is its affine map."""

    name = "linear"

    def forward(self, Z):
        return as_float_tensor(Z)

    def backward(self, Z, dY):
        return _pair(Z, dY)[1]


class Sigmoid(Activation):
    """``1 / (1 + exp(-Z))`` (torch's kernel never overflows)."""

    name = "sigmoid"

    def forward(self, Z):
        return torch.sigmoid(as_float_tensor(Z))

    def backward(self, Z, dY):
        Z, dY = _pair(Z, dY)
        Y = torch.sigmoid(Z)
        return dY * Y * (1 - Y)


class Tanh(Activation):
    """The hyperbolic tangent."""

    name = "tanh"
    gain = 5.0 / 3.0

    def forward(self, Z):
        return torch.tanh(as_float_tensor(Z))

    def backward(self, Z, dY):
        Z, dY = _pair(Z, dY)
        Y = torch.tanh(Z)
        return dY * (1 - Y * Y)


class ArcTan(Activation):
    """The arc tangent: like tanh, but its tails approach +-pi/2 only polynomially."""

    name = "arctan"

    def forward(self, Z):
        return torch.atan(as_float_tensor(Z))

    def backward(self, Z, dY):
        Z, dY = _pair(Z, dY)
        return dY / (1 + Z * Z)  # Z * Z = inf for huge Z gives the right limit, 0


class ReLU(Activation):
    """``max(Z, 0)``; its derivative at exactly 0 is taken as 0."""

    name = "relu"
    gain = math.sqrt(2.0)  # the weight initializers' gain for layers with this activation

    def forward(self, Z):
        return torch.relu(as_float_tensor(Z))

    def backward(self, Z, dY):
        Z, dY = _pair(Z, dY)
        # where, not a product with the mask: an infinite dY where Z <= 0 must give 0, not NaN
        return torch.where(Z > 0, dY, 0.0)


class GELU(Activation):
    """The Gaussian error linear unit in its tanh approximation, as on numpy (see
    ``corenn_fc.activations``): ``0.5 * Z * (1 + tanh(sqrt(2 / pi) * (Z + 0.044715 * Z**3)))``.

    Both directions are torch's fused kernels (``gelu(approximate="tanh")`` and
    ``aten.gelu_backward``), one pass each instead of a dozen elementwise ops; the numpy layer
    holds the derivation. The backward kernel's cubic would overflow for huge inputs, so it
    sees ``Z`` clipped to +-``SATURATION``, where the slope is already exactly 1 or 0.
    """

    name = "gelu"
    gain = math.sqrt(2.0)  # as relu's, which gelu is close to; torch has no gain for it
    SATURATION = 100.0

    def forward(self, Z):
        return F.gelu(as_float_tensor(Z), approximate="tanh")

    def backward(self, Z, dY):
        Z, dY = _pair(Z, dY)
        bounded = torch.clamp(Z, -self.SATURATION, self.SATURATION)
        return torch.ops.aten.gelu_backward(dY.to(Z.dtype), bounded, approximate="tanh")


class Softmax(Activation):
    """Probabilities over the last axis, row by row (torch subtracts the row maximum first, so
    huge logits cannot overflow)."""

    name = "softmax"

    def forward(self, Z):
        return torch.softmax(as_float_tensor(Z), dim=-1)

    def backward(self, Z, dY):
        # J^T dy = y * (dy - <dy, y>) for the Jacobian diag(y) - y y^T of each row
        Z, dY = _pair(Z, dY)
        Y = torch.softmax(Z, dim=-1)
        return Y * (dY - torch.sum(dY * Y, dim=-1, keepdim=True))
