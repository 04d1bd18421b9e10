"""Helpers for layer authors: turning a layer's ``activation`` and ``weight_init`` options into
objects, the same way for every plugin.

A layer takes an activation as a registered name (``"relu"``) or as an object with
``forward(Z)`` / ``backward(Z, dY)``, and its weight initializer as a registered name (whose
gain then follows the activation: relu sqrt(2), tanh 5/3, else 1) or as a callable
``init(shape, rng)``.
"""

import math
import numbers

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


# Option checks of layers that both backends implement, so the two give the same errors.


def checked_momentum(momentum):
    """batch_norm's ``momentum``: a number in [0, 1]."""
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0.0 <= momentum <= 1.0:
        raise ConfigError(f"momentum must be a number in [0, 1] (the weight of each batch in the running statistics), got {momentum!r}")
    return float(momentum)


def checked_epsilon(epsilon):
    """batch_norm's ``epsilon``: a finite number > 0."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not 0.0 < epsilon < float("inf"):
        raise ConfigError(f"epsilon must be a finite number > 0 (added to the variance), got {epsilon!r}")
    return float(epsilon)


def checked_scale(scale):
    """batch_norm's ``scale``: true or false (a numpy bool too)."""
    import numpy as np  # not at import time: the CLI imports this module to start

    if not isinstance(scale, (bool, np.bool_)):
        raise ConfigError(f"scale must be true or false (whether the layer learns a per-channel scale W), got {scale!r}")
    return bool(scale)


def checked_factor(factor):
    """The ``scale`` layer's ``factor``: required, finite and not 0."""
    if factor is None:
        raise ConfigError("the option factor is required: a finite number other than 0 (what the input is multiplied by)")
    if (
        isinstance(factor, bool)
        or not isinstance(factor, numbers.Real)
        or not math.isfinite(factor)
        or factor == 0
    ):
        raise ConfigError(f"factor must be a finite number other than 0 (what the input is multiplied by), got {factor!r}")
    return float(factor)
