"""Inverted dropout on torch tensors."""

import numbers

import numpy as np
import torch

from corenn.errors import ConfigError, ShapeError

from corenn_torch.layer import TorchLayer, build_activation

SEED_BOUND = 2**63  # torch generators take seeds below 2**64; numpy draws int64 below 2**63


def checked_rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0.0 <= rate < 1.0:
        raise ConfigError(f"rate must be a number in [0, 1) (the fraction of inputs dropped), got {rate!r}")
    return float(rate)


def numpy_keep_mask(rng, shape, rate, device):
    """The numpy backend's mask (``rng.random(shape) >= rate``), moved to ``device``."""
    return torch.from_numpy(rng.random(tuple(shape)) >= rate).to(device)


def seeded_keep_mask(generator, seed, shape, rate, device):
    """A mask drawn on ``device`` by ``generator`` reseeded with ``seed``: a function of
    ``seed`` alone, made where it is used."""
    generator.manual_seed(seed)
    return torch.rand(tuple(shape), generator=generator, device=device) >= rate


class Dropout(TorchLayer):
    """Inverted dropout, as on numpy (see ``corenn_fc.dropout``): in training mode each input is
    zeroed with probability ``rate`` and the rest scaled by ``1 / (1 - rate)``; in evaluation
    mode (``training = False``) the identity. No parameters.

    Where the mask comes from: every mask is decided by ``self.rng``, the numpy generator the
    model spawns from the run's seed, so runs are reproducible and resume exactly.

    - On the CPU the mask is drawn with numpy exactly as the numpy layer draws it, so both
      backends drop the same inputs from the same generator (the cross-backend tests rely on it).
    - On any other device (a GPU) drawing ``m * H * W * C`` uniforms with numpy and copying
      them over every step would cost more than the layer itself. Instead one 63-bit seed is
      drawn from ``self.rng`` per forward and a torch generator on the device, reseeded with
      it, draws the mask there. Still a function of ``self.rng``'s state alone, but not the
      numpy backend's mask.
    """

    name = "dropout"
    example_input_shape = (4, 5)

    def __init__(self, rate=0.5, activation="linear"):
        super().__init__()
        self.rate = checked_rate(rate)
        self.activation = build_activation(activation, self.name)
        self.training = True
        self._device_generators = {}

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return f"Dropout(rate={self.rate!r}, activation={activation!r})"

    def _keep_mask(self, X):
        if self.rng is None:
            self.rng = np.random.default_rng()
        if X.device.type == "cpu":
            return numpy_keep_mask(self.rng, X.shape, self.rate, X.device)
        generator = self._device_generators.get(X.device)
        if generator is None:
            generator = self._device_generators[X.device] = torch.Generator(device=X.device)
        seed = int(self.rng.integers(SEED_BOUND))
        return seeded_keep_mask(generator, seed, X.shape, self.rate, X.device)

    def forward(self, X):
        X = self._input(X)
        if X.ndim < 1:
            raise ShapeError(f"dropout expects a batch (m, ...), got a scalar of shape {tuple(X.shape)}")
        self.n_in = self.n_out = X.shape[-1] if X.ndim > 1 else 1
        if self.training and self.rate > 0:
            scale = self._keep_mask(X).to(X.dtype) * (1.0 / (1.0 - self.rate))
            Z = X * scale
        else:
            scale = None
            Z = X
        self.cache["scale"] = scale
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = self._activation_gradient(dLdY)
        scale = self.cache["scale"]
        return dZ if scale is None else dZ * scale
