"""The residual block (He et al. 2016) on numpy arrays: ``activation(shortcut(X) + F(X))``.

The block itself is the core's :class:`corenn.nn.composite.ResidualBlock`; this backend builds its
inner layers on numpy and takes float arrays.
"""

from corenn.nn.composite import ResidualBlock

from corenn_fc.activations import as_float_array


class Residual(ResidualBlock):
    """The core's residual block, its inner layers built on numpy (see :class:`ResidualBlock`)."""

    backend = "numpy"

    def _as_input(self, X):
        return as_float_array(X)
