"""The torch backend's overrides of the convolution's kernels (declared, with their references,
in ``corenn_conv.conv2d``): ``F.conv2d`` on the channels-last view of an NHWC batch and
``aten.convolution_backward``, with mixed precision, and how torch is handed the padding of a
:class:`corenn.nn.geometry.WindowGeometry`.

No autograd: ``forward`` records no graph, and the backward pass calls the kernel autograd
itself would run.
"""

import dataclasses

import torch
import torch.nn.functional as F

from corenn.backend import product_dtypes
from corenn.kernels import override


def symmetric_padding(geometry):
    """``(rows, cols)`` when each axis is padded equally on both sides (torch's kernels then
    pad themselves), else ``None``."""
    top, bottom, left, right = geometry.padding
    return (top, left) if top == bottom and left == right else None


def torch_pad(geometry):
    """The geometry's padding as ``torch.nn.functional.pad`` takes it for an NCHW tensor."""
    top, bottom, left, right = geometry.padding
    return (left, right, top, bottom)


def crop(padded_nchw, geometry):
    """The input-sized interior of a padded NCHW tensor (a view)."""
    rows, cols = geometry.interior()
    return padded_nchw[:, :, rows, cols]


@dataclasses.dataclass
class SavedConvolution:
    """What :func:`conv2d_backward` needs from the forward pass: the input as the (padded,
    cast) NCHW tensor the convolution ran on, the weight in torch's layout and working dtype,
    the padding torch's kernel applied itself, the stride and the geometry."""

    X_nchw: torch.Tensor
    weight: torch.Tensor
    padding: tuple
    stride: tuple
    geometry: object


@override("corenn_conv.conv2d:conv2d_forward")
def conv2d_forward(X, W, b, geometry, *, compute_dtype=None, scratch=None):
    """``(Z, saved)``: the convolution of the NHWC ``X`` with ``W`` ``(kh, kw, C, n_out)`` plus
    ``b`` ``(1, n_out)`` through ``F.conv2d`` (``scratch`` is not used: torch's allocator keeps
    its own memory).

    An NHWC batch seen through ``permute(0, 3, 1, 2)`` *is* an NCHW tensor in torch's
    channels-last memory format, so ``F.conv2d`` runs on it without a copy and its
    channels-last output permutes back to a contiguous NHWC ``Z``. Uneven padding (``top !=
    bottom`` or ``left != right``) is added with ``F.pad`` first; ``"same"`` is always even, and
    torch's kernel pads it itself.

    The convolution runs in ``compute_dtype`` (``None``: ``X``'s and ``W``'s, the wider one when
    they differ; ``torch.bfloat16`` for mixed precision, on bfloat16 copies of the input and
    the weights); ``Z`` comes back in ``X``'s and ``W``'s dtype either way.
    """
    dtype, working = product_dtypes(X, W, compute_dtype)
    X_nchw = X.permute(0, 3, 1, 2).to(working)  # the cast keeps the channels-last strides
    padding = symmetric_padding(geometry)
    if padding is None:
        X_nchw = F.pad(X_nchw, torch_pad(geometry))
        padding = (0, 0)
    # (n_out, C_in, kh, kw), torch's layout, made contiguous: some of torch's kernels (the
    # fallback for tiny inputs) require it, and the others would copy it anyway
    weight = W.permute(3, 2, 0, 1).to(working).contiguous()
    Z = F.conv2d(X_nchw, weight, b.reshape(-1).to(working), stride=geometry.stride, padding=padding)
    Z = Z.permute(0, 2, 3, 1).contiguous().to(dtype)  # contiguous: a no-op when torch chose channels-last
    return Z, SavedConvolution(X_nchw, weight, padding, geometry.stride, geometry)


@override("corenn_conv.conv2d:conv2d_backward")
def conv2d_backward(dZ, W, saved, *, input_gradient=True, weight_gradient=True):
    """``(dX, dW, db)`` from ``dZ = dL/dZ`` (NHWC): ``dX`` NHWC in ``dZ``'s dtype (``None``
    unless ``input_gradient``), ``dW`` of ``W``'s shape and dtype (``None`` unless
    ``weight_gradient``), ``db`` ``(1, n_out)`` in ``W``'s dtype; see
    :func:`convolution_backward`."""
    dX_nchw, d_weight, d_bias = convolution_backward(
        dZ,
        saved.X_nchw,
        saved.weight,
        saved.stride,
        saved.padding,
        input_gradient=input_gradient,
        weight_gradient=weight_gradient,
    )
    dW = d_weight.permute(2, 3, 1, 0).to(W.dtype).contiguous() if weight_gradient else None
    db = d_bias.reshape(1, -1).to(W.dtype)
    if not input_gradient:
        return None, dW, db
    if symmetric_padding(saved.geometry) is None:
        dX_nchw = crop(dX_nchw, saved.geometry)
    return dX_nchw.permute(0, 2, 3, 1).contiguous().to(dZ.dtype), dW, db


def convolution_backward(dZ, X_nchw, weight, stride, padding, *, input_gradient, weight_gradient):
    """``(dX, dW, db)`` of a convolution, from ``dZ`` (NHWC), through
    ``aten.convolution_backward``, the kernel autograd itself runs: dX as NCHW (``None``
    unless ``input_gradient``), dW in torch's ``(n_out, C_in, kh, kw)`` layout (``None``
    unless ``weight_gradient``), db of shape ``(n_out,)``.

    The products run in the dtype the forward pass computed in (``X_nchw``'s: bfloat16 under
    mixed precision); db, a plain sum, is then taken in ``dZ``'s dtype, as in bfloat16 it
    would keep 3 digits.
    """
    mixed = X_nchw.dtype != dZ.dtype
    dX_nchw, d_weight, d_bias = torch.ops.aten.convolution_backward(
        dZ.permute(0, 3, 1, 2).to(X_nchw.dtype),
        X_nchw,
        weight,
        [weight.shape[0]],  # bias sizes
        list(stride),
        list(padding),
        [1, 1],  # dilation
        False,  # transposed
        [0, 0],  # output padding
        1,  # groups
        [input_gradient, weight_gradient, not mixed],  # which of dX, dW, db to compute
    )
    if mixed:
        d_bias = dZ.sum(dim=(0, 1, 2))
    return dX_nchw, d_weight, d_bias
