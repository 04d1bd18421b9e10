"""The activations on torch tensors: the numpy backend's formulas, with torch's kernels.

Each has ``forward(Z) -> Y`` and ``backward(Z, dY) -> dZ`` and keeps no state, recomputing
what it needs from ``Z``. Tensors keep their dtype and device; numpy input becomes a CPU
tensor (integers as float64).
"""

import math

import torch

from corenn_torch.tensors import as_float_tensor


def _pair(Z, dY):
    Z = as_float_tensor(Z)
    return Z, as_float_tensor(dY, device=Z.device)


class Linear:
    """The identity: the layer's output is its affine map."""

    name = "linear"

    def forward(self, Z):
        return as_float_tensor(Z)

    def backward(self, Z, dY):
        return _pair(Z, dY)[1]


class Sigmoid:
    """``1 / (1 + exp(-Z))`` (torch's kernel never overflows)."""

    name = "sigmoid"

    def forward(self, Z):
        return torch.sigmoid(as_float_tensor(Z))

    def backward(self, Z, dY):
        Z, dY = _pair(Z, dY)
        Y = torch.sigmoid(Z)
        return dY * Y * (1 - Y)


class Tanh:
    """The hyperbolic tangent."""

    name = "tanh"

    def forward(self, Z):
        return torch.tanh(as_float_tensor(Z))

    def backward(self, Z, dY):
        Z, dY = _pair(Z, dY)
        Y = torch.tanh(Z)
        return dY * (1 - Y * Y)


class ArcTan:
    """The arc tangent: like tanh, but its tails approach +-pi/2 only polynomially."""

    name = "arctan"

    def forward(self, Z):
        return torch.atan(as_float_tensor(Z))

    def backward(self, Z, dY):
        Z, dY = _pair(Z, dY)
        return dY / (1 + Z * Z)  # Z * Z = inf for huge Z gives the right limit, 0


class ReLU:
    """``max(Z, 0)``; its derivative at exactly 0 is taken as 0."""

    name = "relu"

    def forward(self, Z):
        return torch.relu(as_float_tensor(Z))

    def backward(self, Z, dY):
        Z, dY = _pair(Z, dY)
        # where, not a product with the mask: an infinite dY where Z <= 0 must give 0, not NaN
        return torch.where(Z > 0, dY, 0.0)


class GELU:
    """The Gaussian error linear unit in its tanh approximation, as on numpy (see
    ``corenn_fc.activations``): ``0.5 * Z * (1 + tanh(sqrt(2 / pi) * (Z + 0.044715 * Z**3)))``,
    torch's ``gelu(approximate="tanh")``, with the same hand-derived backward and the same
    clipping of the cubic's input to +-``SATURATION`` (no overflow for huge finite inputs).
    """

    name = "gelu"
    SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
    CUBIC = 0.044715
    SATURATION = 100.0

    def _tanh_of_inner(self, Z):
        bounded = torch.clamp(Z, -self.SATURATION, self.SATURATION)
        return bounded, torch.tanh(self.SQRT_2_OVER_PI * (bounded + self.CUBIC * bounded**3))

    def forward(self, Z):
        Z = as_float_tensor(Z)
        _, t = self._tanh_of_inner(Z)
        return 0.5 * Z * (1 + t)

    def backward(self, Z, dY):
        Z, dY = _pair(Z, dY)
        bounded, t = self._tanh_of_inner(Z)
        # (1 - t) * (1 + t) rather than 1 - t * t: no cancellation where t is near -1
        slope_of_t = (1 - t) * (1 + t) * self.SQRT_2_OVER_PI * (1 + 3 * self.CUBIC * bounded * bounded)
        return dY * (0.5 * (1 + t) + 0.5 * bounded * slope_of_t)


class Softmax:
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
