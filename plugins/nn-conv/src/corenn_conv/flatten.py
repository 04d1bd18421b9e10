"""Flatten: from image batches to the rows a fully connected layer takes, for every backend."""

from corenn.backend import device_of
from corenn.errors import ShapeError
from corenn.nn.layers import Layer, checked_keep_dim, flattened_shape


class Flatten(Layer):
    """A reshape, in C order, and the gradient reshaped back to the input's shape.

    ``keep_dim`` is the course's: ``"first"`` (the default) keeps the batch axis,
    ``(m, d1, d2, ...)`` to ``(m, d1 * d2 * ...)``; ``"last"`` keeps the last axis,
    ``(d1, ..., n)`` to ``(d1 * ..., n)`` (an NHWC batch becomes one row per pixel);
    ``-1`` makes one row, ``(1, size)``.

    NHWC order is kept, so with ``"first"`` feature ``(y, x, c)`` lands at column
    ``(y * W + x) * C + c``. No parameters; ``n_in`` is the shape of one sample and ``n_out``
    the length of an output row. A reshape is the same on every backend's arrays, so this
    layer needs no kernel of its own.
    """

    name = "flatten"
    example_input_shape = (2, 3, 3, 2)
    option_values = {"keep_dim": ("first", "last", -1)}  # corenn describe

    def __init__(self, keep_dim="first"):
        super().__init__()
        self.keep_dim = checked_keep_dim(keep_dim)

    def __repr__(self):
        return f"Flatten(keep_dim={self.keep_dim!r})"

    def forward(self, X):
        X = self.as_input(X)
        if X.ndim < 2:
            raise ShapeError(f"flatten expects a batch (m, ...) of at least 2 dimensions, got shape {tuple(X.shape)}")
        Y_shape = flattened_shape(tuple(X.shape), self.keep_dim)
        self.n_in = tuple(X.shape[1:])
        self.n_out = Y_shape[1]
        self.cache["X_shape"] = tuple(X.shape)
        self.cache["Y_shape"] = Y_shape
        self.cache["device"] = device_of(X)
        return X.reshape(Y_shape)

    def backward(self, dLdY):
        self.require_forward("X_shape")
        dLdY = self.as_gradient(dLdY, self.cache["device"])
        if tuple(dLdY.shape) != self.cache["Y_shape"]:
            raise ShapeError(
                f"flatten: the gradient for backward must have the output's shape "
                f"{self.cache['Y_shape']}, got shape {tuple(dLdY.shape)}"
            )
        return dLdY.reshape(self.cache["X_shape"])
