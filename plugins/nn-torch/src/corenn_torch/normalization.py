"""Batch normalisation on torch tensors, for dense ``(m, n)`` and NHWC ``(m, H, W, C)`` batches."""

from collections import OrderedDict

import torch

from corenn.errors import ShapeError
from corenn.nn.layers import checked_epsilon, checked_momentum, checked_scale

from corenn_torch.layer import TorchLayer, build_activation


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

    Both passes call torch's own batch-norm kernels (``aten.native_batch_norm`` and
    ``native_batch_norm_backward``, what autograd itself runs) directly, without recording a
    graph: one fused pass each way instead of the half dozen elementwise passes of the
    formulas. The numpy layer holds the derivation; the tests hold the two to 1e-8 in float64.
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
            raise ShapeError(
                f"batch_norm expects a batch (m, ..., channels) of 2 or more axes, got shape {tuple(X.shape)}"
            )
        if "b" not in self.parameters:
            self._init_parameters(X.shape, X.dtype, X.device)
        b = self.parameters["b"]
        channels = b.shape[1]
        if X.shape[-1] != channels:
            raise ShapeError(f"batch_norm expects {channels} channels on the last axis, got shape {tuple(X.shape)}")
        self.n_in = self.n_out = channels
        dtype = torch.promote_types(X.dtype, b.dtype)
        # torch's kernels take the channels on axis 1; for NHWC that view is NCHW in
        # channels-last memory, which they handle without a copy
        X_c1 = X.to(dtype).movedim(-1, 1)
        weight = self.parameters["W"][0].to(dtype) if self.scale else None
        running_mean, running_var = self._running_statistics(X.numel() // channels, dtype)
        out, saved_mean, saved_inverse_std = torch.ops.aten.native_batch_norm(
            X_c1, weight, b[0].to(dtype), running_mean, running_var, self.training, self.momentum, self.epsilon
        )
        if running_mean is not None and self.training:
            self._store_running_statistics(running_mean, running_var)
        Z = out.movedim(1, -1)
        self.cache["X_c1"] = X_c1
        self.cache["weight"] = weight
        self.cache["statistics"] = (running_mean, running_var, saved_mean, saved_inverse_std)
        self.cache["training"] = self.training
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = self._activation_gradient(dLdY)
        X_c1, weight = self.cache["X_c1"], self.cache["weight"]
        parameter_dtype = self.parameters["b"].dtype
        dX_c1, dW, db = torch.ops.aten.native_batch_norm_backward(
            dZ.movedim(-1, 1),
            X_c1,
            weight,
            *self.cache["statistics"],
            self.cache["training"],
            self.epsilon,
            [True, self.scale, True],
        )
        if self.scale:
            self.gradients["W"] = dW.unsqueeze(0).to(parameter_dtype)
        self.gradients["b"] = db.unsqueeze(0).to(parameter_dtype)
        return dX_c1.movedim(1, -1)

    def _running_statistics(self, count, dtype):
        """The running mean and variance as 1-d tensors in ``dtype`` for torch's kernel, which
        updates them in place in training mode; ``(None, None)`` for a training batch with a
        single value per channel, which has no variance estimate and normalises to ``b``."""
        if self.training and count < 2:
            return None, None
        return tuple(self.buffers[key][0].to(dtype) for key in ("running_mean", "running_var"))

    @torch.no_grad()
    def _store_running_statistics(self, running_mean, running_var):
        """Copy the kernel's updated statistics back when they were cast (a no-op otherwise:
        then the kernel updated the buffers themselves through their views)."""
        for key, value in (("running_mean", running_mean), ("running_var", running_var)):
            buffer = self.buffers[key]
            if value.data_ptr() != buffer.data_ptr():
                buffer.copy_(value.unsqueeze(0))

    def _init_parameters(self, X_shape, dtype=torch.float64, device=None):
        """Make ``W`` (ones, unless ``scale`` is false), ``b`` (zeros) and the running
        statistics for inputs whose last axis of ``X_shape`` holds the channels."""
        channels = X_shape[-1]
        if channels < 1:
            raise ShapeError("batch_norm needs at least one channel on the last axis, got 0")
        options = {"dtype": dtype, "device": device}
        if self.scale:
            self._make_parameters(W=torch.ones((1, channels), **options))
        self._make_parameters(b=torch.zeros((1, channels), **options))
        self.buffers["running_mean"] = torch.zeros((1, channels), **options)
        self.buffers["running_var"] = torch.ones((1, channels), **options)
