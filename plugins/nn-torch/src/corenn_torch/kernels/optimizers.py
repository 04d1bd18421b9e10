"""The torch backend's overrides of the optimizers' kernels (declared, with their references, in
``corenn.nn.optimizers``).

The steps run the references' operations in place on whole tensors
(:mod:`corenn.nn.optimizer_formulas`, written once for numpy's and torch's fast kernels) and
return the tensors they were given. Unlike numpy's they do not walk the tensors in blocks: on a
GPU each block would be another round of kernel launches, and the scratch tensors come from
torch's caching allocator. Clipping decides on the device whether to scale.
"""

import torch

from corenn.kernels import override
from corenn.nn.optimizer_formulas import adam_step_in_place, sgd_step_in_place


@override("corenn.nn.optimizers:clip_by_norm")
def clip_by_norm(grad, clip_norm):
    """``grad`` scaled so that its L2 norm is at most ``clip_norm`` (unchanged if ``None``).

    The norm is computed in float64, as the reference does, and the choice to scale is made on
    the device (a factor of exactly 1 when the norm is within bounds): reading the norm back to
    the host would stall a GPU at every update.
    """
    if clip_norm is None:
        return grad
    norm = torch.linalg.vector_norm(grad, dtype=torch.float64)
    factor = torch.clamp(clip_norm / norm, max=1.0)
    return grad * factor.to(grad.dtype)


@override("corenn.nn.optimizers:sgd_step")
def sgd_step(param, grad, velocity, scalars):
    """One SGD step written into ``param`` and ``velocity``, which it returns."""
    gradient_dtype = torch.result_type(grad, param) if scalars.weight_decay else grad.dtype
    gradient = torch.empty(param.shape, dtype=gradient_dtype, device=param.device)
    step_term = torch.empty_like(gradient)
    lookahead = gradient
    if scalars.nesterov and torch.promote_types(param.dtype, gradient_dtype) != gradient_dtype:
        lookahead = torch.empty(
            param.shape, dtype=torch.promote_types(param.dtype, gradient_dtype), device=param.device
        )
    sgd_step_in_place(torch, scalars, param, grad, velocity, gradient, step_term, lookahead)
    return param, velocity


@override("corenn.nn.optimizers:adam_step")
def adam_step(param, grad, m, v, scalars):
    """One Adam step written into ``param``, ``m`` and ``v``, which it returns.
    ``gradient_term`` doubles as the denominator when the gradient has the parameter's dtype.
    """
    gradient_term = torch.empty_like(grad)
    numerator = torch.empty_like(param)
    denominator = gradient_term if grad.dtype == param.dtype and grad.shape == param.shape else torch.empty_like(param)
    adam_step_in_place(torch, scalars, param, grad, m, v, gradient_term, numerator, denominator)
    return param, m, v
