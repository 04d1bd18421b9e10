"""The course's ``optimizers`` module: its SGD over corenn's registered ``sgd``."""

import numpy as np

import corenn
from corenn.course.schedulers import initialize_scheduler
from corenn.errors import ConfigError

__all__ = ["SGD", "initialize_optimizer"]


class SGD:
    """The course's SGD: ``update`` returns the step ``delta`` that the model subtracts.

    For each parameter name the course keeps ``delta = momentum * previous delta + lr * g``,
    with ``g`` the gradient clipped to norm ``clip_norm`` and ``lr = lr_scheduler(epoch)``, and
    its model does ``param -= delta``. That ``update`` *returns* ``delta`` (and leaves ``param``
    alone) is our reading of the course's model, which subtracts what ``update`` gives back.

    The arithmetic is corenn's ``sgd``, whose velocity is ``-delta``: it is asked to step a
    zero array, which then holds the velocity exactly, so the delta is bit for bit the course's.
    """

    def __init__(self, lr, lr_scheduler, momentum=0.0, clip_norm=None, lr_decay=0.9, stage_length=None, staircase=None):
        self.lr = initialize_scheduler(
            lr_scheduler, lr=lr, decay=lr_decay, stage_length=stage_length, staircase=staircase
        )
        self.momentum = 0.0 if momentum is None else momentum
        self.clip_norm = clip_norm
        self._sgd = corenn.create("optimizer", "sgd", lr=lr, momentum=self.momentum, clip_norm=clip_norm)

    def update(self, param_name, param, param_grad, epoch):
        """The step for ``param`` (unchanged) at ``epoch``: ``param -= update(...)`` applies it."""
        self._sgd.lr = self.lr(epoch)
        velocity = self._sgd.update(param_name, np.zeros_like(param), param_grad)
        return -velocity

    @property
    def cache(self):
        """The last delta of each parameter name, as the course keeps them."""
        return {name: -velocity for name, velocity in self._sgd.state["velocity"].items()}

    def __repr__(self):
        return f"SGD(lr_scheduler={self.lr!r}, momentum={self.momentum!r}, clip_norm={self.clip_norm!r})"


def initialize_optimizer(
    name="SGD",
    lr=None,
    lr_scheduler="constant",
    momentum=0.0,
    clip_norm=None,
    lr_decay=0.9,
    staircase=None,
    stage_length=None,
):
    """The optimizer the course calls ``name`` (``"SGD"``, the only one it has)."""
    if not isinstance(name, str) or name.lower() != "sgd":
        raise ConfigError(f"unknown optimizer {name!r}; the course's optimizer is 'SGD'")
    if lr is None:
        raise ConfigError("initialize_optimizer needs lr, the learning rate (a number > 0)")
    return SGD(
        lr=lr,
        lr_scheduler=lr_scheduler,
        momentum=momentum,
        clip_norm=clip_norm,
        lr_decay=lr_decay,
        stage_length=stage_length,
        staircase=staircase,
    )
