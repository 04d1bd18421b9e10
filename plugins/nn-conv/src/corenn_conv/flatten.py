"""Flatten: from image batches to the rows a fully connected layer takes."""

from collections import OrderedDict

import numpy as np

from corenn.errors import CorennError, ShapeError

from corenn_conv.conv2d import as_float_array


class Flatten:
    """``(m, d1, d2, ...)`` to ``(m, d1 * d2 * ...)`` in C order, and the gradient back.

    NHWC order is kept, so feature ``(y, x, c)`` lands at column ``(y * W + x) * C + c``.
    No parameters; ``n_in`` is the shape of one sample and ``n_out`` its size.
    """

    name = "flatten"
    example_input_shape = (2, 3, 3, 2)

    def __init__(self):
        self.activation = None  # flattening has none: it only reshapes
        self.n_in = None
        self.n_out = None
        self.parameters = OrderedDict()
        self.gradients = OrderedDict()
        self.cache = OrderedDict()

    def __repr__(self):
        return "Flatten()"

    def forward(self, X):
        X = as_float_array(X)
        if X.ndim < 2:
            raise ShapeError(f"flatten expects a batch (m, ...) of at least 2 dimensions, got shape {X.shape}")
        self.n_in = X.shape[1:]
        self.n_out = int(np.prod(self.n_in))
        self.cache["X_shape"] = X.shape
        return X.reshape(X.shape[0], self.n_out)

    def backward(self, dLdY):
        if "X_shape" not in self.cache:
            raise CorennError("flatten: backward was called before any forward")
        X_shape = self.cache["X_shape"]
        dLdY = as_float_array(dLdY)
        if dLdY.shape != (X_shape[0], self.n_out):
            raise ShapeError(
                f"flatten: the gradient for backward must have the output's shape "
                f"{(X_shape[0], self.n_out)}, got shape {dLdY.shape}"
            )
        return dLdY.reshape(X_shape)
