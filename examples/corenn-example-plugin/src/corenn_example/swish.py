"""The swish activation, ``Y = Z * sigmoid(beta * Z)`` (Ramachandran et al., 2017).

With ``beta = 1`` it is the SiLU; as ``beta`` grows it approaches ReLU, and ``beta = 0`` gives
the straight line ``Z / 2``.

Written once, for every backend corenn has: the arithmetic uses the array namespace of its input
(:func:`corenn.backend.array_namespace`: numpy's functions for numpy arrays, torch's for
tensors), and inputs come in through the backend object's ``as_float_array``. No line here
names numpy or torch, so the plugin is registered for backend ``"any"``.
"""

import math
import numbers

from corenn.backend import array_namespace, device_of
from corenn.errors import ConfigError
from corenn.nn.layers import Activation


def sigmoid(Z):
    """``1 / (1 + exp(-Z))`` from ``exp(-|Z|)``, which never overflows."""
    xp = array_namespace(Z)
    decay = xp.exp(-xp.abs(Z))
    return xp.where(Z >= 0, 1 / (1 + decay), decay / (1 + decay))


class Swish(Activation):
    """``forward(Z) = Z * s`` and ``dY/dZ = s + beta * Z * s * (1 - s)``, with ``s = sigmoid(beta * Z)``.

    Holds no state besides ``beta``: ``backward`` recomputes ``s`` from ``Z``, so one object
    can serve several layers. Floating inputs keep their dtype (float32 stays float32);
    integers become float64.
    """

    name = "swish"

    def __init__(self, beta=1.0):
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not math.isfinite(beta):
            raise ConfigError(f"swish: beta must be a finite number (1.0 is the SiLU), got {beta!r}")
        self.beta = float(beta)

    def __repr__(self):
        return f"Swish(beta={self.beta!r})"

    def forward(self, Z):
        Z = self.backend.as_float_array(Z)
        return Z * sigmoid(self.beta * Z)

    def backward(self, Z, dY):
        Z = self.backend.as_float_array(Z)
        dY = self.backend.as_float_array(dY, device=device_of(Z))
        s = sigmoid(self.beta * Z)
        return dY * (s + self.beta * Z * s * (1 - s))
