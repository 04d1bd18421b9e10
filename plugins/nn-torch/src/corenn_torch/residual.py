"""The residual block on torch tensors: ``activation(shortcut(X) + F(X))``, as on numpy.

The block itself is the core's :class:`corenn.nn.composite.ResidualBlock`; this backend builds its
inner layers on torch, takes tensors on the inner layers' device, and adds ``to(device)``
moving them all.
"""

from corenn.nn.composite import ResidualBlock

from corenn_torch.layer import BACKEND, build_activation
from corenn_torch.tensors import as_float_tensor


class Residual(ResidualBlock):
    """The core's residual block on torch tensors, its inner layers built on torch (see
    :class:`ResidualBlock`); ``to(device)`` moves them all."""

    backend = BACKEND

    def _build_activation(self, activation):
        return build_activation(activation, self.name)

    def _as_input(self, X):
        return as_float_tensor(X, device=self.device)

    @property
    def device(self):
        """The device of the inner layers' parameters (``None`` before they are made)."""
        for value in self.parameters.values():
            return value.device
        return None

    def to(self, device=None, dtype=None):
        """Move (or cast) every inner layer; returns the layer. The cache is dropped."""
        for _, layer in self._named_layers():
            layer.to(device=device, dtype=dtype)
        self.cache.clear()
        return self
