"""The step_decay schedule: the learning rate times ``gamma`` every ``step_size`` updates.

A scheduler is a callable ``scheduler(step) -> lr`` of the number of updates so far (from 0).
The trainer builds it with ``initial_lr``, the optimizer's ``lr`` from the config (a config
may not set it), and sets ``optimizer.lr = scheduler(step)`` before each update. It holds no
state but its options, so a resumed run needs nothing of it but the step count.
"""

import math
import numbers

from corenn.errors import ConfigError


class StepDecay:
    """``lr = initial_lr * gamma ** (step // step_size)``: constant for ``step_size`` updates,
    then ``gamma`` times smaller, and so on (torch's ``StepLR``, counted in updates)."""

    name = "step_decay"
    option_values = {"gamma": "a number in (0, 1]", "step_size": "a positive integer (updates per stage)"}

    def __init__(self, initial_lr, gamma=0.5, step_size=100):
        for option, value, upper in (("initial_lr", initial_lr, math.inf), ("gamma", gamma, 1.0)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value <= upper:
                raise ConfigError(f"{option} must be a number in (0, {upper}], got {value!r}")
        if isinstance(step_size, bool) or not isinstance(step_size, numbers.Integral) or step_size < 1:
            raise ConfigError(f"step_size must be a positive integer (updates per stage), got {step_size!r}")
        self.initial_lr, self.gamma, self.step_size = float(initial_lr), float(gamma), int(step_size)

    def __call__(self, step):
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(f"a scheduler's step must be an int >= 0 (updates so far), got {step!r}")
        return self.initial_lr * self.gamma ** (int(step) // self.step_size)

    def __repr__(self):
        return f"StepDecay(initial_lr={self.initial_lr!r}, gamma={self.gamma!r}, step_size={self.step_size!r})"
