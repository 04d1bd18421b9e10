"""Losses over a mini-batch: ``forward(Y, Y_hat)`` is the mean over the batch (a scalar),
``backward(Y, Y_hat)`` is ``dL/dY_hat`` of that mean (an array of ``Y_hat``'s shape and dtype).

The batch is the first axis; everything after it belongs to one sample, so a loss works on
``(m, classes)`` predictions as well as on ``(m, H, W, C)`` outputs.

Each loss is written once, for every backend: its arithmetic uses only what numpy arrays and
torch tensors share (operators, ``sum``, ``clip``, the array namespace's ``log``) and returns
new arrays, its inputs come in through the backend object's ``as_float_array`` / ``asarray``,
and the value ``forward`` hands back comes from the backend's ``loss_value`` (numpy: a numpy
scalar of the predictions' dtype, as the course's losses give; torch: a Python float). A loss
needs no kernel of its own.
"""

import numbers

import numpy as np

from corenn.backend import array_namespace, device_of
from corenn.errors import ConfigError, ShapeError
from corenn.nn.component import Component

# dtypes numpy has no finfo for, and the smallest normal number of each (bfloat16 has
# float32's exponent range)
SMALLEST_NORMAL = {"bfloat16": 2.0**-126}
_TINY = {}  # the floor of cross-entropy's predictions by dtype, as the array namespace's finfo gives it


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


def smallest_normal(dtype):
    """The smallest normal number of a floating dtype (``np.finfo(dtype).tiny``): a name
    (``"float32"``), a numpy dtype, or another library's dtype numpy knows by name
    (``torch.float32``); bfloat16 (torch's) has float32's exponent range."""
    try:
        return np.finfo(np.dtype(dtype)).tiny
    except TypeError:
        name = str(dtype).rpartition(".")[2]  # torch.float32 -> float32
    if name in SMALLEST_NORMAL:
        return np.float64(SMALLEST_NORMAL[name])
    try:
        return np.finfo(np.dtype(name)).tiny
    except TypeError:
        raise TypeError(f"not a floating dtype numpy or corenn knows: {dtype!r}") from None


def smoothed(Y, label_smoothing):
    """``(1 - eps) * Y + eps / K`` over the ``K`` classes of the last axis (``Y`` when eps is 0).

    Written for numpy arrays and torch tensors alike.
    """
    if label_smoothing == 0.0:
        return Y
    return Y * (1.0 - label_smoothing) + label_smoothing / Y.shape[-1]


class Loss(Component):
    """Base of the losses: calling one is its ``forward``, as in the course package
    (``loss(Y, Y_hat)``). A subclass implements ``forward(Y, Y_hat)``, the mean over the batch
    (handed back through the backend's ``loss_value``), and ``backward(Y, Y_hat)``.

    It knows the backend it was built for (``self.backend``, a :class:`corenn.backend.Backend`),
    which turns the targets and predictions into its arrays (:meth:`as_pair`).
    """

    def __call__(self, Y, Y_hat):
        return self.forward(Y, Y_hat)

    def as_pair(self, Y, Y_hat):
        """``Y`` and ``Y_hat`` as float arrays of the backend, of one shape, in ``Y_hat``'s float
        dtype and on its device: what a loss's ``forward`` and ``backward`` start with. Targets
        of another shape are a :class:`ShapeError` naming the loss (its ``name``).

        The prediction's dtype wins so that a float32 network stays float32 even when its
        targets were stored as float64 or as integers.
        """
        backend = self.backend
        loss_name = getattr(self, "name", type(self).__name__)
        Y_hat = backend.as_float_array(Y_hat)
        Y = backend.asarray(Y, dtype=Y_hat.dtype, device=device_of(Y_hat))
        if Y.shape != Y_hat.shape:
            raise ShapeError(
                f"{loss_name}: targets Y of shape {tuple(Y.shape)} do not match predictions Y_hat of shape "
                f"{tuple(Y_hat.shape)}; both must be (batch, ...) of the same shape (one-hot targets for "
                "cross-entropy)"
            )
        if Y_hat.ndim == 0 or Y_hat.shape[0] == 0:
            raise ShapeError(f"{loss_name}: predictions need a non-empty batch axis, got shape {tuple(Y_hat.shape)}")
        return Y, Y_hat


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
        """Smoothed targets, the predictions floored at their dtype's ``tiny``, and their namespace."""
        Y, Y_hat = self.as_pair(Y, Y_hat)
        xp = array_namespace(Y_hat)
        tiny = _TINY.get(Y_hat.dtype)
        if tiny is None:
            tiny = _TINY[Y_hat.dtype] = xp.finfo(Y_hat.dtype).smallest_normal
        # clip(min=...), a method numpy arrays and torch tensors share, is maximum(Y_hat, tiny)
        # on numpy and clamp on torch (the namespace's clip costs a copy and masks on numpy)
        return smoothed(Y, self.label_smoothing), Y_hat.clip(min=tiny), xp

    @staticmethod
    def ceiling(dtype):
        """The loss of a sample whose true class got probability 0: ``-log(tiny)`` of ``dtype``
        (a name, ``"float64"``, or a numpy or torch dtype), about 708.4 in float64 and 87.3 in
        float32 and bfloat16. A mean loss near it means the network predicts 0 for the true
        classes: it has diverged, though the floor keeps the loss finite."""
        return float(-np.log(smallest_normal(dtype)))

    def forward(self, Y, Y_hat):
        Y, clipped, xp = self._clipped(Y, Y_hat)
        return self.backend.loss_value(-(Y * xp.log(clipped)).sum() / Y.shape[0])

    def backward(self, Y, Y_hat):
        Y, clipped, _ = self._clipped(Y, Y_hat)
        return -Y / clipped / Y.shape[0]

    def __repr__(self):
        return f"CrossEntropy(label_smoothing={self.label_smoothing!r})" if self.label_smoothing else "CrossEntropy()"


class L2(Loss):
    """Half the squared error per sample, averaged over the batch.

    ``L = (1/m) * sum(0.5 * (Y_hat - Y)**2)``, and ``dL/dY_hat = (Y_hat - Y) / m``.
    """

    name = "l2"

    def forward(self, Y, Y_hat):
        Y, Y_hat = self.as_pair(Y, Y_hat)
        return self.backend.loss_value(0.5 * ((Y_hat - Y) ** 2).sum() / Y.shape[0])

    def backward(self, Y, Y_hat):
        Y, Y_hat = self.as_pair(Y, Y_hat)
        return (Y_hat - Y) / Y.shape[0]

    def __repr__(self):
        return "L2()"
