"""The course's ``weights`` module: corenn's registered initializers, called as ``init(shape)``
and drawing from numpy's global random state.

The formulas are corenn's (:mod:`corenn.nn.initializers`), whose fan-in for a convolution kernel
``(kh, kw, C_in, C_out)`` is ``kh * kw * C_in`` as in PyTorch, where the course used
``shape[0]``.
"""

import corenn
from corenn.course._random import global_state_generator
from corenn.errors import ConfigError

FAN_MODES = ("fan_in", "fan_out")
INITIALIZERS_WITH_MODE = ("he_uniform", "he_normal")


class CourseInitializer:
    """An initializer the course calls as ``init(shape)`` and a corenn layer as ``init(shape, rng)``.

    Either way it draws from numpy's global random state, as the course's do: a layer's ``rng``
    is not used, so that ``np.random.seed`` alone makes a course model reproducible.
    """

    def __init__(self, name, activation, mode, init):
        self.name = name
        self.activation = activation
        self.mode = mode
        self._init = init

    def __call__(self, shape, rng=None):
        return self._init(shape, global_state_generator())

    def __repr__(self):
        mode = f", mode={self.mode!r}" if self.name in INITIALIZERS_WITH_MODE else ""
        return f"initialize_weights({self.name!r}, activation={self.activation!r}{mode})"


def initialize_weights(name, activation=None, mode="fan_in"):
    """The registered initializer ``name`` with its gain chosen for ``activation``.

    ``mode`` (``"fan_in"`` or ``"fan_out"``) is the fan that ``he_uniform`` and ``he_normal``
    scale by; the other initializers have no fan mode.
    """
    if mode not in FAN_MODES:
        raise ConfigError(f"initialize_weights: mode must be one of {', '.join(map(repr, FAN_MODES))}, got {mode!r}")
    options = {"activation": activation}
    if name in INITIALIZERS_WITH_MODE:
        options["mode"] = mode
    elif mode != "fan_in":
        raise ConfigError(
            f"initialize_weights: mode={mode!r} applies to {' and '.join(INITIALIZERS_WITH_MODE)} only, "
            f"not to {name!r}; leave mode at 'fan_in'"
        )
    return CourseInitializer(name, activation, mode, corenn.create("initializer", name, **options))
