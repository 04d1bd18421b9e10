"""Losses over a mini-batch: ``forward(Y, Y_hat)`` is the mean over the batch (a float),
``backward(Y, Y_hat)`` is ``dL/dY_hat`` of that mean (an array of ``Y_hat``'s shape and dtype).

The batch is the first axis; everything after it belongs to one sample, so a loss works on
``(m, classes)`` predictions as well as on ``(m, H, W, C)`` outputs.
"""

import numbers

import numpy as np

from corenn.errors import ConfigError, ShapeError


def _as_pair(loss_name, Y, Y_hat):
    """``Y`` and ``Y_hat`` as float arrays of one shape, in ``Y_hat``'s float dtype.

    The prediction's dtype wins so that a float32 network stays float32 even when its targets
    were stored as float64 or as integers.
    """
    Y_hat = np.asarray(Y_hat)
    if not np.issubdtype(Y_hat.dtype, np.floating):
        Y_hat = Y_hat.astype(np.float64)
    Y = np.asarray(Y, dtype=Y_hat.dtype)
    if Y.shape != Y_hat.shape:
        raise ShapeError(
            f"{loss_name}: targets Y of shape {Y.shape} do not match predictions Y_hat of shape "
            f"{Y_hat.shape}; both must be (batch, ...) of the same shape (one-hot targets for "
            "cross-entropy)"
        )
    if Y_hat.ndim == 0 or Y_hat.shape[0] == 0:
        raise ShapeError(f"{loss_name}: predictions need a non-empty batch axis, got shape {Y_hat.shape}")
    return Y, Y_hat


def checked_label_smoothing(label_smoothing):
    """``label_smoothing`` as a float in [0, 1), or a ConfigError saying what is allowed."""
    if (
        isinstance(label_smoothing, bool)
        or not isinstance(label_smoothing, numbers.Real)
        or not 0.0 <= label_smoothing < 1.0
    ):
        raise ConfigError(
            f"option 'label_smoothing' must be a number in [0, 1) (0 keeps the targets as they are), "
            f"got {label_smoothing!r}"
        )
    return float(label_smoothing)


def smoothed(Y, label_smoothing):
    """``(1 - eps) * Y + eps / K`` over the ``K`` classes of the last axis (``Y`` when eps is 0).

    Written for numpy arrays and torch tensors alike.
    """
    if label_smoothing == 0.0:
        return Y
    return Y * (1.0 - label_smoothing) + label_smoothing / Y.shape[-1]


class Loss:
    """Base of the losses: calling one is its ``forward``, as in the course package
    (``loss(Y, Y_hat)``). A subclass implements ``forward(Y, Y_hat)``, the mean over the batch
    as a numpy scalar of the predictions' dtype, and ``backward(Y, Y_hat)``."""

    def __call__(self, Y, Y_hat):
        return self.forward(Y, Y_hat)


class CrossEntropy(Loss):
    """Cross-entropy of one-hot (or soft) targets ``Y`` against predicted probabilities ``Y_hat``.

    ``L = -(1/m) * sum(Y * log(max(Y_hat, tiny)))``, and ``dL/dY_hat = -Y / max(Y_hat, tiny) / m``.

    ``label_smoothing = eps`` (Szegedy et al. 2016) trains against ``(1 - eps) * Y + eps / K``
    instead, ``K`` the number of classes (the last axis), as torch's ``CrossEntropyLoss`` does:
    probability 1 on the true class then still costs something, which keeps the network from
    growing its logits without bound. It changes the loss reported too (train and validation alike);
    accuracies are unaffected.

    ``tiny`` is ``np.finfo(dtype).tiny``, the smallest normal number of ``Y_hat``'s dtype: a
    predicted probability of exactly 0 for the true class then costs ``-log(tiny)`` (about 708
    in float64, 87 in float32) instead of infinity, and the gradient stays finite. The same
    floor is used in both passes, so the gradient is exactly that of the loss reported. Pair it
    with a softmax output; predictions above 0 are used as they are.
    """

    name = "cross_entropy"

    def __init__(self, label_smoothing=0.0):
        self.label_smoothing = checked_label_smoothing(label_smoothing)

    def _clipped(self, Y, Y_hat):
        Y, Y_hat = _as_pair("CrossEntropy", Y, Y_hat)
        return smoothed(Y, self.label_smoothing), np.maximum(Y_hat, np.finfo(Y_hat.dtype).tiny)

    @staticmethod
    def ceiling(dtype):
        """The loss of a sample whose true class got probability 0: ``-log(tiny)`` of ``dtype``
        (a name, ``"float64"``), about 708.4 in float64 and 87.3 in float32. A mean loss near it
        means the network predicts 0 for the true classes: it has diverged, though the floor
        keeps the loss finite."""
        return float(-np.log(np.finfo(np.dtype(dtype)).tiny))

    def forward(self, Y, Y_hat):
        Y, clipped = self._clipped(Y, Y_hat)
        return clipped.dtype.type(-np.sum(Y * np.log(clipped)) / Y.shape[0])

    def backward(self, Y, Y_hat):
        Y, clipped = self._clipped(Y, Y_hat)
        return -Y / clipped / Y.shape[0]

    def __repr__(self):
        return f"CrossEntropy(label_smoothing={self.label_smoothing!r})" if self.label_smoothing else "CrossEntropy()"


class L2(Loss):
    """Half the squared error per sample, averaged over the batch.

    ``L = (1/m) * sum(0.5 * (Y_hat - Y)**2)``, and ``dL/dY_hat = (Y_hat - Y) / m``.
    """

    name = "l2"

    def forward(self, Y, Y_hat):
        Y, Y_hat = _as_pair("L2", Y, Y_hat)
        return Y_hat.dtype.type(0.5 * np.sum((Y_hat - Y) ** 2) / Y.shape[0])

    def backward(self, Y, Y_hat):
        Y, Y_hat = _as_pair("L2", Y, Y_hat)
        return (Y_hat - Y) / Y.shape[0]

    def __repr__(self):
        return "L2()"
