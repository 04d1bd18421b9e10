"""The torch backend's batch-norm kernels: torch's own fused kernels, called without autograd.

``aten.native_batch_norm`` and ``native_batch_norm_backward`` are what autograd itself runs for
``F.batch_norm``: one fused pass each way instead of the half dozen elementwise passes of the
formulas (``corenn_fc.kernels`` holds them and the derivation; the layer is
``corenn_fc.normalization``).
"""

import torch


def batch_norm_forward(X, W, b, running_mean, running_var, training, momentum, epsilon):
    """``(Z, saved)`` for a batch ``X`` with its channels on the last axis; see
    ``corenn_fc.kernels.batch_norm_forward``. The input and the parameters compute in their
    promoted dtype (numpy's rule); the running statistics (``(1, C)`` buffers) are updated in
    training mode, except for a batch with a single value per channel."""
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
    return out.movedim(1, -1), (X_c1, weight, running_mean_1d, running_var_1d, saved_mean, saved_inverse_std)


def batch_norm_backward(dZ, saved, training, epsilon):
    """``(dL/dX, dL/dW, dL/db)`` from ``dZ`` and the forward pass's ``saved`` (``dL/dW`` is
    ``None`` without a scale; the parameter gradients have shape ``(1, C)``)."""
    X_c1, weight, *statistics = saved
    dX_c1, dW, db = torch.ops.aten.native_batch_norm_backward(
        dZ.movedim(-1, 1), X_c1, weight, *statistics, training, epsilon, [True, weight is not None, True]
    )
    return dX_c1.movedim(1, -1), None if weight is None else dW.unsqueeze(0), db.unsqueeze(0)


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
