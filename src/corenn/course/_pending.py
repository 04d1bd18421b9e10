"""Bridges to what issue 9 parts 1 and 2 add to corenn's layers, for a corenn that predates them.

The facade is written against that contract: every layer has the course's ``Layer`` API
(``clear_gradients``, ``forward_with_param``, ``_get_parameters`` / ``_get_cache`` /
``_get_gradients``, zero-filled ``gradients`` once its parameters exist, and
``_init_parameters(X_shape)``), numpy layers derive from ``corenn.layers.Layer``, ``flatten``
takes ``keep_dim``, and ``he_uniform`` / ``he_normal`` take ``mode``. Each bridge here first
asks whether corenn already has the feature and, when it does, steps aside, so on a corenn with
the contract in place nothing in this module changes any behaviour.

Once those parts have landed, delete this module: import ``Layer`` from ``corenn.layers``,
replace ``with_course_api(layer)`` by ``layer`` and ``supported_options(...)`` by the options.
"""

from collections import OrderedDict

import numpy as np

import corenn.layers
from corenn.errors import ConfigError
from corenn.plugins import get_registry
from corenn.registry import option_names

LAYER_API_LANDED = hasattr(corenn.layers, "Layer")


class CourseLayerAPI:
    """The course's ``Layer`` methods, for layers that lack them (see the module docstring)."""

    def clear_gradients(self):
        """Empty every cache entry (to ``[]``) and zero every gradient, as the course does after
        each update."""
        self.cache = OrderedDict((key, []) for key in self.cache)
        self.gradients = OrderedDict((key, np.zeros_like(value)) for key, value in self.gradients.items())

    def forward_with_param(self, param_name, X):
        """A function of one parameter's value that sets it and returns ``forward(X)``: what the
        course's gradient checks differentiate numerically."""

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


Layer = corenn.layers.Layer if LAYER_API_LANDED else CourseLayerAPI


class _LayerAdapter(CourseLayerAPI):
    """A registered layer seen through the course's API: reads and writes go to the layer."""

    def __init__(self, layer):
        object.__setattr__(self, "_layer", layer)

    def __getattr__(self, name):
        if name == "_layer":  # not set yet (copy, pickle): nothing to delegate to
            raise AttributeError(name)
        return getattr(self._layer, name)

    def __setattr__(self, name, value):
        setattr(self._layer, name, value)

    def __repr__(self):
        return repr(self._layer)

    def forward(self, X):
        Y = self._layer.forward(X)
        self._zero_gradients_once_made()
        return Y

    def _init_parameters(self, X_shape):
        # A layer from before the contract takes (n_in, dtype); n_in is X_shape's last axis for
        # both fully_connected (m, n_in) and conv2d (m, H, W, C_in).
        n_in = X_shape[-1]
        self._layer._init_parameters(n_in, np.float64)
        self._layer.n_in = n_in
        self._zero_gradients_once_made()

    def _zero_gradients_once_made(self):
        if self.parameters and list(self.gradients) != list(self.parameters):
            self.gradients = OrderedDict((key, np.zeros_like(value)) for key, value in self.parameters.items())


def with_course_api(layer):
    """``layer`` itself when it has the course's API, else the layer behind an adapter that adds it."""
    return layer if hasattr(layer, "clear_gradients") else _LayerAdapter(layer)


def supported_options(kind, name, options, course_defaults):
    """``options`` less the ones the registered component does not take yet, which may only be
    dropped while they hold the course's default (what the component does without them)."""
    accepted = option_names(get_registry().get(kind, name).load())
    kept = {}
    for option, value in options.items():
        if accepted is None or option in accepted:
            kept[option] = value
        elif value != course_defaults[option]:
            raise ConfigError(
                f"{kind} {name!r}: {option}={value!r} needs a corenn with issue 9 part 2; this one only "
                f"does {option}={course_defaults[option]!r}"
            )
    return kept
