"""The course's ``activations`` module: corenn's registered activations under the course's names.

Each name is a class (see :mod:`corenn.course._registered`): ``ReLU()`` is corenn's registered
``relu`` activation (``forward(Z)``, ``backward(Z, dY)``, callable as ``forward``), and
``isinstance(x, ReLU)`` holds for it. ``Activation`` is the base every activation derives from.
"""

import corenn
from corenn.course._registered import RegisteredComponent
from corenn.errors import ConfigError
from corenn.nn.layers import Activation

__all__ = ["Activation", "ArcTan", "Linear", "ReLU", "Sigmoid", "SoftMax", "TanH", "initialize_activation"]


class _CourseActivation(RegisteredComponent):
    kind = "activation"

    def __new__(cls):
        return corenn.create("activation", cls.registered_name)


class Linear(_CourseActivation):
    """``f(z) = z``."""

    registered_name = "linear"


class Sigmoid(_CourseActivation):
    """``f(z) = 1 / (1 + exp(-z))``."""

    registered_name = "sigmoid"


class TanH(_CourseActivation):
    """``f(z) = tanh(z)``."""

    registered_name = "tanh"


class ArcTan(_CourseActivation):
    """``f(z) = arctan(z)``."""

    registered_name = "arctan"


class ReLU(_CourseActivation):
    """``f(z) = max(z, 0)``."""

    registered_name = "relu"


class SoftMax(_CourseActivation):
    """``f(z)_i = exp(z_i) / sum_j exp(z_j)``, over each row."""

    registered_name = "softmax"


ACTIVATIONS = {"linear": Linear, "sigmoid": Sigmoid, "tanh": TanH, "arctan": ArcTan, "relu": ReLU, "softmax": SoftMax}


def initialize_activation(name):
    """The activation the course calls ``name``."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; the course's activations are: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()
