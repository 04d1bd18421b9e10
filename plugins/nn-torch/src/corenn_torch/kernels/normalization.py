"""The torch backend's overrides of the batch-norm kernels: torch's own fused kernels, called
without autograd.

``aten.native_batch_norm`` and ``native_batch_norm_backward`` are what autograd itself runs for
``F.batch_norm``: one fused pass each way instead of the half dozen elementwise passes of the
formulas (the kernels, their references and the layer are ``corenn_fc.normalization``).
"""

from types import SimpleNamespace

import torch

from corenn.backend import as_dtype
from corenn.kernels import override


@override("corenn_fc.normalization:batch_norm_forward")
def batch_norm_forward(X, W, b, running_mean, running_var, training, momentum, epsilon):
    """``(Z, saved, running_mean, running_var)`` for a batch ``X`` with its channels on the last
    axis. The input and the parameters compute in their promoted dtype (numpy's rule); the
    running statistics (``(1, C)`` buffers) are updated in place in training mode, except for a
    batch with a single value per channel, and returned."""
    dtype = torch.promote_types(X.dtype, b.dtype)
    # torch's kernels take the channels on axis 1; for NHWC that view is NCHW in
    # channels-last memory, which they handle without a copy
    X_c1 = X.to(dtype).movedim(-1, 1)
    weight = None if W is None else W[0].to(dtype)
    running_mean_1d, running_var_1d = _running_statistics(
        running_mean, running_var, X.numel() // X.shape[-1], training, dtype
    )
    out, saved_mean, saved_inverse_std = torch.ops.aten.native_batch_norm(
        X_c1, weight, b[0].to(dtype), running_mean_1d, running_var_1d, training, momentum, epsilon
    )
    if running_mean_1d is not None and training:
        _store_running_statistics(running_mean, running_var, running_mean_1d, running_var_1d)
    saved = SimpleNamespace(
        X_c1=X_c1,
        weight=weight,
        statistics=(running_mean_1d, running_var_1d, saved_mean, saved_inverse_std),
        parameter_dtype=b.dtype,
    )
    return out.movedim(1, -1), saved, running_mean, running_var


@override("corenn_fc.normalization:batch_norm_backward")
def batch_norm_backward(dZ, saved, training, epsilon):
    """``(dL/dX, dL/dW, dL/db)`` from ``dZ`` and the forward pass's ``saved`` (``dL/dW`` is
    ``None`` without a scale; the parameter gradients have shape ``(1, C)`` and the parameters'
    dtype)."""
    dX_c1, dW, db = torch.ops.aten.native_batch_norm_backward(
        dZ.movedim(-1, 1),
        saved.X_c1,
        saved.weight,
        *saved.statistics,
        training,
        epsilon,
        [True, saved.weight is not None, True],
    )
    dW = None if saved.weight is None else as_dtype(dW.unsqueeze(0), saved.parameter_dtype)
    return dX_c1.movedim(1, -1), dW, as_dtype(db.unsqueeze(0), saved.parameter_dtype)


def _running_statistics(running_mean, running_var, count, training, dtype):
    """The running mean and variance as 1-d tensors in ``dtype`` for torch's kernel, which
    updates them in place in training mode; ``(None, None)`` for a training batch with a
    single value per channel, which has no variance estimate and normalises to ``b``."""
    if training and count < 2:
        return None, None
    return running_mean[0].to(dtype), running_var[0].to(dtype)


@torch.no_grad()
def _store_running_statistics(running_mean, running_var, running_mean_1d, running_var_1d):
    """Copy the kernel's updated statistics back when they were cast (a no-op otherwise:
    then the kernel updated the buffers themselves through their views)."""
    for buffer, value in ((running_mean, running_mean_1d), (running_var, running_var_1d)):
        if value.data_ptr() != buffer.data_ptr():
            buffer.copy_(value.unsqueeze(0))
