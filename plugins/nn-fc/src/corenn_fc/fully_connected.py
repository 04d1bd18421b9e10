"""The fully connected (dense) layer, for every backend."""

import numbers

from corenn.errors import ConfigError, ShapeError
from corenn.nn.kernels import array_namespace, as_dtype, device_of
from corenn.nn.layers import ProductLayer, build_activation, build_initializer


class FullyConnected(ProductLayer):
    """``Y = activation(X @ W + b)`` for a batch ``X`` of shape (m, n_in).

    ``W`` (n_in, n_out) and ``b`` (1, n_out) are made at the first forward, once the input
    tells ``n_in``: ``W`` from the ``weight_init`` initializer drawing on ``self.rng`` (numpy,
    so a seed gives the same weights on every backend), ``b`` zero, both in the input's dtype
    and on its device. The backward pass is derived by hand: three matrix products.

    An input and weights of different float dtypes compute in the wider one, as numpy promotes.
    ``compute_dtype`` (default ``None``: that dtype) may be ``"bfloat16"`` on torch for mixed
    precision: the three products run on bfloat16 copies of ``X``, ``W`` and dL/dZ; Z, dL/dX
    and the gradients come back in the run's dtype, and db is summed in it (see
    :class:`corenn.nn.layers.ProductLayer`). The forward product is the kernel
    ``fully_connected_forward`` (torch's fused ``addmm``).
    """

    name = "fully_connected"
    example_input_shape = (4, 5)

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
        X = self._input(X)
        if X.ndim != 2:
            expected = f"(m, {self.n_in})" if self.n_in is not None else "(m, n_in)"
            raise ShapeError(
                f"fully_connected expects a 2-d input of shape {expected}, got shape {tuple(X.shape)} "
                f"(flatten image batches first)"
            )
        if "W" not in self.parameters:
            self._init_parameters(X.shape, X.dtype, device_of(X))
        W, b = self.parameters["W"], self.parameters["b"]
        # Parameters may also have been set from outside (a loaded checkpoint): W decides n_in.
        self.n_in = W.shape[0]
        if X.shape[1] != self.n_in:
            raise ShapeError(f"fully_connected expects input of shape (m, {self.n_in}), got shape {tuple(X.shape)}")
        dtype = X.dtype if X.dtype == W.dtype else array_namespace(X).result_type(X.dtype, W.dtype)  # numpy's promotion
        working = self._working_dtype(dtype)
        X = as_dtype(X, working)
        Z = as_dtype(self.kernels.fully_connected_forward(X, as_dtype(W, working), as_dtype(b, working)), dtype)
        self.cache["X"] = X
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = self._activation_gradient(dLdY)
        X, Z, W = self.cache["X"], self.cache["Z"], self.parameters["W"]
        dZ_working = as_dtype(dZ, X.dtype)  # the products run in the forward pass's working dtype
        self.gradients["W"] = as_dtype(X.T @ dZ_working, W.dtype)
        self.gradients["b"] = as_dtype(dZ.sum(axis=0, keepdims=True), W.dtype)  # a sum: in Z's dtype always
        return as_dtype(dZ_working @ as_dtype(W, X.dtype).T, Z.dtype)

    def _init_parameters(self, X_shape, dtype="float64", device=None):
        """Make ``W`` and ``b`` (and zero gradients) for inputs of shape ``X_shape`` ``(m, n_in)``,
        of ``dtype`` on ``device``."""
        n_in = X_shape[1]
        if n_in < 1:
            raise ShapeError(f"fully_connected needs at least one input feature, got input of shape (m, {n_in})")
        self._init_weights((n_in, self.n_out), self._initializer, self.weight_init, dtype, device)
        self.n_in = n_in
