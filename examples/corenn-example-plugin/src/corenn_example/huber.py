"""The huber loss: squared error near the target, absolute error far from it.

Per entry of a sample, with ``r = Y_hat - Y``::

    0.5 * r**2                      where |r| <= delta
    delta * (|r| - 0.5 * delta)     elsewhere

summed over the sample's entries and averaged over the batch, as corenn's losses are. Its
gradient is ``clip(r, -delta, delta) / m``: an outlier pulls with the force ``delta`` at most,
where the l2 loss pulls with its whole error.

Written once, for every backend: the arithmetic is the array namespace's, the inputs come in
through ``Loss.as_pair`` and the value goes out through ``self.backend.loss_value``.
"""

import math
import numbers

from corenn.backend import array_namespace
from corenn.errors import ConfigError
from corenn.nn.losses import Loss


class Huber(Loss):
    """``mean over the batch of sum over a sample of huber_delta(Y_hat - Y)``; ``dL/dY_hat = clip(Y_hat - Y, -delta, delta) / m``."""

    name = "huber"
    option_values = {"delta": "a finite number > 0 (where the square turns into a straight line)"}

    def __init__(self, delta=1.0):
        if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not 0 < delta < math.inf:
            raise ConfigError(f"delta must be a finite number > 0, got {delta!r}")
        self.delta = float(delta)

    def __repr__(self):
        return f"Huber(delta={self.delta!r})"

    def forward(self, Y, Y_hat):
        Y, Y_hat = self.as_pair(Y, Y_hat)
        xp = array_namespace(Y_hat)
        r = Y_hat - Y
        size = xp.abs(r)
        per_entry = xp.where(size <= self.delta, 0.5 * r * r, self.delta * (size - 0.5 * self.delta))
        return self.backend.loss_value(xp.sum(per_entry) / Y.shape[0])

    def backward(self, Y, Y_hat):
        Y, Y_hat = self.as_pair(Y, Y_hat)
        return (Y_hat - Y).clip(-self.delta, self.delta) / Y.shape[0]
