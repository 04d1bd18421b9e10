"""Helpers for layer authors: the ``Layer`` base class with the course's API, and turning a
layer's ``activation`` and ``weight_init`` options into objects, the same way for every plugin.

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
from collections import OrderedDict

from corenn.errors import ConfigError
from corenn.protocols import Activation as ActivationProtocol


class Layer:
    """The course package's ``Layer``: the tables every layer has, and the methods the course's
    models and gradient checks call. Every layer of every backend derives from it, and so
    should a plugin's (``corenn.testing.check_layer_conformance`` checks this API).

    A subclass sets its options in ``__init__`` (after ``super().__init__()``), makes its
    parameters in ``_init_parameters(X_shape, ...)`` at the first forward by calling
    :meth:`_make_parameters`, and implements ``forward(X)`` (filling ``cache``) and
    ``backward(dLdY)`` (filling ``gradients``, returning dL/dX).

    Works on numpy arrays and on torch tensors alike (it imports neither), so the torch
    backend's layers derive from it too.
    """

    name = "layer"

    def __init__(self):
        self.activation = None
        self.n_in = None
        self.n_out = None
        self.rng = None  # a numpy Generator for the initial weights; None draws from fresh OS entropy
        self.parameters = OrderedDict()
        self.gradients = OrderedDict()
        self.cache = OrderedDict()

    def _make_parameters(self, **arrays):
        """Store freshly made parameters, in the order given (weights ``W`` before bias ``b``),
        with zero gradients of the same keys, shapes and dtypes, as the course's layers have
        from the moment their parameters exist."""
        self.parameters.update(arrays)
        for key, value in arrays.items():
            self.gradients[key] = _zeros_like(value)

    def clear_gradients(self):
        """The course's reset after an update: every cache entry becomes an empty list and every
        gradient zeros (the tables keep their keys)."""
        for key in self.cache:
            self.cache[key] = []
        for key, value in self.gradients.items():
            self.gradients[key] = _zeros_like(value)

    def forward_with_param(self, param_name, X):
        """A function of one parameter's value: ``f(value)`` sets ``parameters[param_name]`` to
        it and returns ``forward(X)``. The course's gradient checks differentiate it."""

        def forward_at(param_value):
            self.parameters[param_name] = param_value
            return self.forward(X)

        return forward_at

    def _get_parameters(self):
        return list(self.parameters.values())

    def _get_cache(self):
        return list(self.cache.values())

    def _get_gradients(self):
        return list(self.gradients.values())


class Activation:
    """Base of the activations: calling one is its ``forward``, as in the course package
    (``relu(Z)``). A subclass implements ``forward(Z)`` and ``backward(Z, dY)``."""

    def __call__(self, Z):
        return self.forward(Z)


def _zeros_like(value):
    """Zeros of ``value``'s shape, dtype (and device): a torch tensor has ``new_zeros``."""
    if hasattr(value, "new_zeros"):
        return value.new_zeros(value.shape)
    import numpy as np  # not at import time: the CLI imports this module to start

    return np.zeros_like(value)


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
    if not isinstance(activation, ActivationProtocol):
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
        if activation is None or (
            not isinstance(activation, (str, dict)) and isinstance(activation, ActivationProtocol)
        ):
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
        raise ConfigError(
            f"momentum must be a number in [0, 1] (the weight of each batch in the running statistics), got {momentum!r}"
        )
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
        raise ConfigError(
            f"scale must be true or false (whether the layer learns a per-channel scale W), got {scale!r}"
        )
    return bool(scale)


def checked_factor(factor):
    """The ``scale`` layer's ``factor``: required, finite and not 0."""
    if factor is None:
        raise ConfigError(
            "the option factor is required: a finite number other than 0 (what the input is multiplied by)"
        )
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not math.isfinite(factor) or factor == 0:
        raise ConfigError(
            f"factor must be a finite number other than 0 (what the input is multiplied by), got {factor!r}"
        )
    return float(factor)


FLATTEN_KEEP_DIMS = ("first", "last", -1)


def checked_keep_dim(keep_dim):
    """flatten's ``keep_dim``: ``"first"``, ``"last"`` or ``-1`` (the course's three)."""
    if isinstance(keep_dim, bool) or keep_dim not in FLATTEN_KEEP_DIMS:
        raise ConfigError(
            'keep_dim must be "first" (m, ...) -> (m, -1), "last" (..., n) -> (-1, n), or -1 '
            f"(everything in one row, (1, -1)), got {keep_dim!r}"
        )
    return keep_dim


def flattened_shape(shape, keep_dim):
    """The shape ``flatten`` turns an input of ``shape`` into, for a checked ``keep_dim``."""
    if keep_dim == "first":
        return (shape[0], math.prod(shape[1:]))
    if keep_dim == "last":
        return (math.prod(shape[:-1]), shape[-1])
    return (1, math.prod(shape))
