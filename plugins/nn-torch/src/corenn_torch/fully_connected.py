"""The fully connected (dense) layer on torch tensors."""

import numbers

import torch

from corenn.errors import ConfigError, ShapeError

from corenn_torch.layer import ProductLayer, build_activation, build_initializer


class FullyConnected(ProductLayer):
    """``Y = activation(X @ W + b)`` for a batch ``X`` of shape (m, n_in), as on numpy.

    ``W`` (n_in, n_out) and ``b`` (1, n_out) are made at the first forward, in the input's
    dtype and on its device. The backward pass is derived by hand, as on numpy: three matrix
    products, no autograd graph.

    ``compute_dtype`` (an attribute, default ``None``: the input's dtype) may be
    ``"bfloat16"`` for mixed precision: the three products run on bfloat16 copies of ``X``,
    ``W`` and dL/dZ; Z, dL/dX and the gradients come back in the run's dtype, and db is summed
    in it (see :mod:`corenn_torch.layer`).
    """

    name = "fully_connected"
    example_input_shape = (4, 5)

    def __init__(self, n_out, activation="linear", weight_init="xavier_uniform"):
        super().__init__()
        # Errors here name no layer: corenn.create prefixes them with "layer 'fully_connected'".
        if isinstance(n_out, bool) or not isinstance(n_out, numbers.Integral) or n_out < 1:
            raise ConfigError(f"n_out must be a positive integer (1, 2, ...), got {n_out!r}")
        self.n_out = int(n_out)
        self.activation = build_activation(activation, self.name)
        self.weight_init = weight_init
        self._initializer = build_initializer(weight_init, self.activation, self.name)

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
            self._init_parameters(X.shape, X.dtype, X.device)
        W, b = self.parameters["W"], self.parameters["b"]
        # Parameters may also have been set from outside (a loaded checkpoint): W decides n_in.
        self.n_in = W.shape[0]
        if X.shape[1] != self.n_in:
            raise ShapeError(f"fully_connected expects input of shape (m, {self.n_in}), got shape {tuple(X.shape)}")
        # numpy's promotion: a float32 batch through float64 weights computes in float64;
        # compute_dtype (mixed precision) runs the product in its dtype, Z coming back in this one
        dtype = torch.promote_types(X.dtype, W.dtype)
        working = self._working_dtype(dtype)
        X = X.to(working)
        Z = torch.addmm(b.to(working), X, W.to(working)).to(dtype)
        self.cache["X"] = X
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def _init_parameters(self, X_shape, dtype=torch.float64, device=None):
        """Make ``W`` and ``b`` (and zero gradients) for inputs of shape ``X_shape`` ``(m, n_in)``."""
        if X_shape[1] < 1:
            raise ShapeError(f"fully_connected needs at least one input feature, got input of shape (m, {X_shape[1]})")
        self._init_weights((X_shape[1], self.n_out), self._initializer, self.weight_init, dtype, device)
        self.n_in = X_shape[1]

    def backward(self, dLdY):
        dZ = self._activation_gradient(dLdY)
        X, Z = self.cache["X"], self.cache["Z"]
        W = self.parameters["W"]
        dZ_working = dZ.to(X.dtype)  # the products run in the forward pass's working dtype
        self.gradients["W"] = (X.T @ dZ_working).to(W.dtype)
        self.gradients["b"] = dZ.sum(dim=0, keepdim=True).to(W.dtype)  # a sum: in Z's dtype always
        return (dZ_working @ W.to(X.dtype).T).to(Z.dtype)
