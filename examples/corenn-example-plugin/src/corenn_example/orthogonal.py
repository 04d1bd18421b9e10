"""The orthogonal initializer (Saxe et al. 2014): weights whose columns (or rows) are orthonormal,
times a gain.

An initializer is registered as a factory ``orthogonal(activation=None, **options)``: the layer
passes its activation (for the gain) and the config's options, and gets back ``init(shape,
rng)``, which draws a float64 numpy array of ``shape`` from the numpy Generator ``rng``. Layers
turn it into their backend's array in their dtype, so one seed gives the same weights on every
backend.
"""

import math
import numbers

import numpy as np

from corenn.errors import ConfigError, ShapeError
from corenn.nn.initializers import calculate_gain


def orthogonal(activation=None, gain=None):
    """Orthonormal columns (or rows, whichever are fewer) times ``gain``, by default the layer's
    activation's (relu sqrt(2), tanh 5/3, else 1). A convolution kernel ``(kh, kw, C_in, C_out)``
    is made as the matrix ``(kh * kw * C_in, C_out)``."""
    if gain is None:
        gain = calculate_gain(activation)
    elif isinstance(gain, bool) or not isinstance(gain, numbers.Real) or not 0 < gain < math.inf:
        raise ConfigError(f"gain must be a finite number > 0, got {gain!r}")

    def init(shape, rng):
        shape = tuple(int(size) for size in shape)
        if len(shape) < 2 or 0 in shape:
            raise ShapeError(f"orthogonal needs a weight of 2 or more non-empty axes, got shape {shape}")
        rows, columns = math.prod(shape[:-1]), shape[-1]
        normal = np.random.default_rng(rng).standard_normal((max(rows, columns), min(rows, columns)))
        q, r = np.linalg.qr(normal)
        q = q * np.sign(np.diag(r))  # the signs that make the draw uniform over orthogonal matrices
        matrix = q if rows >= columns else q.T
        return float(gain) * matrix.reshape(shape)

    return init
