"""Batch normalisation (Ioffe & Szegedy 2015), for dense ``(m, n)`` and NHWC ``(m, H, W, C)`` batches."""

from collections import OrderedDict

import numpy as np

from corenn.errors import ShapeError
from corenn.nn.kernels import as_dtype, device_of
from corenn.nn.layers import Layer, build_activation, checked_epsilon, checked_momentum, checked_scale


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

    Both passes are kernels, ``batch_norm_forward`` and ``batch_norm_backward``: numpy's are the
    formulas (:mod:`corenn_fc.kernels` holds the derivation), torch's call its own fused
    batch-norm kernels (``aten.native_batch_norm`` and its backward, what autograd itself runs,
    without recording a graph); the tests hold the two to 1e-8 in float64. ``to(device,
    dtype)`` moves the running statistics with the parameters.
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

    def to(self, device=None, dtype=None):
        """Move (or cast) the parameters, gradients and running statistics; returns the layer."""
        for key, value in self.buffers.items():
            self.buffers[key] = self.kernels.move(value, device=device, dtype=dtype)
        return super().to(device=device, dtype=dtype)

    def forward(self, X):
        X = self._input(X)
        if X.ndim < 2:
            raise ShapeError(
                f"batch_norm expects a batch (m, ..., channels) of 2 or more axes, got shape {tuple(X.shape)}"
            )
        if "b" not in self.parameters:
            self._init_parameters(X.shape, X.dtype, device_of(X))
        b = self.parameters["b"]
        channels = b.shape[1]
        if X.shape[-1] != channels:
            raise ShapeError(f"batch_norm expects {channels} channels on the last axis, got shape {tuple(X.shape)}")
        self.n_in = self.n_out = channels
        Z, saved = self.kernels.batch_norm_forward(
            X,
            self.parameters["W"] if self.scale else None,
            b,
            self.buffers["running_mean"],
            self.buffers["running_var"],
            self.training,
            self.momentum,
            self.epsilon,
        )
        self.cache["saved"] = saved  # what the backward kernel needs (numpy: X_hat and 1 / std)
        self.cache["training"] = self.training
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = self._activation_gradient(dLdY)
        dX, dW, db = self.kernels.batch_norm_backward(dZ, self.cache["saved"], self.cache["training"], self.epsilon)
        parameter_dtype = self.parameters["b"].dtype
        if self.scale:
            self.gradients["W"] = as_dtype(dW, parameter_dtype)
        self.gradients["b"] = as_dtype(db, parameter_dtype)
        return dX

    def _init_parameters(self, X_shape, dtype="float64", device=None):
        """Make ``W`` (ones, unless ``scale`` is false), ``b`` (zeros) and the running
        statistics for inputs whose last axis of ``X_shape`` holds the channels, of ``dtype``
        on ``device``."""
        channels = X_shape[-1]
        if channels < 1:
            raise ShapeError("batch_norm needs at least one channel on the last axis, got 0")

        def made(fill):  # a new array each time: kernels.asarray may share the numpy array's memory
            return self.kernels.asarray(fill((1, channels)), dtype=dtype, device=device)

        if self.scale:
            self._make_parameters(W=made(np.ones))
        self._make_parameters(b=made(np.zeros))
        self.buffers["running_mean"] = made(np.zeros)
        self.buffers["running_var"] = made(np.ones)
