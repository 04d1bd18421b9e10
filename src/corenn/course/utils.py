"""The course's ``utils``: ``AttrDict``, one-hot labels, standardisation and its gradient check."""

import numpy as np

from corenn.data.loader import Standardizer, one_hot
from corenn.errors import ConfigError
from corenn.testing import numerical_gradient


class AttrDict(dict):
    """A dict whose keys are also attributes: ``args.n_out`` is ``args["n_out"]``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.__dict__ = self


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


def check_gradients(fn, grad, x, dLdf, h=1e-6):
    """The course's gradient check: ``||a - n|| / ||a + n||`` between the analytic gradient
    ``grad`` (a) and the central-difference gradient (n) of ``sum(fn(x) * dLdf)`` at ``x``.

    ``x`` must be a float array; ``fn`` is called with copies of it, one entry moved at a time
    (``x`` itself is never written), and at last with ``x``. ``fn`` is typically
    ``layer.forward_with_param(name, X)`` or ``layer.forward``.
    """
    if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
        raise ConfigError(f"check_gradients: x must be a float32 or float64 array, got {getattr(x, 'dtype', type(x))}")
    numerical = numerical_gradient(lambda value: np.sum(fn(value) * dLdf), x, step=h)
    return np.linalg.norm(grad - numerical) / np.linalg.norm(grad + numerical)
