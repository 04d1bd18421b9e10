"""The fully connected (dense) layer: ``Y = activation(X @ W + b)``, and its two kernels."""

import numbers

from corenn.backend import as_dtype, device_of, product_dtypes
from corenn.errors import ConfigError, ShapeError
from corenn.kernels import kernel
from corenn.nn.layers import ProductLayer, build_activation, build_initializer


@kernel(examples="corenn_fc.kernel_examples:fully_connected_forward")
def fully_connected_forward(X, W, b, *, compute_dtype=None):
    """The affine map of a batch: ``Z = X W + b``, for ``X`` (m, n_in), ``W`` (n_in, n_out) and
    ``b`` (1, n_out), the bias added to every row.

    Computed in ``X``'s and ``W``'s dtype (the wider one when they differ), or on copies in
    ``compute_dtype`` when one is given (mixed precision), ``Z`` returned in the former.
    """
    dtype, working = product_dtypes(X, W, compute_dtype)
    Z = as_dtype(X, working) @ as_dtype(W, working) + as_dtype(b, working)
    return as_dtype(Z, dtype)


@kernel(examples="corenn_fc.kernel_examples:fully_connected_backward")
def fully_connected_backward(dZ, X, W, *, compute_dtype=None):
    """``(dX, dW, db)`` from ``dZ = dL/dZ`` (m, n_out), by the chain rule through ``Z = X W + b``::

        dX = dZ W^T        dW = X^T dZ        db = the sum of dZ's rows

    The products run in the forward pass's dtype (``compute_dtype`` when given); ``dX`` comes
    back in ``dZ``'s dtype, ``dW`` and ``db`` in ``W``'s; ``db`` is summed in ``dZ``'s dtype.
    """
    _, working = product_dtypes(X, W, compute_dtype)
    X, dZ_working, W_working = as_dtype(X, working), as_dtype(dZ, working), as_dtype(W, working)
    dX = dZ_working @ W_working.T
    dW = X.T @ dZ_working
    db = dZ.sum(axis=0, keepdims=True)
    return as_dtype(dX, dZ.dtype), as_dtype(dW, W.dtype), as_dtype(db, W.dtype)


class FullyConnected(ProductLayer):
    """``Y = activation(X @ W + b)`` for a batch ``X`` of shape (m, n_in).

    ``W`` (n_in, n_out) and ``b`` (1, n_out) are made at the first forward, once the input
    tells ``n_in``: ``W`` from the ``weight_init`` initializer drawing on ``self.rng`` (numpy,
    so a seed gives the same weights on every backend), ``b`` zero, both in the input's dtype
    and on its device. The math is the two kernels above; the backward pass is derived by hand.

    ``compute_dtype`` (default ``None``: the input's and weights' dtype) may be ``"bfloat16"``
    on torch for mixed precision (see :class:`corenn.nn.layers.ProductLayer`).
    """

    name = "fully_connected"
    example_input_shape = (4, 5)
    example_options = {"n_out": 3, "activation": "tanh"}  # what corenn plugins --check and describe build

    def __init__(self, n_out, activation="linear", weight_init="xavier_uniform"):
        # Errors here name no layer: corenn.create prefixes them with "layer 'fully_connected'".
        if isinstance(n_out, bool) or not isinstance(n_out, numbers.Integral) or n_out < 1:
            raise ConfigError(f"n_out must be a positive integer (1, 2, ...), got {n_out!r}")
        super().__init__()
        self.n_out = int(n_out)
        self.activation = build_activation(activation)
        self.weight_init = weight_init
        self._initializer = build_initializer(weight_init, self.activation)

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return f"FullyConnected(n_out={self.n_out}, activation={activation!r}, weight_init={self.weight_init!r})"

    def forward(self, X):
        X = self.as_input(X)
        if X.ndim != 2:
            expected = f"(m, {self.n_in})" if self.n_in is not None else "(m, n_in)"
            raise ShapeError(
                f"fully_connected expects a 2-d input of shape {expected}, got shape {tuple(X.shape)} "
                f"(flatten image batches first)"
            )
        if "W" not in self.parameters:
            self._init_parameters(X.shape, X.dtype, device_of(X))
        W, b = self.parameters["W"], self.parameters["b"]
        self.n_in = W.shape[0]  # parameters set from outside (a loaded checkpoint) decide n_in
        if X.shape[1] != self.n_in:
            raise ShapeError(f"fully_connected expects input of shape (m, {self.n_in}), got shape {tuple(X.shape)}")

        Z = fully_connected_forward(X, W, b, compute_dtype=self.compute_dtype)
        self.cache["X"] = X
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = self.activation_gradient(dLdY)
        X, W = self.cache["X"], self.parameters["W"]
        dX, self.gradients["W"], self.gradients["b"] = fully_connected_backward(
            dZ, X, W, compute_dtype=self.compute_dtype
        )
        return dX

    def _init_parameters(self, X_shape, dtype="float64", device=None):
        """Make ``W`` and ``b`` (and zero gradients) for inputs of shape ``X_shape`` ``(m, n_in)``,
        of ``dtype`` on ``device``."""
        n_in = X_shape[1]
        if n_in < 1:
            raise ShapeError(f"fully_connected needs at least one input feature, got input of shape (m, {n_in})")
        self.init_weights((n_in, self.n_out), self._initializer, self.weight_init, dtype, device)
        self.n_in = n_in
