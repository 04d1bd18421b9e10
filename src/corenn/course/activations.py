"""The course's ``activations`` module: corenn's registered activations under the course's names.

Each name builds the registered activation (``forward(Z)``, ``backward(Z, dY)``, callable as
``forward``).
"""

import corenn
from corenn.errors import ConfigError


def Linear():
    return corenn.create("activation", "linear")


def Sigmoid():
    return corenn.create("activation", "sigmoid")


def TanH():
    return corenn.create("activation", "tanh")


def ArcTan():
    return corenn.create("activation", "arctan")


def ReLU():
    return corenn.create("activation", "relu")


def SoftMax():
    return corenn.create("activation", "softmax")


ACTIVATIONS = {"linear": Linear, "sigmoid": Sigmoid, "tanh": TanH, "arctan": ArcTan, "relu": ReLU, "softmax": SoftMax}


def initialize_activation(name):
    """The activation the course calls ``name``."""
    if name not in ACTIVATIONS:
        raise ConfigError(f"unknown activation {name!r}; the course's activations are: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()
