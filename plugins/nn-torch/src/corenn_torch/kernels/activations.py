"""The torch backend's overrides of the activation kernels: PyTorch's own routines for what
the kernels' references (``corenn_fc.activations``, beside the activations) compute with the
course's formulas.

Each takes and returns floating tensors, keeping their dtype and device.
"""

import torch
import torch.nn.functional as F

from corenn.kernels import override

GELU_SATURATION = 100.0
"""gelu's backward kernel sees ``Z`` clipped to +-this: its cubic would overflow for huge
inputs, and beyond it the slope is already exactly 1 or 0."""


@override("corenn_fc.activations:sigmoid_forward")
def sigmoid_forward(Z):
    """``1 / (1 + exp(-Z))`` (torch's kernel never overflows)."""
    return torch.sigmoid(Z)


@override("corenn_fc.activations:relu_forward")
def relu_forward(Z):
    """``max(Z, 0)``."""
    return torch.relu(Z)


@override("corenn_fc.activations:relu_backward")
def relu_backward(Z, dY):
    """``dY`` where ``Z > 0``, else 0."""
    # where, not a product with the mask: an infinite dY where Z <= 0 must give 0, not NaN
    return torch.where(Z > 0, dY, 0.0)


@override("corenn_fc.activations:gelu_forward")
def gelu_forward(Z):
    """gelu in its tanh approximation: torch's fused ``gelu(approximate="tanh")``, one pass."""
    return F.gelu(Z, approximate="tanh")


@override("corenn_fc.activations:gelu_backward")
def gelu_backward(Z, dY):
    """dL/dZ of gelu: torch's fused ``aten.gelu_backward``, one pass instead of a dozen
    elementwise ops, in ``Z``'s dtype."""
    bounded = torch.clamp(Z, -GELU_SATURATION, GELU_SATURATION)
    return torch.ops.aten.gelu_backward(dY.to(Z.dtype), bounded, approximate="tanh")


@override("corenn_fc.activations:softmax_forward")
def softmax_forward(Z):
    """Probabilities over the last axis, row by row (torch subtracts the row maximum first, so
    huge logits cannot overflow)."""
    return torch.softmax(Z, dim=-1)
