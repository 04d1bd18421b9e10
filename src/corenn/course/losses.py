"""The course's ``losses`` module: corenn's registered losses (``forward(Y, Y_hat)``, the mean over
the batch; ``backward(Y, Y_hat)``, dL/dY_hat)."""

import corenn
from corenn.errors import ConfigError


def _registered_loss(name, course_name):
    # The course stores the name it was created under; corenn's loss carries its own.
    if course_name not in (None, name):
        raise ConfigError(f"the {name} loss is named {name!r}, got name={course_name!r}")
    return corenn.create("loss", name)


def CrossEntropy(name=None):
    return _registered_loss("cross_entropy", name)


def L2(name=None):
    return _registered_loss("l2", name)


LOSSES = {"cross_entropy": CrossEntropy, "l2": L2}


def initialize_loss(name):
    """The loss the course calls ``name``."""
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; the course's losses are: {', '.join(LOSSES)}")
    return LOSSES[name](name)
