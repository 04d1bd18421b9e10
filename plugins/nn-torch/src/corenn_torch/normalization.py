"""Batch normalisation on torch tensors, for dense ``(m, n)`` and NHWC ``(m, H, W, C)`` batches."""

import numbers
from collections import OrderedDict

import numpy as np
import torch

from corenn.errors import ConfigError, ShapeError

from corenn_torch.layer import TorchLayer, build_activation


def checked_momentum(momentum):
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0.0 <= momentum <= 1.0:
        raise ConfigError(f"momentum must be a number in [0, 1] (the weight of each batch in the running statistics), got {momentum!r}")
    return float(momentum)


def checked_epsilon(epsilon):
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not 0.0 < epsilon < float("inf"):
        raise ConfigError(f"epsilon must be a finite number > 0 (added to the variance), got {epsilon!r}")
    return float(epsilon)


def checked_scale(scale):
    if not isinstance(scale, (bool, np.bool_)):
        raise ConfigError(f"scale must be true or false (whether the layer learns a per-channel scale W), got {scale!r}")
    return bool(scale)


class BatchNorm(TorchLayer):
    """``Y = activation(W * (X - mean) / sqrt(var + epsilon) + b)`` per channel (the last axis),
    as on numpy (see ``corenn_fc.normalization``): statistics over every axis but the last,
    ``W`` (gamma, ones) and ``b`` (beta, zeros) of shape ``(1, C)``, running statistics in
    ``buffers`` (``running_mean``, ``running_var``) updated in training mode with ``momentum``
    and the unbiased batch variance, used in evaluation mode.

    ``scale = false`` drops ``W`` (``Y = activation(X_hat + b)``; parameter files then hold no
    ``W``), as airbench does: with ReLU or GELU the scale folds into the next layer's weights
    (the numpy layer's docstring says why). ``momentum`` is in [0, 1]; ``epsilon`` is any finite
    number > 0 (1e-12 included).

    The backward pass is the numpy layer's closed form (two reductions per channel), not
    autograd; in float64 it agrees with torch's own ``batch_norm`` kernel.
    """

    name = "batch_norm"
    example_input_shape = (6, 4)

    def __init__(self, momentum=0.1, epsilon=1e-5, activation="linear", scale=True):
        super().__init__()
        self.momentum = checked_momentum(momentum)
        self.epsilon = checked_epsilon(epsilon)
        self.scale = checked_scale(scale)
        self.activation = build_activation(activation, self.name)
        self.training = True
        self.buffers = OrderedDict()

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return (
            f"BatchNorm(momentum={self.momentum!r}, epsilon={self.epsilon!r}, "
            f"activation={activation!r}, scale={self.scale!r})"
        )

    def to(self, device=None, dtype=None):
        for key, value in self.buffers.items():
            self.buffers[key] = value.to(device=device, dtype=dtype)
        return super().to(device=device, dtype=dtype)

    def forward(self, X):
        X = self._input(X)
        if X.ndim < 2:
            raise ShapeError(f"batch_norm expects a batch (m, ..., channels) of 2 or more axes, got shape {tuple(X.shape)}")
        if "b" not in self.parameters:
            self._init_parameters(X)
        b = self.parameters["b"]
        channels = b.shape[1]
        if X.shape[-1] != channels:
            raise ShapeError(f"batch_norm expects {channels} channels on the last axis, got shape {tuple(X.shape)}")
        self.n_in = self.n_out = channels
        dtype = torch.promote_types(X.dtype, b.dtype)
        X = X.to(dtype)
        axes = tuple(range(X.ndim - 1))
        if self.training:
            var, mean = torch.var_mean(X, dim=axes, correction=0)
            self._update_running_statistics(mean, var, X.numel() // channels)
        else:
            mean = self.buffers["running_mean"][0].to(dtype)
            var = self.buffers["running_var"][0].to(dtype)
        inverse_std = torch.rsqrt(var + self.epsilon)
        X_hat = (X - mean) * inverse_std
        if self.scale:
            Z = torch.addcmul(b[0].to(dtype), self.parameters["W"][0].to(dtype), X_hat)
        else:
            Z = X_hat + b[0].to(dtype)
        self.cache["X_hat"] = X_hat
        self.cache["inverse_std"] = inverse_std
        self.cache["training"] = self.training
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        self._require_forward("Z")
        X_hat, inverse_std, Z = self.cache["X_hat"], self.cache["inverse_std"], self.cache["Z"]
        dLdY = self._gradient_input(dLdY, Z.device)
        if dLdY.shape != Z.shape:
            raise ShapeError(
                f"batch_norm: the gradient for backward must have the output's shape {tuple(Z.shape)}, "
                f"got shape {tuple(dLdY.shape)}"
            )
        parameter_dtype = self.parameters["b"].dtype
        dZ = self.activation.backward(Z, dLdY).to(Z.dtype)
        axes = tuple(range(Z.ndim - 1))
        sum_dZ = dZ.sum(dim=axes)
        sum_dZ_X_hat = (dZ * X_hat).sum(dim=axes)
        if self.scale:
            self.gradients["W"] = sum_dZ_X_hat.unsqueeze(0).to(parameter_dtype)
        self.gradients["b"] = sum_dZ.unsqueeze(0).to(parameter_dtype)
        dX_hat_scale = self.parameters["W"][0].to(Z.dtype) * inverse_std if self.scale else inverse_std
        if not self.cache["training"]:
            return dZ * dX_hat_scale
        count = Z.numel() // Z.shape[-1]
        return dX_hat_scale * (dZ - sum_dZ / count - X_hat * (sum_dZ_X_hat / count))

    @torch.no_grad()
    def _update_running_statistics(self, mean, var, count):
        if count < 2:
            return
        unbiased_var = var * (count / (count - 1))
        for key, batch_value in (("running_mean", mean), ("running_var", unbiased_var)):
            running = self.buffers[key]
            running.mul_(1.0 - self.momentum).add_(self.momentum * batch_value.unsqueeze(0).to(running.dtype))

    def _init_parameters(self, X):
        channels = X.shape[-1]
        if channels < 1:
            raise ShapeError("batch_norm needs at least one channel on the last axis, got 0")
        options = {"dtype": X.dtype, "device": X.device}
        if self.scale:
            self.parameters["W"] = torch.ones((1, channels), **options)
        self.parameters["b"] = torch.zeros((1, channels), **options)
        self.buffers["running_mean"] = torch.zeros((1, channels), **options)
        self.buffers["running_var"] = torch.ones((1, channels), **options)
