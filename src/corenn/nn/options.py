"""Checks of the components' numeric options (learning rates, decays, gains), shared so that every
component refuses a bad value with the same words: the option's name, what is allowed, what it got."""

import math
import numbers

from corenn.errors import ConfigError


def finite_number(name, value):
    """``value`` as a float; a ConfigError naming the option unless it is a finite real number
    (``True`` is refused: a config's ``lr = true`` is a mistake, not 1.0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"option {name!r} must be a finite number, got {value!r}")
    return float(value)


def positive_number(name, value):
    """``value`` as a float, a finite number > 0."""
    value = finite_number(name, value)
    if value <= 0:
        raise ConfigError(f"option {name!r} must be > 0, got {value!r}")
    return value
