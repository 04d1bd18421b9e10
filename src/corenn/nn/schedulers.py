"""Learning-rate schedules: ``scheduler(step)`` is the learning rate for optimizer step ``step``.

Steps count optimizer updates from 0 (not epochs), so a schedule means the same whatever the
batch size's effect on steps per epoch. The trainer builds a scheduler with the optimizer's
learning rate as ``initial_lr`` and sets ``optimizer.lr = scheduler(step)`` before each update.
A scheduler holds no state beyond its options, so a resumed run only needs the step count.
"""

import math
import numbers

from corenn.errors import ConfigError
from corenn.nn.options import positive_number


def _check_step(step):
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ValueError(f"a scheduler's step must be an int >= 0 (optimizer updates so far), got {step!r}")
    return int(step)


class Constant:
    """The same learning rate at every step."""

    def __init__(self, initial_lr):
        self.initial_lr = positive_number("initial_lr", initial_lr)

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
        self.initial_lr = positive_number("initial_lr", initial_lr)
        self.decay = positive_number("decay", decay)
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


def _positive_int(name, value, meaning):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ConfigError(f"option {name!r} must be a positive int ({meaning}), got {value!r}")
    return int(value)


def _cosine_between(start, end, fraction):
    """From ``start`` at ``fraction = 0`` to ``end`` at 1, along half a cosine period."""
    return end + (start - end) * (1.0 + math.cos(math.pi * fraction)) / 2.0


class Cosine:
    """Linear warm-up, then cosine annealing from ``initial_lr`` down to ``min_lr`` (Loshchilov &
    Hutter 2017, without restarts).

    For ``step < warmup_steps``: ``lr = initial_lr * (step + 1) / warmup_steps``, so the first
    update already moves and step ``warmup_steps - 1`` reaches ``initial_lr``. Then, with
    ``t = (step - warmup_steps) / (total_steps - warmup_steps)``:
    ``lr = min_lr + (initial_lr - min_lr) * (1 + cos(pi * t)) / 2``. Steps at or past
    ``total_steps`` hold ``min_lr``.

    ``total_steps`` is the number of updates of the whole run; the trainer fills it in (epochs
    times batches per epoch) when the config leaves it out.
    """

    def __init__(self, initial_lr, total_steps, min_lr=0.0, warmup_steps=0):
        self.initial_lr = positive_number("initial_lr", initial_lr)
        self.total_steps = _positive_int("total_steps", total_steps, "optimizer updates in the whole run")
        if isinstance(min_lr, bool) or not isinstance(min_lr, numbers.Real) or not 0 <= min_lr <= self.initial_lr:
            raise ConfigError(
                f"option 'min_lr' must be a number in [0, initial_lr = {self.initial_lr!r}], got {min_lr!r}"
            )
        self.min_lr = float(min_lr)
        if (
            isinstance(warmup_steps, bool)
            or not isinstance(warmup_steps, numbers.Integral)
            or not 0 <= warmup_steps < self.total_steps
        ):
            raise ConfigError(
                f"option 'warmup_steps' must be an int in [0, total_steps = {self.total_steps}), got {warmup_steps!r}"
            )
        self.warmup_steps = int(warmup_steps)

    def __call__(self, step):
        step = _check_step(step)
        if step < self.warmup_steps:
            return self.initial_lr * (step + 1) / self.warmup_steps
        fraction = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return _cosine_between(self.initial_lr, self.min_lr, fraction)

    def __repr__(self):
        return (
            f"Cosine(initial_lr={self.initial_lr!r}, total_steps={self.total_steps!r}, "
            f"min_lr={self.min_lr!r}, warmup_steps={self.warmup_steps!r})"
        )


def _linear_between(start, end, fraction):
    """From ``start`` at ``fraction = 0`` to ``end`` at 1, along a straight line."""
    return start + (end - start) * fraction


ANNEALING = {"cos": _cosine_between, "linear": _linear_between}


class OneCycle:
    """The one-cycle policy (Smith & Topin 2018) with torch's ``OneCycleLR`` semantics
    (``three_phase=False``); ``initial_lr`` is the peak (torch's ``max_lr``).

    The rate starts at ``initial_lr / div_factor``, rises to ``initial_lr`` at step
    ``pct_start * total_steps - 1``, then falls to ``initial_lr / div_factor / final_div_factor``
    at step ``total_steps - 1``. Steps past the end hold that final rate (torch raises instead).
    Momentum is not cycled: corenn's optimizers keep theirs fixed.

    ``anneal`` is how each phase goes from one end to the other, torch's ``anneal_strategy``:
    ``"cos"`` (the default) along half a cosine, slow at both ends; ``"linear"`` along a
    straight line, the triangular schedule airbench uses (rising from near zero, falling to
    near zero), which spends more steps at high rates.
    """

    def __init__(self, initial_lr, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4, anneal="cos"):
        self.initial_lr = positive_number("initial_lr", initial_lr)
        self.total_steps = _positive_int("total_steps", total_steps, "optimizer updates in the whole run")
        if isinstance(pct_start, bool) or not isinstance(pct_start, numbers.Real) or not 0 < pct_start < 1:
            raise ConfigError(
                f"option 'pct_start' must be a number in (0, 1) (the rising part of the cycle), got {pct_start!r}"
            )
        self.pct_start = float(pct_start)
        self.div_factor = positive_number("div_factor", div_factor)
        self.final_div_factor = positive_number("final_div_factor", final_div_factor)
        if not isinstance(anneal, str) or anneal not in ANNEALING:
            raise ConfigError(f"option 'anneal' must be one of {', '.join(map(repr, ANNEALING))}, got {anneal!r}")
        self.anneal = anneal
        self.start_lr = self.initial_lr / self.div_factor
        self.final_lr = self.start_lr / self.final_div_factor
        self.peak_step = self.pct_start * self.total_steps - 1
        if not 0 < self.peak_step < self.total_steps - 1:
            raise ConfigError(
                f"one_cycle: pct_start * total_steps - 1 = {self.peak_step:g} (the peak's step) must lie strictly "
                f"between 0 and total_steps - 1 = {self.total_steps - 1}; use more total_steps or another pct_start"
            )

    def __call__(self, step):
        step = min(_check_step(step), self.total_steps - 1)
        between = ANNEALING[self.anneal]
        if step <= self.peak_step:
            return between(self.start_lr, self.initial_lr, step / self.peak_step)
        fraction = (step - self.peak_step) / (self.total_steps - 1 - self.peak_step)
        return between(self.initial_lr, self.final_lr, fraction)

    def __repr__(self):
        return (
            f"OneCycle(initial_lr={self.initial_lr!r}, total_steps={self.total_steps!r}, pct_start={self.pct_start!r}, "
            f"div_factor={self.div_factor!r}, final_div_factor={self.final_div_factor!r}, anneal={self.anneal!r})"
        )
