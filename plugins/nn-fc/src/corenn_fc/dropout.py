"""Dropout (Srivastava et al. 2014), in its inverted form."""

import numbers

import numpy as np

from corenn.errors import ConfigError, ShapeError
from corenn.nn.layers import Layer, build_activation

from corenn_fc.activations import activation_gradient, as_float_array


def checked_rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 <= rate < 1.0:
        raise ConfigError(f"rate must be a number in [0, 1) (the fraction of inputs dropped), got {rate!r}")
    return float(rate)


def keep_mask(rng, shape, rate):
    """A boolean array of ``shape``, each entry True (kept) with probability ``1 - rate``.

    One uniform draw per entry from ``rng``, so the mask is a function of the generator's
    state alone; the torch backend draws the same way on the CPU and so gets the same mask.
    """
    return rng.random(shape) >= rate


class Dropout(Layer):
    """In training mode, zero each input with probability ``rate`` and scale the rest by
    ``1 / (1 - rate)``, so that the expected output is the input; in evaluation mode
    (``training = False``), the identity.

    Scaling at training time (inverted dropout) is what lets evaluation use the layer as it is.
    The mask comes from ``self.rng``, the generator the model spawns from the run's seed, so a
    run is reproducible and a resumed one draws what it would have drawn. No parameters.
    ``activation`` is ``"linear"`` by default, as for every layer, and is applied after the mask.
    """

    name = "dropout"
    example_input_shape = (4, 5)

    def __init__(self, rate=0.5, activation="linear"):
        super().__init__()
        self.rate = checked_rate(rate)
        self.activation = build_activation(activation)
        self.training = True

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return f"Dropout(rate={self.rate!r}, activation={activation!r})"

    def forward(self, X):
        X = as_float_array(X)
        if X.ndim < 1:
            raise ShapeError(f"dropout expects a batch (m, ...), got a scalar of shape {X.shape}")
        self.n_in = self.n_out = X.shape[-1] if X.ndim > 1 else 1
        if self.training and self.rate > 0:
            if self.rng is None:
                self.rng = np.random.default_rng()
            scale = keep_mask(self.rng, X.shape, self.rate).astype(X.dtype) * X.dtype.type(1.0 / (1.0 - self.rate))
            Z = X * scale
        else:
            scale = None
            Z = X
        self.cache["scale"] = scale
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = activation_gradient(self, dLdY)
        scale = self.cache["scale"]
        return dZ if scale is None else dZ * scale
