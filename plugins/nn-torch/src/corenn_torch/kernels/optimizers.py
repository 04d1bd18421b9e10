"""The torch backend's kernels of the core's optimizers (:mod:`corenn.nn.optimizers`)."""

import torch


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
