"""Helpers for layer authors: turning a layer's ``activation`` and ``weight_init`` options into
objects, the same way for every plugin.

A layer takes an activation as a registered name (``"relu"``), as a table of a name and the
activation's options (``{"name": "leaky_relu", "slope": 0.1}``, what a config's
``activation = { name = "leaky_relu", slope = 0.1 }`` gives) or as an object with
``forward(Z)`` / ``backward(Z, dY)``. Its weight initializer is a registered name, a table
(``{"name": "uniform", "low": -0.1, "high": 0.1}``) or a callable ``init(shape, rng)``; a
registered one's gain follows the layer's activation (its ``gain`` attribute, see
:func:`corenn.initializers.calculate_gain`).
"""

import math
import numbers

from corenn.errors import ConfigError
from corenn.protocols import Activation


def component_table(value, option, example):
    """``(name, options)`` of a name or a ``{name = ..., **options}`` table given as ``option``;
    ``None`` for anything else (an object the caller checks itself)."""
    if isinstance(value, str):
        return value, {}
    if not isinstance(value, dict):
        return None
    options = dict(value)
    name = options.pop("name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(
            f"{option} as a table needs the registered name of the component, such as {example}; got {value!r}"
        )
    return name, options


def build_activation(activation, backend="numpy"):
    """An activation object from its registered name or its table, or the object itself."""
    from corenn.plugins import create

    table = component_table(activation, "activation", '{ name = "leaky_relu", slope = 0.1 }')
    if table is not None:
        return create("activation", table[0], backend, **table[1])
    if not isinstance(activation, Activation):
        raise ConfigError(
            "activation must be an activation name (see `corenn plugins`), a table such as "
            '{ name = "leaky_relu", slope = 0.1 }, or an object with forward(Z) and backward(Z, dY), '
            f"got {activation!r}"
        )
    return activation


def activation_name(activation):
    """The registered name of an activation object (its ``name``, else its class name)."""
    return getattr(activation, "name", type(activation).__name__.lower())


def build_initializer(weight_init, activation, backend="numpy"):
    """``init(shape, rng)`` from a registered initializer's name or table, its gain chosen for
    the layer's ``activation`` (an object, a name or a table), or the callable itself."""
    from corenn.plugins import create

    table = component_table(weight_init, "weight_init", '{ name = "uniform", low = -0.1, high = 0.1 }')
    if table is not None:
        name, options = table
        if "activation" in options:
            raise ConfigError(
                "weight_init has no option 'activation': the gain follows the layer's own activation; "
                "set gain = <number> to choose another"
            )
        if activation is None or (not isinstance(activation, (str, dict)) and isinstance(activation, Activation)):
            activation_object = activation
        else:
            activation_object = build_activation(activation, backend)
        try:
            return create("initializer", name, backend, activation=activation_object, **options)
        except ConfigError as exc:
            raise type(exc)(f"weight_init: {exc}") from exc
    if not callable(weight_init):
        raise ConfigError(
            "weight_init must be an initializer name (see `corenn plugins`), a table such as "
            f'{{ name = "uniform", low = -0.1, high = 0.1 }}, or a callable init(shape, rng), got {weight_init!r}'
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
