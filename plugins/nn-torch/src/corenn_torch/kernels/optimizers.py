"""The torch backend's kernels of the core's optimizers (:mod:`corenn.nn.optimizers`)."""

import torch

from corenn.nn.optimizer_formulas import adam_step, sgd_step


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


def optimizer_sgd_step(param, grad, velocity, scalars):
    """One SGD step (:func:`corenn.nn.optimizer_formulas.sgd_step`, the formula written once) on
    whole tensors, in place on ``param`` and ``velocity``.

    Unlike numpy's kernel it does not walk the tensors in blocks: on a GPU each block would be
    another round of kernel launches, and the scratch tensors come from torch's caching
    allocator.
    """
    gradient_dtype = torch.result_type(grad, param) if scalars.weight_decay else grad.dtype
    gradient = torch.empty(param.shape, dtype=gradient_dtype, device=param.device)
    step_term = torch.empty_like(gradient)
    lookahead = gradient
    if scalars.nesterov and torch.promote_types(param.dtype, gradient_dtype) != gradient_dtype:
        lookahead = torch.empty(
            param.shape, dtype=torch.promote_types(param.dtype, gradient_dtype), device=param.device
        )
    sgd_step(torch, scalars, param, grad, velocity, gradient, step_term, lookahead)
    return param


def optimizer_adam_step(param, grad, m, v, scalars):
    """One Adam step (:func:`corenn.nn.optimizer_formulas.adam_step`, the formula written once)
    on whole tensors, in place on ``param``, ``m`` and ``v``, like :func:`optimizer_sgd_step`.
    ``gradient_term`` doubles as the denominator when the gradient has the parameter's dtype.
    """
    gradient_term = torch.empty_like(grad)
    numerator = torch.empty_like(param)
    denominator = gradient_term if grad.dtype == param.dtype and grad.shape == param.shape else torch.empty_like(param)
    adam_step(torch, scalars, param, grad, m, v, gradient_term, numerator, denominator)
    return param
