"""The torch backend's overrides of the pooling kernels (declared, with their references, in
``corenn_conv.pool2d``): max and average pooling of NHWC batches with torch's pooling kernels,
and their gradients without autograd.

The ``pool2d`` layer's padding is *zeros*, which average pooling counts and max pooling sees
as values 0; torch's pooling kernels pad max pooling with -inf and limit padding to half the
kernel, so the zeros are added here with ``F.pad`` and the kernels pad nothing.
"""

import dataclasses

import torch
import torch.nn.functional as F

from corenn.kernels import override

from corenn_torch.kernels.conv import crop, torch_pad


@dataclasses.dataclass
class SavedPooling:
    """What :func:`pool2d_backward` needs: the padded NCHW input, the geometry and mode, and for
    max pooling the indices of the maxima."""

    padded: torch.Tensor
    geometry: object
    mode: str
    indices: torch.Tensor = None


@override("corenn_conv.pool2d:pool2d_forward")
def pool2d_forward(X, geometry, mode):
    """``(Y, saved)``: the maximum (``mode="max"``) or the mean (``"average"``) of each window
    of the NHWC ``X``, through ``F.max_pool2d`` / ``F.avg_pool2d``.

    The batch is pooled as a channels-last NCHW view, without a copy. Max pooling's gradient
    goes to the first maximum of each window in row-major order, as torch's CPU kernel picks it.
    """
    padded = X.permute(0, 3, 1, 2)
    if any(geometry.padding):
        padded = F.pad(padded, torch_pad(geometry))  # zeros
    saved = SavedPooling(padded, geometry, mode)
    if mode == "max":
        Y, saved.indices = F.max_pool2d(padded, geometry.kernel, geometry.stride, return_indices=True)
    else:
        Y = F.avg_pool2d(padded, geometry.kernel, geometry.stride)
    return Y.permute(0, 2, 3, 1).contiguous(), saved


@override("corenn_conv.pool2d:pool2d_backward")
def pool2d_backward(dY, saved):
    """``dL/dX`` (NHWC, in the input's dtype) from ``dY = dL/dY``, through the kernels autograd
    would run (``aten.max_pool2d_with_indices_backward``, ``aten.avg_pool2d_backward``)."""
    padded, geometry = saved.padded, saved.geometry
    dY = dY.to(padded.dtype).permute(0, 3, 1, 2)
    kernel, stride = list(geometry.kernel), list(geometry.stride)
    if saved.mode == "max":
        d_padded = torch.ops.aten.max_pool2d_with_indices_backward(
            dY, padded, kernel, stride, [0, 0], [1, 1], False, saved.indices
        )  # padding, dilation, ceil_mode
    else:
        d_padded = torch.ops.aten.avg_pool2d_backward(
            dY, padded, kernel, stride, [0, 0], False, True, None
        )  # padding, ceil_mode, count_include_pad, divisor_override
    return crop(d_padded, geometry).permute(0, 2, 3, 1).contiguous()
