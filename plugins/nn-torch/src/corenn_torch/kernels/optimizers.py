"""The torch backend's kernels of the core's optimizers (:mod:`corenn.nn.optimizers`)."""

import torch

from corenn.nn.optimizer_formulas import adam_step


def optimizer_clip_by_norm(grad, clip_norm):
    """``grad`` scaled so that its L2 norm is at most ``clip_norm`` (unchanged if ``None``).

    The norm is computed in float64, as on numpy, and the choice to scale is made on the
    device (a factor of exactly 1 when the norm is within bounds): reading the norm back to
    the host would stall a GPU at every update.
    """
    if clip_norm is None:
        return grad
    norm = torch.linalg.vector_norm(grad, dtype=torch.float64)
    factor = torch.clamp(clip_norm / norm, max=1.0)
    return grad * factor.to(grad.dtype)


def optimizer_adam_step(param, grad, m, v, scalars):
    """One Adam step (:func:`corenn.nn.optimizer_formulas.adam_step`, the formula written once)
    on whole tensors, in place on ``param``, ``m`` and ``v``.

    Unlike numpy's kernel it does not walk the tensors in blocks: on a GPU each block would be
    another round of kernel launches, and the scratch tensors come from torch's caching
    allocator. ``gradient_term`` doubles as the denominator when the gradient has the
    parameter's dtype.
    """
    gradient_term = torch.empty_like(grad)
    numerator = torch.empty_like(param)
    denominator = gradient_term if grad.dtype == param.dtype and grad.shape == param.shape else torch.empty_like(param)
    adam_step(torch, scalars, param, grad, m, v, gradient_term, numerator, denominator)
    return param
