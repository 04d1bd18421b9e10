"""The losses on torch tensors: the numpy backend's formulas (see :mod:`corenn.nn.losses`).

``forward(Y, Y_hat)`` is the mean over the batch as a Python float; ``backward(Y, Y_hat)`` is
``dL/dY_hat``, a tensor of ``Y_hat``'s shape, dtype and device. Targets may be numpy arrays
or tensors; they are brought to the prediction's dtype and device.
"""

import torch

from corenn.errors import ShapeError
from corenn.nn import losses as numpy_losses
from corenn.nn.losses import smoothed

from corenn_torch.tensors import as_float_tensor, like


def _as_pair(loss_name, Y, Y_hat):
    Y_hat = as_float_tensor(Y_hat)
    Y = like(Y, Y_hat)
    if Y.shape != Y_hat.shape:
        raise ShapeError(
            f"{loss_name}: targets Y of shape {tuple(Y.shape)} do not match predictions Y_hat of shape "
            f"{tuple(Y_hat.shape)}; both must be (batch, ...) of the same shape (one-hot targets for "
            "cross-entropy)"
        )
    if Y_hat.ndim == 0 or Y_hat.shape[0] == 0:
        raise ShapeError(f"{loss_name}: predictions need a non-empty batch axis, got shape {tuple(Y_hat.shape)}")
    return Y, Y_hat


class CrossEntropy(numpy_losses.CrossEntropy):
    """Cross-entropy of one-hot (or soft) targets ``Y`` against predicted probabilities ``Y_hat``.

    The numpy backend's loss (formula, floor at the dtype's ``tiny``, ``label_smoothing``),
    with only the array operations on torch: its options, ``backward`` and ``repr`` are
    inherited unchanged.
    """

    def _clipped(self, Y, Y_hat):
        Y, Y_hat = _as_pair("CrossEntropy", Y, Y_hat)
        return smoothed(Y, self.label_smoothing), torch.clamp(Y_hat, min=torch.finfo(Y_hat.dtype).tiny)

    def forward(self, Y, Y_hat):
        Y, clipped = self._clipped(Y, Y_hat)
        return float(-torch.sum(Y * torch.log(clipped)) / Y.shape[0])


class L2(numpy_losses.Loss):
    """Half the squared error per sample, averaged over the batch: ``dL/dY_hat = (Y_hat - Y) / m``."""

    name = "l2"

    def forward(self, Y, Y_hat):
        Y, Y_hat = _as_pair("L2", Y, Y_hat)
        return float(0.5 * torch.sum((Y_hat - Y) ** 2) / Y.shape[0])

    def backward(self, Y, Y_hat):
        Y, Y_hat = _as_pair("L2", Y, Y_hat)
        return (Y_hat - Y) / Y.shape[0]

    def __repr__(self):
        return "L2()"
