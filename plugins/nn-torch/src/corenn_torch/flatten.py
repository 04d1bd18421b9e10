"""Flatten on torch tensors: from image batches to the rows a fully connected layer takes."""

import math

from corenn.errors import ShapeError

from corenn_torch.layer import TorchLayer


class Flatten(TorchLayer):
    """``(m, d1, d2, ...)`` to ``(m, d1 * d2 * ...)`` in C order, and the gradient back.

    NHWC order is kept, as on numpy, so feature ``(y, x, c)`` lands at column
    ``(y * W + x) * C + c`` and a numpy model's weights fit unchanged. No parameters;
    ``n_in`` is the shape of one sample and ``n_out`` its size.
    """

    name = "flatten"
    example_input_shape = (2, 3, 3, 2)

    def __repr__(self):
        return "Flatten()"

    def forward(self, X):
        X = self._input(X)
        if X.ndim < 2:
            raise ShapeError(f"flatten expects a batch (m, ...) of at least 2 dimensions, got shape {tuple(X.shape)}")
        self.n_in = tuple(X.shape[1:])
        self.n_out = math.prod(self.n_in)
        self.cache["X_shape"] = tuple(X.shape)
        self.cache["device"] = X.device
        return X.reshape(X.shape[0], self.n_out)

    def backward(self, dLdY):
        self._require_forward("X_shape")
        X_shape = self.cache["X_shape"]
        dLdY = self._gradient_input(dLdY, self.cache["device"])
        if tuple(dLdY.shape) != (X_shape[0], self.n_out):
            raise ShapeError(
                f"flatten: the gradient for backward must have the output's shape "
                f"{(X_shape[0], self.n_out)}, got shape {tuple(dLdY.shape)}"
            )
        return dLdY.reshape(X_shape)
