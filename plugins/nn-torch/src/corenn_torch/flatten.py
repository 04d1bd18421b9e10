"""Flatten on torch tensors: from image batches to the rows a fully connected layer takes."""

from corenn.errors import ShapeError
from corenn.nn.layers import checked_keep_dim, flattened_shape

from corenn_torch.layer import TorchLayer


class Flatten(TorchLayer):
    """A reshape, in C order, and the gradient reshaped back: the numpy layer's ``keep_dim``
    (``"first"``, ``"last"`` or ``-1``, the course's) and layout.

    NHWC order is kept, as on numpy, so with ``"first"`` feature ``(y, x, c)`` lands at column
    ``(y * W + x) * C + c`` and a numpy model's weights fit unchanged. No parameters; ``n_in``
    is the shape of one sample and ``n_out`` the length of an output row.
    """

    name = "flatten"
    example_input_shape = (2, 3, 3, 2)

    def __init__(self, keep_dim="first"):
        super().__init__()
        self.keep_dim = checked_keep_dim(keep_dim)

    def __repr__(self):
        return f"Flatten(keep_dim={self.keep_dim!r})"

    def forward(self, X):
        X = self._input(X)
        if X.ndim < 2:
            raise ShapeError(f"flatten expects a batch (m, ...) of at least 2 dimensions, got shape {tuple(X.shape)}")
        Y_shape = flattened_shape(tuple(X.shape), self.keep_dim)
        self.n_in = tuple(X.shape[1:])
        self.n_out = Y_shape[1]
        self.cache["X_shape"] = tuple(X.shape)
        self.cache["Y_shape"] = Y_shape
        self.cache["device"] = X.device
        return X.reshape(Y_shape)

    def backward(self, dLdY):
        self._require_forward("Y_shape")
        dLdY = self._gradient_input(dLdY, self.cache["device"])
        if tuple(dLdY.shape) != self.cache["Y_shape"]:
            raise ShapeError(
                f"flatten: the gradient for backward must have the output's shape "
                f"{self.cache['Y_shape']}, got shape {tuple(dLdY.shape)}"
            )
        return dLdY.reshape(self.cache["X_shape"])
