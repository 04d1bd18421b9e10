"""The course's ``schedulers`` module: corenn's registered schedulers, called with the epoch.

corenn's schedulers are functions of a step count; the course's model passes the epoch, so
``decay`` then acts once per ``stage_length`` epochs. Each name is a class (see
:mod:`corenn.course._registered`): ``Constant(lr)`` is corenn's registered ``constant``
scheduler, and ``isinstance(x, Constant)`` holds for it.
"""

import corenn
from corenn.course._registered import RegisteredComponent
from corenn.errors import ConfigError

__all__ = ["Constant", "Exponential", "initialize_scheduler"]


class Constant(RegisteredComponent):
    """``lr`` at every epoch."""

    kind, registered_name = "scheduler", "constant"

    def __new__(cls, lr):
        return corenn.create("scheduler", "constant", initial_lr=lr)


class Exponential(RegisteredComponent):
    """``lr * decay ** (epoch / stage_length)``; with ``staircase`` the exponent is floored.

    ``staircase=None`` (the course's default) means False.
    """

    kind, registered_name = "scheduler", "exponential"

    def __new__(cls, lr, decay, stage_length, staircase):
        return corenn.create(
            "scheduler",
            "exponential",
            initial_lr=lr,
            decay=decay,
            stage_length=stage_length,
            staircase=False if staircase is None else staircase,
        )


SCHEDULERS = ("constant", "exponential")


def initialize_scheduler(name, lr, decay=None, stage_length=None, staircase=None):
    """The schedule the course calls ``name``; ``constant`` ignores the exponential's options."""
    if name == "constant":
        return Constant(lr)
    if name == "exponential":
        return Exponential(lr, decay, stage_length, staircase)
    raise ConfigError(f"unknown lr_scheduler {name!r}; the course's schedulers are: {', '.join(SCHEDULERS)}")
