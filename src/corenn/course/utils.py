"""The course's ``utils``: ``AttrDict``, one-hot labels, standardisation and its gradient check."""

import numpy as np

from corenn.data.loader import Standardizer, one_hot
from corenn.errors import ConfigError, ShapeError
from corenn.testing import numerical_gradient


class AttrDict(dict):
    """A dict whose keys are also attributes: ``args.n_out`` is ``args["n_out"]``.

    The attributes are looked up in the dict itself, and the instance keeps no ``__dict__``
    of its own, so a copy, a deep copy or an unpickled one tracks its own keys as the
    original does (the course's ``self.__dict__ = self`` left copies reading a stale table).
    The dict's own methods (``keys``, ``items``...) stay methods; reach a key of such a name
    with ``args["keys"]``.
    """

    __slots__ = ()

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"AttrDict has no key {name!r}; its keys are: {', '.join(map(str, self))}") from None

    def __setattr__(self, name, value):
        self[name] = value

    def __delattr__(self, name):
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"AttrDict has no key {name!r}; its keys are: {', '.join(map(str, self))}") from None


def integers_to_one_hot(integer_vector, max_val=None):
    """One-hot rows for integer labels, with ``max_val + 1`` columns (default: the largest label's)."""
    labels = np.asarray(np.squeeze(integer_vector)).reshape(-1)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ConfigError(f"integers_to_one_hot needs integer labels, got dtype {labels.dtype}")
    largest = int(labels.max()) if max_val is None else int(max_val)
    if labels.size and (labels.min() < 0 or labels.max() > largest):
        raise ConfigError(
            f"integers_to_one_hot: labels must lie in 0..{largest} (max_val), found {labels.min()}..{labels.max()}"
        )
    return one_hot(labels, largest + 1)


def standardize(X, axis=0):
    """``X`` standardised to mean 0 and standard deviation 1 along ``axis``, with corenn's
    :class:`~corenn.data.loader.Standardizer` (a constant column is only centred).

    ``axis=0`` standardises each feature of (m, features) rows; ``axis`` all but the last of an
    NHWC batch standardises each channel. Like the course's, it writes the result into a float
    ``X`` and returns it (other inputs get a new float64 array).
    """
    X_array = np.asarray(X)
    axes = tuple(range(X_array.ndim))
    normalised = (axis,) if isinstance(axis, int) else tuple(axis)
    normalised = tuple(a % X_array.ndim for a in normalised) if X_array.ndim else normalised
    if normalised == (0,):
        mode = "feature"
    elif normalised == axes[:-1]:
        mode = "channel"
    else:
        raise ConfigError(
            f"standardize: axis must be 0 (per feature) or {axes[:-1]} (per channel) for an array of "
            f"{X_array.ndim} dimensions, got {axis!r}"
        )
    dtype = X_array.dtype if np.issubdtype(X_array.dtype, np.floating) else np.float64
    standardised = Standardizer.fit(X_array, mode).transform(X_array, dtype)
    if isinstance(X, np.ndarray) and X.dtype == dtype and X.flags.writeable:
        X[...] = standardised
        return X
    return standardised


# The course's step, for float64; a float32 input moves by float32's cube-root epsilon (about
# 5e-3), the step that balances a central difference's rounding against its truncation.
FLOAT64_STEP = 1e-6
FLOAT32_STEP = float(np.finfo(np.float32).eps) ** (1 / 3)

# The denominator's floor, as a fraction of ||dLdf||: gradients smaller than that count as zero.
VANISHING_FRACTION = 1e-2


def check_gradients(fn, grad, x, dLdf, h=None):
    """The course's gradient check: ``||a - n|| / ||a + n||`` between the analytic gradient
    ``grad`` (a) and the central-difference gradient (n) of ``sum(fn(x) * dLdf)`` at ``x``.

    ``x`` must be a float32 or float64 array and ``grad`` an array of its shape. ``fn`` is
    called with ``x``, then with copies of it, one entry moved by ``h`` at a time (``x`` itself
    is never written), and at last with ``x`` again. ``fn`` is typically
    ``layer.forward_with_param(name, X)`` or ``layer.forward``.

    ``h`` left at ``None`` is the course's 1e-6 for float64 and 5e-3 (float32's cube-root
    epsilon) for float32, whose rounding would swamp differences over 1e-6; the sum is taken
    in float64 either way. Expect about 1e-9 for a right float64 gradient, 1e-5 for float32.

    Two guards where the course's ratio measures nothing: a gradient that is zero (``a`` and
    ``n`` equal, both zero included) gives 0.0, and the denominator is never below
    ``1e-2 * ||dLdf||``, so that a gradient that is zero up to rounding (a softmax under
    ``dLdf = ones``) is judged by its absolute error, not as a ratio of two rounding noises.
    """
    if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
        raise ConfigError(f"check_gradients: x must be a float32 or float64 array, got {getattr(x, 'dtype', type(x))}")
    analytic = np.asarray(grad)
    if analytic.shape != x.shape:
        raise ShapeError(
            f"check_gradients: the analytic gradient has shape {analytic.shape} but x has shape {x.shape}; "
            "a gradient has the shape of what it differentiates"
        )
    output_shape = np.shape(fn(x))
    if not _broadcasts_to(np.shape(dLdf), output_shape):
        raise ShapeError(
            f"check_gradients: dLdf has shape {np.shape(dLdf)} but fn(x) has shape {output_shape}; "
            "dLdf weighs each of fn's outputs"
        )
    step = h if h is not None else (FLOAT32_STEP if x.dtype == np.float32 else FLOAT64_STEP)
    numerical = numerical_gradient(lambda value: np.sum(np.asarray(fn(value), dtype=np.float64) * dLdf), x, step=step)
    analytic = analytic.astype(np.float64)
    difference = np.linalg.norm(analytic - numerical)
    if difference == 0:
        return 0.0
    floor = VANISHING_FRACTION * np.linalg.norm(np.broadcast_to(dLdf, output_shape))
    return float(difference / max(np.linalg.norm(analytic + numerical), floor))


def _broadcasts_to(shape, target):
    """Whether an array of ``shape`` broadcasts to ``target`` unchanged."""
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False
