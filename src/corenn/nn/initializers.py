"""Weight initializers: the course package's names, torch.nn.init's formulas.

Each registered name is a factory ``name(activation=None, **options)`` that checks its options
once and returns ``init(shape, rng) -> ndarray`` (float64; the layer casts to its input's dtype)::

    init = corenn.create("initializer", "he_normal", activation="relu")
    W = init((784, 128), np.random.default_rng(0))

Layers always pass their activation (the object, whose ``gain`` is used; a registered name works
too), so every factory accepts ``activation``; the ones that do not scale by a gain (zeros, ones,
constant, uniform, normal, sparse) ignore it.
``rng`` is a ``numpy.random.Generator`` (a seed, or ``None`` for fresh entropy, also works).

Defaults are the course package's: ``uniform`` on [-1, 1), ``normal`` with mean 0 and std 1,
``constant`` 0.5, ``sparse`` with sparsity 0.1 and std 0.01; each is an option
(``low``/``high``, ``mean``/``std``, ``value``, ``sparsity``/``std``).

Fans follow torch for weights laid out ``(n_in, n_out)`` and conv kernels
``(kh, kw, C_in, C_out)``: ``receptive = prod(shape[:-2])``, ``fan_in = shape[-2] * receptive``,
``fan_out = shape[-1] * receptive``. For a convolution kernel this differs from the course
package, whose fan-in is ``shape[0]`` (the kernel's height alone): ``kh * kw * C_in`` is the
number of inputs each output really sums, so the variance the He and Xavier schemes aim for is
the one the layer gets. On ``(n_in, n_out)`` weights the two agree.

Gain (``calculate_gain``) comes from the activation itself, its ``gain`` attribute: relu and gelu
set sqrt(2), tanh 5/3, a plugin's activation whatever suits it (leaky relu: sqrt(2 / (1 +
slope**2))); an activation without one gets 1. Choices where torch leaves room:

- ``he_uniform`` / ``he_normal`` with ``activation=None`` use relu's gain sqrt(2): He et al.
  derived the scheme for ReLU, and torch's ``kaiming_*_`` defaults to a ReLU-like gain too. A
  named activation uses its own gain ("linear" or "sigmoid" give 1), as in torch.
- ``xavier_*`` with ``activation=None`` use gain 1 (Glorot's linear assumption, torch's default).
- ``identity`` defaults to gain 1 whatever the activation: its point is to pass the input
  through unchanged, and scaling by relu's sqrt(2) would grow the signal at every layer.
- An explicit ``gain=`` overrides the activation's gain in each of these.
- ``dirac`` takes no gain: its identity filters must stay exactly the identity, and its random
  part is torch's default convolution init, whose scale ignores the activation.
"""

import math
import numbers

import numpy as np

from corenn.errors import ConfigError, ShapeError
from corenn.nn.options import finite_number, positive_number

RELU_GAIN = math.sqrt(2.0)
MAX_ARRAY_VALUES = 2**28
"""The most values one weight array may hold (2 GiB as float64). Every layer's weights are
drawn through an initializer, on either backend, so checking the shape here refuses a config
asking for ``n_out = 10**9`` before anything is allocated, with one line naming the layer,
instead of a MemoryError (or numpy's "array is too big") part way through building it."""


def calculate_gain(activation):
    """The gain that keeps activations' variance steady through a layer with this activation.

    It is the activation's own ``gain`` attribute, so a plugin's activation sets its own rather
    than corenn keeping a list. ``activation`` is an activation object, a name (the registered
    numpy activation of that name, case aside, is asked) or ``None`` (gain 1). An object
    without ``gain`` is looked up by its ``name`` (or class name); anything not registered, or
    that needs options to be built, has gain 1.
    """
    if activation is None:
        return 1.0
    if not isinstance(activation, str):
        name = getattr(activation, "name", None) or type(activation).__name__
        gain = getattr(activation, "gain", None)
        if gain is not None:
            return _checked_gain(name, gain)
        activation = name
    return _registered_gain(str(activation).lower())


def _registered_gain(name):
    from corenn.plugins import create

    try:
        activation = create("activation", name)
    except ConfigError:  # not registered, or not without options: no gain of its own to use
        return 1.0
    gain = getattr(activation, "gain", None)
    return 1.0 if gain is None else _checked_gain(name, gain)


def _checked_gain(name, gain):
    if isinstance(gain, bool) or not isinstance(gain, numbers.Real) or not 0 < gain < math.inf:
        raise ConfigError(f"activation {name!r} has gain {gain!r}; an activation's gain must be a finite number > 0")
    return float(gain)


def compute_fans(shape):
    """``(fan_in, fan_out)`` of a weight of ``shape`` ``(n_in, n_out)`` or ``(kh, kw, C_in, C_out)``."""
    shape = _as_shape(shape)
    if len(shape) < 2:
        raise ShapeError(
            f"fans need a weight of at least 2 dimensions, (n_in, n_out) or (kh, kw, C_in, C_out); got shape {shape}"
        )
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _as_shape(shape):
    """A shape as a tuple of ints; an int is a 1-d shape."""
    if isinstance(shape, numbers.Integral):
        shape = (shape,)
    try:
        dims = tuple(int(dim) for dim in shape)
    except (TypeError, ValueError):
        raise ShapeError(f"an initializer's shape must be a tuple of ints, not {shape!r}") from None
    if any(dim < 0 for dim in dims):
        raise ShapeError(f"an initializer's shape must not have negative dimensions, got {dims}")
    values = math.prod(dims)
    if values > MAX_ARRAY_VALUES:
        raise ShapeError(
            f"a weight of shape {dims} would hold {values:,} values ({values * 8 / 2**30:,.1f} GiB as float64); "
            f"corenn refuses any one array of more than {MAX_ARRAY_VALUES:,} values (2 GiB as float64): "
            "choose a smaller n_out or kernel"
        )
    return dims


def _gain(gain, default):
    """The explicit ``gain`` if given (checked > 0), else ``default``."""
    return default if gain is None else positive_number("gain", gain)


def _draw(shape, rng, sample):
    """Normalise ``shape`` and ``rng`` (a Generator, a seed or None), then sample float64."""
    shape = _as_shape(shape)
    return np.asarray(sample(shape, np.random.default_rng(rng)), dtype=np.float64)


def _fans_for(shape, initializer):
    shape = _as_shape(shape)
    if len(shape) < 2 or 0 in shape:
        raise ShapeError(
            f"initializer {initializer!r} needs a non-empty weight of shape (n_in, n_out) or "
            f"(kh, kw, C_in, C_out), got {shape}"
        )
    return compute_fans(shape)


def zeros(activation=None):
    """All zeros (biases; or to show why symmetric weights never learn)."""
    return lambda shape, rng=None: _draw(shape, rng, lambda s, r: np.zeros(s))


def ones(activation=None):
    """All ones."""
    return lambda shape, rng=None: _draw(shape, rng, lambda s, r: np.ones(s))


def constant(activation=None, value=0.5):
    """Every entry equal to ``value``."""
    value = finite_number("value", value)
    return lambda shape, rng=None: _draw(shape, rng, lambda s, r: np.full(s, value))


def identity(activation=None, gain=None):
    """``gain * eye(n_in, n_out)`` for a 2-d weight (ones on the main diagonal when not square).

    ``gain`` defaults to 1 whatever the activation (see the module docstring).
    """
    scale = _gain(gain, 1.0)

    def init(shape, rng=None):
        shape = _as_shape(shape)
        if len(shape) != 2:
            raise ShapeError(f"initializer 'identity' makes only 2-d weights (n_in, n_out), got shape {shape}")
        return scale * np.eye(*shape, dtype=np.float64)

    return init


def uniform(activation=None, low=-1.0, high=1.0):
    """Uniform on ``[low, high)``."""
    low, high = finite_number("low", low), finite_number("high", high)
    if not low < high:
        raise ConfigError(f"option 'low' must be less than option 'high', got low={low!r}, high={high!r}")
    return lambda shape, rng=None: _draw(shape, rng, lambda s, r: r.uniform(low, high, s))


def normal(activation=None, mean=0.0, std=1.0):
    """Normal with ``mean`` and standard deviation ``std`` (> 0; use ``constant`` for a fixed value)."""
    mean, std = finite_number("mean", mean), positive_number("std", std)
    return lambda shape, rng=None: _draw(shape, rng, lambda s, r: r.normal(mean, std, s))


def sparse(activation=None, sparsity=0.1, std=0.01):
    """Normal(0, ``std``) with ``ceil(sparsity * rows)`` zeros in each column, like torch's ``sparse_``.

    A column is one output unit. A conv kernel ``(kh, kw, C_in, C_out)`` is treated as the 2-d
    weight ``(kh * kw * C_in, C_out)``, so each output channel gets its share of zeros among all
    its inputs. Which rows are zero is drawn independently for each column.
    """
    sparsity = finite_number("sparsity", sparsity)
    if not 0.0 <= sparsity <= 1.0:
        raise ConfigError(f"option 'sparsity' must be in [0, 1], got {sparsity!r}")
    std = positive_number("std", std)

    def init(shape, rng=None):
        shape = _as_shape(shape)
        if len(shape) < 2:
            raise ShapeError(f"initializer 'sparse' needs a weight of at least 2 dimensions, got shape {shape}")
        rng = np.random.default_rng(rng)
        rows, cols = math.prod(shape[:-1]), shape[-1]
        weight = rng.normal(0.0, std, (rows, cols))
        n_zeros = math.ceil(sparsity * rows)
        zero_rows = np.argsort(rng.random((rows, cols)), axis=0)[:n_zeros]
        weight[zero_rows, np.arange(cols)] = 0.0
        return weight.reshape(shape)

    return init


HE_MODES = ("fan_in", "fan_out")


def _he_fan(mode, shape, initializer):
    """The fan the He schemes divide by: ``fan_in`` keeps the forward pass's variance,
    ``fan_out`` the backward pass's (He et al. 2015, section 2.2)."""
    fan_in, fan_out = _fans_for(shape, initializer)
    return fan_in if mode == "fan_in" else fan_out


def _checked_mode(mode):
    if mode not in HE_MODES:
        raise ConfigError(f"option 'mode' must be 'fan_in' or 'fan_out', got {mode!r}")
    return mode


def he_uniform(activation=None, gain=None, mode="fan_in"):
    """Uniform on ``[-b, b)`` with ``b = gain * sqrt(3 / fan)`` (He et al. 2015); ``mode``
    (``"fan_in"``, the default, or ``"fan_out"``) says which fan.

    ``gain`` defaults to the activation's, and to relu's sqrt(2) when no activation is named.
    """
    scale = _gain(gain, RELU_GAIN if activation is None else calculate_gain(activation))
    mode = _checked_mode(mode)

    def init(shape, rng=None):
        bound = scale * math.sqrt(3.0 / _he_fan(mode, shape, "he_uniform"))
        return _draw(shape, rng, lambda s, r: r.uniform(-bound, bound, s))

    return init


def he_normal(activation=None, gain=None, mode="fan_in"):
    """Normal(0, ``gain / sqrt(fan)``) (He et al. 2015); ``mode`` (``"fan_in"``, the default,
    or ``"fan_out"``) says which fan.

    ``gain`` defaults to the activation's, and to relu's sqrt(2) when no activation is named.
    """
    scale = _gain(gain, RELU_GAIN if activation is None else calculate_gain(activation))
    mode = _checked_mode(mode)

    def init(shape, rng=None):
        std = scale / math.sqrt(_he_fan(mode, shape, "he_normal"))
        return _draw(shape, rng, lambda s, r: r.normal(0.0, std, s))

    return init


def xavier_uniform(activation=None, gain=None):
    """Uniform on ``[-b, b)`` with ``b = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio 2010).

    ``gain`` defaults to the activation's (1 when none is named).
    """
    scale = _gain(gain, calculate_gain(activation))

    def init(shape, rng=None):
        fan_in, fan_out = _fans_for(shape, "xavier_uniform")
        bound = scale * math.sqrt(6.0 / (fan_in + fan_out))
        return _draw(shape, rng, lambda s, r: r.uniform(-bound, bound, s))

    return init


def xavier_normal(activation=None, gain=None):
    """Normal(0, ``gain * sqrt(2 / (fan_in + fan_out))``) (Glorot & Bengio 2010).

    ``gain`` defaults to the activation's (1 when none is named).
    """
    scale = _gain(gain, calculate_gain(activation))

    def init(shape, rng=None):
        fan_in, fan_out = _fans_for(shape, "xavier_normal")
        std = scale * math.sqrt(2.0 / (fan_in + fan_out))
        return _draw(shape, rng, lambda s, r: r.normal(0.0, std, s))

    return init


def dirac(activation=None):
    """Torch's default conv init with the first ``min(C_in, C_out)`` filters made identities.

    For a conv kernel ``(kh, kw, C_in, C_out)`` every entry is first drawn uniform on
    ``[-1/sqrt(fan_in), 1/sqrt(fan_in))`` with ``fan_in = kh * kw * C_in`` (what a fresh
    ``torch.nn.Conv2d`` holds), then for each ``o < min(C_in, C_out)`` filter ``o`` is set to
    zero except ``W[kh // 2, kw // 2, o, o] = 1``: output channel ``o`` starts as a copy of
    input channel ``o``. A 2-d weight ``(n_in, n_out)`` is treated as a 1x1 kernel (column ``o``
    becomes the ``o``-th unit vector). This is airbench's ``nn.init.dirac_(w[:w.size(1)])``.

    Why: a layer that starts as (partly) the identity passes its input through unchanged, so a
    deep stack of them trains from the first step much like a shallow network, while the
    remaining random filters add new features. ``activation`` is accepted, like every
    initializer's, and ignored.
    """

    def init(shape, rng=None):
        shape = _as_shape(shape)
        if len(shape) not in (2, 4) or 0 in shape:
            raise ShapeError(
                "initializer 'dirac' makes non-empty 2-d weights (n_in, n_out) or conv kernels "
                f"(kh, kw, C_in, C_out), got shape {shape}"
            )
        fan_in, _ = compute_fans(shape)
        bound = 1.0 / math.sqrt(fan_in)
        weight = _draw(shape, rng, lambda s, r: r.uniform(-bound, bound, s))
        kernel = weight.reshape(1, 1, *shape) if len(shape) == 2 else weight  # a view either way
        kh, kw, channels_in, channels_out = kernel.shape
        identities = np.arange(min(channels_in, channels_out))
        kernel[:, :, :, identities] = 0.0
        kernel[kh // 2, kw // 2, identities, identities] = 1.0
        return weight

    return init
