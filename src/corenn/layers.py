"""Helpers for layer authors: turning a layer's ``activation`` and ``weight_init`` options into
objects, the same way for every plugin.

A layer takes an activation as a registered name (``"relu"``) or as an object with
``forward(Z)`` / ``backward(Z, dY)``, and its weight initializer as a registered name (whose
gain then follows the activation: relu sqrt(2), tanh 5/3, else 1) or as a callable
``init(shape, rng)``.
"""

from corenn.errors import ConfigError
from corenn.protocols import Activation


def build_activation(activation, backend="numpy"):
    """An activation object from its registered name, or the object itself when given one."""
    from corenn.plugins import create

    if isinstance(activation, str):
        return create("activation", activation, backend)
    if not isinstance(activation, Activation):
        raise ConfigError(
            "activation must be an activation name (see `corenn plugins`) or an object with "
            f"forward(Z) and backward(Z, dY), got {activation!r}"
        )
    return activation


def activation_name(activation):
    """The registered name of an activation object (its ``name``, else its class name)."""
    return getattr(activation, "name", type(activation).__name__.lower())


def build_initializer(weight_init, activation, backend="numpy"):
    """``init(shape, rng)`` from a registered initializer name, its gain chosen for the layer's
    activation (an object or a name), or the callable itself when given one."""
    from corenn.plugins import create

    if isinstance(weight_init, str):
        name = activation if isinstance(activation, str) else activation_name(activation)
        return create("initializer", weight_init, backend, activation=name)
    if not callable(weight_init):
        raise ConfigError(
            "weight_init must be an initializer name (see `corenn plugins`) or a callable "
            f"init(shape, rng), got {weight_init!r}"
        )
    return weight_init
