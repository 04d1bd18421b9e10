"""The course's ``losses`` module: corenn's registered losses (``forward(Y, Y_hat)``, the mean over
the batch; ``backward(Y, Y_hat)``, dL/dY_hat).

Each name is a class (see :mod:`corenn.course._registered`): ``CrossEntropy()`` is corenn's
registered ``cross_entropy`` loss, and ``isinstance(x, CrossEntropy)`` holds for it. ``Loss`` is
the base every loss derives from.
"""

import corenn
from corenn.course._registered import RegisteredComponent
from corenn.errors import ConfigError
from corenn.nn.losses import Loss

__all__ = ["L2", "CrossEntropy", "Loss", "initialize_loss"]


class _CourseLoss(RegisteredComponent):
    kind = "loss"

    def __new__(cls, name=None):
        # The course stores the name it was created under; corenn's loss carries its own.
        if name not in (None, cls.registered_name):
            raise ConfigError(f"the {cls.registered_name} loss is named {cls.registered_name!r}, got name={name!r}")
        return corenn.create("loss", cls.registered_name)


class CrossEntropy(_CourseLoss):
    """``-sum(Y * log(Y_hat)) / m``: the mean over the batch of minus the log-probability of the true class."""

    registered_name = "cross_entropy"


class L2(_CourseLoss):
    """``sum((Y - Y_hat) ** 2) / (2 m)``: the mean over the batch of half the squared error."""

    registered_name = "l2"


LOSSES = {"cross_entropy": CrossEntropy, "l2": L2}


def initialize_loss(name):
    """The loss the course calls ``name``."""
    if name not in LOSSES:
        raise ConfigError(f"unknown loss {name!r}; the course's losses are: {', '.join(LOSSES)}")
    return LOSSES[name](name)
