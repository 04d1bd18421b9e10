"""Dropout (Srivastava et al. 2014), in its inverted form, and its kernel: the keep mask."""

import numbers

import numpy as np

from corenn.backend import array_namespace, device_of
from corenn.errors import ConfigError, ShapeError
from corenn.kernels import kernel
from corenn.nn.layers import Layer, build_activation


def checked_rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 <= rate < 1.0:
        raise ConfigError(f"rate must be a number in [0, 1) (the fraction of inputs dropped), got {rate!r}")
    return float(rate)


@kernel(examples="corenn_fc.kernel_examples:dropout_mask")
def dropout_mask(X, rate, rng):
    """A boolean array of ``X``'s shape on ``X``'s device, each entry True (kept) with
    probability ``1 - rate``: ``rng.random(shape) >= rate``, one uniform draw per entry from the
    numpy generator ``rng``, so the mask is a function of the generator's state alone."""
    keep = rng.random(tuple(X.shape)) >= rate
    return array_namespace(X).asarray(keep, device=device_of(X))


class Dropout(Layer):
    """In training mode, zero each input with probability ``rate`` and scale the rest by
    ``1 / (1 - rate)``, so that the expected output is the input; in evaluation mode
    (``training = False``), the identity.

    Scaling at training time (inverted dropout) is what lets evaluation use the layer as it is.
    No parameters. ``activation`` is ``"linear"`` by default, as for every layer, and is applied
    after the mask.

    Where the mask comes from: every mask is decided by ``self.rng``, the numpy generator the
    model spawns from the run's seed, so a run is reproducible and a resumed one draws what it
    would have drawn. The kernel :func:`dropout_mask` draws it: on numpy, and on torch's CPU,
    ``rng.random(shape) >= rate``, so both backends drop the same inputs from the same generator
    (the cross-backend tests rely on it). On another torch device (a GPU), drawing the uniforms
    with numpy and copying them over every step would cost more than the layer itself; there one
    63-bit seed is drawn from ``self.rng`` per forward and a torch generator on the device,
    reseeded with it, draws the mask: still a function of ``self.rng``'s state alone, but not
    the numpy backend's mask.
    """

    name = "dropout"
    example_input_shape = (4, 5)
    option_values = {"rate": "a number in [0, 1): the fraction of inputs dropped"}  # corenn describe

    def __init__(self, rate=0.5, activation="linear"):
        super().__init__()
        self.rate = checked_rate(rate)
        self.activation = build_activation(activation)
        self.training = True

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return f"Dropout(rate={self.rate!r}, activation={activation!r})"

    def forward(self, X):
        X = self.as_input(X)
        if X.ndim < 1:
            raise ShapeError(f"dropout expects a batch (m, ...), got a scalar of shape {tuple(X.shape)}")
        self.n_in = self.n_out = X.shape[-1] if X.ndim > 1 else 1
        if self.training and self.rate > 0:
            if self.rng is None:
                self.rng = np.random.default_rng()
            keep = dropout_mask(X, self.rate, self.rng)
            Z = X * keep * (1.0 / (1.0 - self.rate))  # the kept inputs scaled by 1 / (1 - rate)
        else:
            keep = None
            Z = X
        self.cache["keep"] = keep
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = self.activation_gradient(dLdY)
        keep = self.cache["keep"]
        return dZ if keep is None else dZ * keep * (1.0 / (1.0 - self.rate))
