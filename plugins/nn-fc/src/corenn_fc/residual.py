"""The residual block (He et al. 2016), ``activation(shortcut(X) + F(X))``, for every backend.

The block itself is the core's :class:`corenn.nn.composite.ResidualBlock`, which only calls its
inner layers and adds what they return; this is the one ``residual`` registered, its inner
layers built on the backend it is built for.
"""

from corenn.nn.composite import ResidualBlock


class Residual(ResidualBlock):
    """The core's residual block (see :class:`ResidualBlock`), on its backend's arrays: inputs
    are taken on the inner layers' device, and ``to(device, dtype)`` moves every inner layer."""

    def _as_input(self, X):
        return self.backend.as_float_array(X, device=self.device)

    def to(self, device=None, dtype=None):
        """Move (or cast) every inner layer, buffers included; returns the layer. The cache is dropped."""
        for _, layer in self._named_layers():
            layer.to(device=device, dtype=dtype)
        self.cache.clear()
        return self
