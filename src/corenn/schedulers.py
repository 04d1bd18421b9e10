"""Learning-rate schedules: ``scheduler(step)`` is the learning rate for optimizer step ``step``.

Steps count optimizer updates from 0 (not epochs), so a schedule means the same whatever the
batch size's effect on steps per epoch. The trainer builds a scheduler with the optimizer's
learning rate as ``initial_lr`` and sets ``optimizer.lr = scheduler(step)`` before each update.
A scheduler holds no state beyond its options, so a resumed run only needs the step count.
"""

import math
import numbers

from corenn.errors import ConfigError


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"option {name!r} must be a finite number > 0, got {value!r}")
    return float(value)


def _check_step(step):
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ValueError(f"a scheduler's step must be an int >= 0 (optimizer updates so far), got {step!r}")
    return int(step)


class Constant:
    """The same learning rate at every step."""

    def __init__(self, initial_lr):
        self.initial_lr = _positive("initial_lr", initial_lr)

    def __call__(self, step):
        _check_step(step)
        return self.initial_lr

    def __repr__(self):
        return f"Constant(initial_lr={self.initial_lr!r})"


class Exponential:
    """``lr = initial_lr * decay ** (step / stage_length)``: ``decay`` times smaller every stage.

    With ``staircase`` the exponent is ``floor(step / stage_length)``, so the rate holds for a
    whole stage of ``stage_length`` steps and drops at each stage's first step; without it the
    rate falls smoothly, passing through the same values at stage boundaries.
    """

    def __init__(self, initial_lr, decay=0.1, stage_length=500, staircase=False):
        self.initial_lr = _positive("initial_lr", initial_lr)
        self.decay = _positive("decay", decay)
        if self.decay > 1:
            raise ConfigError(f"option 'decay' must be in (0, 1] (1 keeps the rate constant), got {decay!r}")
        if isinstance(stage_length, bool) or not isinstance(stage_length, numbers.Integral) or stage_length <= 0:
            raise ConfigError(f"option 'stage_length' must be a positive int (steps per stage), got {stage_length!r}")
        self.stage_length = int(stage_length)
        if not isinstance(staircase, bool):
            raise ConfigError(f"option 'staircase' must be true or false, got {staircase!r}")
        self.staircase = staircase

    def __call__(self, step):
        step = _check_step(step)
        exponent = step // self.stage_length if self.staircase else step / self.stage_length
        return self.initial_lr * self.decay**exponent

    def __repr__(self):
        return (
            f"Exponential(initial_lr={self.initial_lr!r}, decay={self.decay!r}, "
            f"stage_length={self.stage_length!r}, staircase={self.staircase!r})"
        )
