"""The conv1d layer and its two kernels: a 1-d convolution over sequences, in one module.

A layer that runs on numpy and on torch, with its math declared as kernels: the references
below are the whole convolution, and every backend runs them unless it registers something
faster (this plugin gives torch one, :mod:`corenn_example.torch_kernels`).
"""

import numbers

from corenn.backend import array_namespace, device_of
from corenn.errors import ConfigError, ShapeError
from corenn.kernels import kernel
from corenn.nn.layers import Layer, build_activation, build_initializer


def output_length(length, kernel_size, stride):
    """Positions of a ``kernel_size`` window moved by ``stride`` over ``length`` entries, unpadded."""
    return (length - kernel_size) // stride + 1


def offset(X, i, stride, positions):
    """``X[:, t * stride + i, :]`` for every output position ``t``: the entries at kernel offset
    ``i`` of every window, ``(m, positions, C)``."""
    return X[:, i : i + stride * (positions - 1) + 1 : stride, :]


@kernel(examples="corenn_example.kernel_examples:conv1d_forward")
def conv1d_forward(X, W, b, stride):
    """``Z[n, t, o] = b[o] + sum_{i, c} X[n, t*stride + i, c] W[i, c, o]`` for a batch of
    sequences ``X`` (m, L, C), a kernel ``W`` (k, C, n_out) and a bias ``b`` (1, n_out): one
    kernel offset ``i`` at a time, the entries at that offset of every window times ``W[i]``."""
    positions = output_length(X.shape[1], W.shape[0], stride)
    Z = b
    for i in range(W.shape[0]):
        Z = Z + offset(X, i, stride, positions) @ W[i]
    return Z


@kernel(examples="corenn_example.kernel_examples:conv1d_backward")
def conv1d_backward(dZ, X, W, stride):
    """``(dX, dW, db)`` from ``dZ = dL/dZ`` (m, positions, n_out), by the chain rule through the
    forward's sum, one kernel offset ``i`` at a time::

        dW[i] = offset_i(X)^T dZ, summed over the samples and positions     (C, n_out)
        dX at offset i's entries += dZ W[i]^T                               (m, positions, C)
        db = the sum of dZ over the samples and positions
    """
    xp = array_namespace(dZ)
    positions, (kernel_size, channels, n_out) = dZ.shape[1], W.shape
    rows = dZ.reshape(-1, n_out)
    dW = xp.stack([offset(X, i, stride, positions).reshape(-1, channels).T @ rows for i in range(kernel_size)])
    dX = xp.zeros(X.shape, dtype=dZ.dtype, device=device_of(dZ))
    for i in range(kernel_size):
        dX[:, i : i + stride * (positions - 1) + 1 : stride, :] += dZ @ W[i].T
    return dX, dW, xp.sum(rows, axis=0, keepdims=True)


class Conv1D(Layer):
    """``Y = activation(conv1d_forward(X, W, b, stride))`` for sequences ``X`` (m, L, C): ``n_out``
    filters of ``kernel_size`` entries, moved by ``stride``, no padding.

    ``W`` (kernel_size, C, n_out) comes from ``weight_init`` drawing on ``self.rng``, ``b``
    (1, n_out) starts at zero; both are made at the first forward, in the input's dtype and on
    its device.
    """

    name = "conv1d"
    example_input_shape = (3, 9, 2)
    # n_out and kernel_size have no default: corenn plugins --check, corenn gradcheck and corenn
    # describe build the layer with these
    example_options = {"n_out": 3, "kernel_size": 2, "stride": 2}

    def __init__(self, n_out, kernel_size, stride=1, activation="linear", weight_init="xavier_uniform"):
        for option, value in (("n_out", n_out), ("kernel_size", kernel_size), ("stride", stride)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ConfigError(f"{option} must be a positive integer, got {value!r}")
        super().__init__()
        self.n_out, self.kernel_size, self.stride = int(n_out), int(kernel_size), int(stride)
        self.activation = build_activation(activation)
        self.weight_init = weight_init
        self._initializer = build_initializer(weight_init, self.activation)

    def forward(self, X):
        X = self.as_input(X)
        if X.ndim != 3 or X.shape[1] < self.kernel_size:
            raise ShapeError(
                f"conv1d expects sequences (m, L, C) at least {self.kernel_size} long, got shape {tuple(X.shape)}"
            )
        if "W" not in self.parameters:
            self.init_weights(
                (self.kernel_size, X.shape[2], self.n_out), self._initializer, self.weight_init, X.dtype, device_of(X)
            )
        W, b = self.parameters["W"], self.parameters["b"]
        self.n_in = W.shape[1]
        if X.shape[2] != self.n_in:
            raise ShapeError(f"conv1d expects {self.n_in} channels, got shape {tuple(X.shape)}")

        Z = conv1d_forward(X, W, b, self.stride)
        self.cache["X"] = X
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = self.activation_gradient(dLdY)
        dX, self.gradients["W"], self.gradients["b"] = conv1d_backward(
            dZ, self.cache["X"], self.parameters["W"], self.stride
        )
        return dX
