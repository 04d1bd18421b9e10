"""Batch normalisation (Ioffe & Szegedy 2015), for dense ``(m, n)`` and NHWC ``(m, H, W, C)``
batches, and its kernels: the plain pair, and the pair of data-parallel runs that takes its
statistics over every rank's share of the batch."""

import math
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np

from corenn.backend import array_namespace, as_dtype, device_of
from corenn.errors import ShapeError
from corenn.kernels import kernel
from corenn.nn.layers import Layer, build_activation, checked_epsilon, checked_momentum, checked_scale


def _batch_axes(X):
    """Every axis but the last: those the statistics of a channel are taken over."""
    return tuple(range(X.ndim - 1))


def _values_per_channel(X):
    """``n``, the number of values each channel's statistics are taken over."""
    return math.prod(X.shape[:-1])


def _moved_towards(running_mean, running_var, mean, var, count, momentum):
    """The running statistics moved towards a batch's: ``running = (1 - momentum) * running +
    momentum * batch``, the variance folded in unbiased (``* n / (n - 1)``), as new arrays;
    unchanged for a batch of a single value per channel (``n < 2``: no variance estimate)."""
    if count < 2:
        return running_mean, running_var
    return (
        (1 - momentum) * running_mean + momentum * mean,
        (1 - momentum) * running_var + momentum * var * (count / (count - 1)),
    )


def _normalised(X, mean, var, W, b, epsilon):
    """``(Z, saved)``: ``X_hat = (X - mean) / sqrt(var + epsilon)``, ``Z = W * X_hat + b`` (``W``
    ``None``: ``X_hat + b``), and what the backward pass needs."""
    inverse_std = 1 / array_namespace(X).sqrt(var + epsilon)
    X_hat = (X - mean) * inverse_std
    Z = (X_hat if W is None else W[0] * X_hat) + b[0]
    return Z, SimpleNamespace(X_hat=X_hat, inverse_std=inverse_std, W=W, parameter_dtype=b.dtype)


@kernel(examples="corenn_fc.kernel_examples:batch_norm_forward")
def batch_norm_forward(X, W, b, running_mean, running_var, training, momentum, epsilon):
    """``(Z, saved, running_mean, running_var)``: per channel (the last axis),

        ``Z = W * (X - mean) / sqrt(var + epsilon) + b``

    ``saved`` being what :func:`batch_norm_backward` needs, and the running statistics those
    to keep. ``W`` (or ``None``: no scale), ``b``, ``running_mean`` and ``running_var`` have
    shape ``(1, C)``.

    In training mode the batch's mean and biased variance normalise it, taken over every axis
    but the last in two passes (the variance around the mean: no cancellation):
    ``mean = sum(X) / n``, ``var = sum((X - mean)**2) / n``; the running statistics move
    towards them: ``running = (1 - momentum) * running + momentum * batch``, the variance folded
    in unbiased (``* n / (n - 1)``), unless the batch has a single value per channel
    (``n < 2``: no variance estimate). In evaluation mode the running statistics normalise,
    and come back unchanged.
    """
    if training:
        xp, count = array_namespace(X), _values_per_channel(X)
        mean = xp.sum(X, axis=_batch_axes(X)) / count
        var = xp.sum((X - mean) ** 2, axis=_batch_axes(X)) / count
        running_mean, running_var = _moved_towards(running_mean, running_var, mean, var, count, momentum)
    else:
        mean, var = running_mean[0], running_var[0]
    return *_normalised(X, mean, var, W, b, epsilon), running_mean, running_var


def _parameter_gradients(sum_dZ, sum_dZ_X_hat, saved):
    """``(dW, db)`` of shape ``(1, C)`` in the parameters' dtype (``dW`` ``None`` without a
    scale): ``dW = sum(dZ * X_hat)`` and ``db = sum(dZ)``."""
    dW = None if saved.W is None else as_dtype(sum_dZ_X_hat[None, :], saved.parameter_dtype)
    return dW, as_dtype(sum_dZ[None, :], saved.parameter_dtype)


def _W_over_std(saved):
    """``W / std`` per channel (``1 / std`` without a scale): dZ/dX_hat times dX_hat/dX."""
    return saved.inverse_std if saved.W is None else saved.W[0] * saved.inverse_std


def _input_gradient(dZ, saved, sum_dZ, sum_dZ_X_hat, count):
    """dL/dX in training mode, where the mean and variance depend on every input of the
    channel: the gradient of the normalised batch less its mean and its component along
    ``X_hat``, ``dX = W / std * (dZ - sum(dZ) / n - X_hat * sum(dZ * X_hat) / n)``."""
    return _W_over_std(saved) * (dZ - sum_dZ / count - saved.X_hat * (sum_dZ_X_hat / count))


@kernel(examples="corenn_fc.kernel_examples:batch_norm_backward")
def batch_norm_backward(dZ, saved, training, epsilon):
    """``(dL/dX, dL/dW, dL/db)`` from ``dZ`` = dL/dZ and the forward pass's ``saved`` (``dL/dW``
    is ``None`` without a scale; the parameter gradients have shape ``(1, C)`` and the
    parameters' dtype).

    ``dW = sum(dZ * X_hat)`` and ``db = sum(dZ)`` over every axis but the last. In evaluation
    mode the layer is affine: ``dX = dZ * W / std``. In training mode the mean and variance
    depend on every input of the channel, and the gradient of the normalised batch loses its
    mean and its component along ``X_hat``:
    ``dX = W / std * (dZ - sum(dZ) / n - X_hat * sum(dZ * X_hat) / n)``. (``epsilon`` is
    already in the saved ``1 / std``.)
    """
    xp = array_namespace(dZ)
    sum_dZ = xp.sum(dZ, axis=_batch_axes(dZ))
    sum_dZ_X_hat = xp.sum(dZ * saved.X_hat, axis=_batch_axes(dZ))
    dW, db = _parameter_gradients(sum_dZ, sum_dZ_X_hat, saved)
    if not training:
        return dZ * _W_over_std(saved), dW, db
    return _input_gradient(dZ, saved, sum_dZ, sum_dZ_X_hat, _values_per_channel(dZ)), dW, db


def _summed_over_ranks(group, local_sums, local_count):
    """The sums over every rank's share of the batch, as new arrays (``local_sums`` are kept),
    and the global batch's ``n``: one ``all_reduce_sum`` of the process ``group``."""
    xp = array_namespace(local_sums[0])
    totals = [xp.asarray(local_sum, copy=True) for local_sum in local_sums]
    (count,) = group.all_reduce_sum(totals, scalars=[local_count])
    return *totals, count


@kernel(examples="corenn_fc.kernel_examples:sync_batch_norm_forward")
def sync_batch_norm_forward(X, W, b, running_mean, running_var, momentum, epsilon, group):
    """:func:`batch_norm_forward` in training mode over the global batch of a data-parallel
    run, ``X`` being this rank's share of it: each rank's sums over its share are summed over
    the ranks by the process ``group`` (its ``all_reduce_sum``, see the hook
    ``corenn_process_group``), the mean first, then the variance around it (two passes, as
    :func:`batch_norm_forward`), so that every rank normalises with the statistics of the
    whole batch and moves its running statistics as one process would.
    """
    xp, axes = array_namespace(X), _batch_axes(X)
    sums, count = _summed_over_ranks(group, [xp.sum(X, axis=axes)], _values_per_channel(X))
    mean = sums / count
    squares, _ = _summed_over_ranks(group, [xp.sum((X - mean) ** 2, axis=axes)], _values_per_channel(X))
    var = squares / count
    running_mean, running_var = _moved_towards(running_mean, running_var, mean, var, count, momentum)
    return *_normalised(X, mean, var, W, b, epsilon), running_mean, running_var


@kernel(examples="corenn_fc.kernel_examples:sync_batch_norm_backward")
def sync_batch_norm_backward(dZ, saved, group):
    """``(dL/dX, dL/dW, dL/db)`` of :func:`sync_batch_norm_forward`: :func:`batch_norm_backward`
    in training mode, its two sums in ``dX`` summed over the ranks by the process ``group``
    (one ``all_reduce_sum``), so that ``dX`` is the global batch's. ``dW`` and ``db`` stay this
    rank's sums: the training step's all-reduce of the gradients adds them.
    """
    xp, axes = array_namespace(dZ), _batch_axes(dZ)
    sum_dZ = xp.sum(dZ, axis=axes)
    sum_dZ_X_hat = xp.sum(dZ * saved.X_hat, axis=axes)
    dW, db = _parameter_gradients(sum_dZ, sum_dZ_X_hat, saved)
    total_dZ, total_dZ_X_hat, count = _summed_over_ranks(group, [sum_dZ, sum_dZ_X_hat], _values_per_channel(dZ))
    return _input_gradient(dZ, saved, total_dZ, total_dZ_X_hat, count), dW, db


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

    Both passes are kernels, :func:`batch_norm_forward` and :func:`batch_norm_backward` above
    (the formulas and their derivation): numpy's versions sum with matrix products and work in
    place (:mod:`corenn_fc.fast`), torch's call its own fused batch-norm kernels
    (``aten.native_batch_norm`` and its backward, what autograd itself runs, without recording
    a graph). ``to(device, dtype)`` moves the running statistics with the parameters.

    In a data-parallel run with ``sync_batch_norm`` the trainer sets ``process_group`` (``None``
    otherwise): in training mode the layer then normalises with the statistics of the global
    batch, every rank's share of it (:func:`sync_batch_norm_forward` and
    :func:`sync_batch_norm_backward`); in evaluation mode the running statistics normalise, as
    in one process.
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
        self.process_group = None  # a data-parallel run's, when its batch norm is synchronised

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return (
            f"BatchNorm(momentum={self.momentum!r}, epsilon={self.epsilon!r}, "
            f"activation={activation!r}, scale={self.scale!r})"
        )

    def to(self, device=None, dtype=None):
        """Move (or cast) the parameters, gradients and running statistics; returns the layer."""
        for key, value in self.buffers.items():
            self.buffers[key] = self.backend.move(value, device=device, dtype=dtype)
        return super().to(device=device, dtype=dtype)

    def forward(self, X):
        X = self.as_input(X)
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
        if self.training and X.shape[0] == 0:  # no statistics to take (numpy divided by 0, torch raised)
            raise ShapeError(
                f"batch_norm takes each channel's mean and variance from the batch while training, and got an "
                f"empty batch of shape {tuple(X.shape)}; give it at least one sample (in evaluation mode it uses "
                "its running statistics and takes any batch)"
            )
        W = self.parameters["W"] if self.scale else None
        running_mean, running_var = self.buffers["running_mean"], self.buffers["running_var"]
        group = self.process_group if self.training else None
        if group is None:
            Z, saved, running_mean, running_var = batch_norm_forward(
                X, W, b, running_mean, running_var, self.training, self.momentum, self.epsilon
            )
        else:
            Z, saved, running_mean, running_var = sync_batch_norm_forward(
                X, W, b, running_mean, running_var, self.momentum, self.epsilon, group
            )
        self.buffers["running_mean"], self.buffers["running_var"] = running_mean, running_var
        self.cache["saved"] = saved  # what the backward kernel needs (X_hat and 1 / std)
        self.cache["training"] = self.training
        self.cache["process_group"] = group
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = self.activation_gradient(dLdY)
        saved, group = self.cache["saved"], self.cache["process_group"]
        if group is None:
            dX, dW, db = batch_norm_backward(dZ, saved, self.cache["training"], self.epsilon)
        else:
            dX, dW, db = sync_batch_norm_backward(dZ, saved, group)
        if self.scale:
            self.gradients["W"] = dW
        self.gradients["b"] = db
        return dX

    def _init_parameters(self, X_shape, dtype="float64", device=None):
        """Make ``W`` (ones, unless ``scale`` is false), ``b`` (zeros) and the running
        statistics for inputs whose last axis of ``X_shape`` holds the channels, of ``dtype``
        on ``device``."""
        channels = X_shape[-1]
        if channels < 1:
            raise ShapeError("batch_norm needs at least one channel on the last axis, got 0")

        def made(fill):  # a new array each time: backend.asarray may share the numpy array's memory
            return self.backend.asarray(fill((1, channels)), dtype=dtype, device=device)

        if self.scale:
            self.make_parameters(W=made(np.ones))
        self.make_parameters(b=made(np.zeros))
        self.buffers["running_mean"] = made(np.zeros)
        self.buffers["running_var"] = made(np.ones)
