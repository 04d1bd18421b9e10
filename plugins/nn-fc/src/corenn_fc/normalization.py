"""Batch normalisation (Ioffe & Szegedy 2015), for dense ``(m, n)`` and NHWC ``(m, H, W, C)`` batches."""

from collections import OrderedDict

import numpy as np

from corenn.errors import ShapeError
from corenn.nn.layers import Layer, build_activation, checked_epsilon, checked_momentum, checked_scale

from corenn_fc.activations import activation_gradient, as_float_array


def channel_sum(A):
    """The sum over every axis but the last (the channels), as one matrix product
    ``ones(1, n) @ A.reshape(n, C)``: the BLAS sums the tall matrix's columns many times
    faster than ``A.sum(axis=(0, 1, 2))``."""
    rows = A.reshape(-1, A.shape[-1])
    return (np.ones((1, rows.shape[0]), dtype=A.dtype) @ rows)[0]


def channel_dot(A, B):
    """``(A * B).sum`` over every axis but the last, without the product's temporary array."""
    return np.einsum("ij,ij->j", A.reshape(-1, A.shape[-1]), B.reshape(-1, B.shape[-1]))


class BatchNorm(Layer):
    """``Y = activation(W * (X - mean) / sqrt(var + epsilon) + b)``, per channel (the last axis).

    The statistics are taken over every axis but the last: the batch for ``(m, n)`` inputs,
    the batch and both spatial axes for NHWC images, as torch's ``BatchNorm1d`` / ``BatchNorm2d``.
    ``W`` (gamma, ones) and ``b`` (beta, zeros) have shape ``(1, C)``.

    In training mode (``training = True``, the default; the model switches it) the batch's own
    mean and biased variance normalise it, and the running statistics in ``buffers`` move
    towards them: ``running = (1 - momentum) * running + momentum * batch``, the variance
    folded in unbiased (``* n / (n - 1)``), as torch does. A batch with a single value per
    channel has no variance estimate; it normalises to ``b`` and leaves the running statistics
    alone. In evaluation mode the running statistics normalise, and the layer is an affine map.

    ``activation`` (default ``"linear"``) follows the normalisation, so that ``conv2d`` (linear)
    then ``batch_norm`` with ``activation = "relu"`` is the usual conv / BN / ReLU block.

    ``scale = false`` drops ``W``: ``Y = activation(X_hat + b)``, with only the shift ``b`` to
    learn (and to save: parameter files of such a layer have no ``W``). Why one would: when
    the activation is ReLU, ``relu(W * X_hat + b) = W * relu(X_hat + b / W)`` for ``W > 0``, so
    the scale can be folded into the weights of the next (linear or convolutional) layer: with
    both learned, it adds parameters but nothing the network can express (for GELU, which is
    nearly ReLU away from 0, nearly nothing). airbench fixes it at 1 in this way.

    ``momentum`` is in [0, 1]; ``epsilon`` is any finite number > 0 (1e-12 included).
    """

    name = "batch_norm"
    example_input_shape = (6, 4)

    def __init__(self, momentum=0.1, epsilon=1e-5, activation="linear", scale=True):
        super().__init__()
        self.momentum = checked_momentum(momentum)
        self.epsilon = checked_epsilon(epsilon)
        self.scale = checked_scale(scale)
        self.activation = build_activation(activation)
        self.training = True
        self.buffers = OrderedDict()

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return (
            f"BatchNorm(momentum={self.momentum!r}, epsilon={self.epsilon!r}, "
            f"activation={activation!r}, scale={self.scale!r})"
        )

    def forward(self, X):
        X = as_float_array(X)
        if X.ndim < 2:
            raise ShapeError(f"batch_norm expects a batch (m, ..., channels) of 2 or more axes, got shape {X.shape}")
        if "b" not in self.parameters:
            self._init_parameters(X.shape, X.dtype)
        channels = self.parameters["b"].shape[1]
        if X.shape[-1] != channels:
            raise ShapeError(f"batch_norm expects {channels} channels on the last axis, got shape {X.shape}")
        self.n_in = self.n_out = channels
        if self.training:
            mean = channel_sum(X) / (X.size // channels)
            X_hat = X - mean
            var = channel_dot(X_hat, X_hat) / (X.size // channels)  # two passes: no cancellation
            self._update_running_statistics(mean, var, X.size // channels)
        else:
            mean, var = self.buffers["running_mean"][0], self.buffers["running_var"][0]
            X_hat = X - mean
        inverse_std = 1.0 / np.sqrt(var + self.epsilon)
        X_hat *= inverse_std.astype(X_hat.dtype, copy=False)
        Z = (self.parameters["W"][0] * X_hat if self.scale else X_hat) + self.parameters["b"][0]
        self.cache["X_hat"] = X_hat
        self.cache["inverse_std"] = inverse_std
        self.cache["training"] = self.training
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = activation_gradient(self, dLdY)
        X_hat, inverse_std, Z = self.cache["X_hat"], self.cache["inverse_std"], self.cache["Z"]
        sum_dZ = channel_sum(dZ)
        sum_dZ_X_hat = channel_dot(dZ, X_hat)
        if self.scale:
            self.gradients["W"] = sum_dZ_X_hat[np.newaxis, :]
        self.gradients["b"] = sum_dZ[np.newaxis, :]
        dX_hat_scale = self.parameters["W"][0] * inverse_std if self.scale else inverse_std
        if not self.cache["training"]:
            return dZ * dX_hat_scale
        # The mean and variance depend on every input of the channel: d/dX of the normalised
        # batch removes the gradient's mean and its component along X_hat:
        # dX = dX_hat_scale * (dZ - sum_dZ / count - X_hat * (sum_dZ_X_hat / count)).
        count = Z.size // Z.shape[-1]
        dX = X_hat * (-sum_dZ_X_hat / count)
        dX += dZ
        dX -= sum_dZ / count
        dX *= dX_hat_scale
        return dX

    def _update_running_statistics(self, mean, var, count):
        if count < 2:
            return
        unbiased_var = var * (count / (count - 1))
        for key, batch_value in (("running_mean", mean), ("running_var", unbiased_var)):
            running = self.buffers[key]
            running *= 1.0 - self.momentum
            running += self.momentum * batch_value[np.newaxis, :]

    def _init_parameters(self, X_shape, dtype=np.float64):
        """Make ``W`` (ones, unless ``scale`` is false), ``b`` (zeros) and the running
        statistics for inputs whose last axis of ``X_shape`` holds the channels."""
        channels = X_shape[-1]
        if channels < 1:
            raise ShapeError("batch_norm needs at least one channel on the last axis, got 0")
        if self.scale:
            self._make_parameters(W=np.ones((1, channels), dtype=dtype))
        self._make_parameters(b=np.zeros((1, channels), dtype=dtype))
        self.buffers["running_mean"] = np.zeros((1, channels), dtype=dtype)
        self.buffers["running_var"] = np.ones((1, channels), dtype=dtype)
