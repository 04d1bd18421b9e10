"""The swish activation, ``Y = Z * sigmoid(beta * Z)`` (Ramachandran et al., 2017).

With ``beta = 1`` it is the SiLU; as ``beta`` grows it approaches ReLU, and ``beta = 0`` gives
the straight line ``Z / 2``.
"""

import math
import numbers

import numpy as np

from corenn.errors import ConfigError
from corenn.nn.layers import Activation


def as_float_array(array):
    """``array`` as a floating ndarray; float32 stays float32, integers become float64."""
    array = np.asarray(array)
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float64)


def sigmoid(Z):
    """``1 / (1 + exp(-Z))`` from ``exp(-|Z|)``, which never overflows."""
    decay = np.exp(-np.abs(Z))
    return np.where(Z >= 0, 1 / (1 + decay), decay / (1 + decay))


class Swish(Activation):
    """``forward(Z) = Z * s`` and ``dY/dZ = s + beta * Z * s * (1 - s)``, with ``s = sigmoid(beta * Z)``.

    Holds no state besides ``beta``: ``backward`` recomputes ``s`` from ``Z``, so one object
    can serve several layers.
    """

    name = "swish"

    def __init__(self, beta=1.0):
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not math.isfinite(beta):
            raise ConfigError(f"swish: beta must be a finite number (1.0 is the SiLU), got {beta!r}")
        self.beta = float(beta)

    def __repr__(self):
        return f"Swish(beta={self.beta!r})"

    def forward(self, Z):
        Z = as_float_array(Z)
        return Z * sigmoid(self.beta * Z)

    def backward(self, Z, dY):
        Z = as_float_array(Z)
        s = sigmoid(self.beta * Z)
        return as_float_array(dY) * (s + self.beta * Z * s * (1 - s))
