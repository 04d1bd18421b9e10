"""2-d max and average pooling over NHWC batches, on torch tensors."""

import torch
import torch.nn.functional as F

from corenn.errors import ConfigError, ShapeError
from corenn.nn.geometry import checked_pad, positive_pair

from corenn_torch.geometry import window_geometry
from corenn_torch.layer import TorchLayer

MODES = ("max", "average")


class Pool2D(TorchLayer):
    """The maximum or the mean of each ``kernel_shape`` window, channel by channel.

    The numpy layer's semantics: windows move by ``stride`` and may overlap; ``pad`` adds
    *zeros*, which average pooling counts (it always divides by ``kh * kw``) and max pooling
    sees as values 0. torch's pooling kernels pad max pooling with -inf and limit padding to
    half the kernel, so the zeros are added here with ``F.pad`` and the kernels pad nothing.

    Max pooling's gradient goes to the first maximum of each window in row-major order, as
    torch's CPU kernel picks it (and as the numpy layer does). The NHWC batch is pooled as a
    channels-last NCHW view, without a copy; the backward pass calls the kernels autograd
    would run (``aten.max_pool2d_with_indices_backward``, ``aten.avg_pool2d_backward``)
    directly, so ``forward`` records no graph.
    """

    name = "pool2d"
    example_input_shape = (2, 6, 6, 3)

    def __init__(self, kernel_shape, mode="max", stride=1, pad=0):
        super().__init__()
        if mode not in MODES:
            raise ConfigError(f"pool2d: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
        self.mode = mode
        self.kernel_shape = positive_pair(kernel_shape, "kernel_shape", "pool2d")
        self.stride = positive_pair(stride, "stride", "pool2d")
        self.pad = checked_pad(pad, "pool2d")

    def __repr__(self):
        return f"Pool2D(kernel_shape={self.kernel_shape}, mode={self.mode!r}, stride={self.stride}, pad={self.pad!r})"

    @property
    def _description(self):
        kh, kw = self.kernel_shape
        return f"pool2d ({self.mode}, kernel {kh}x{kw}, stride {self.stride}, pad {self.pad!r})"

    def forward(self, X):
        X = self._input(X)
        geometry = window_geometry(X.shape, self.kernel_shape, self.stride, self.pad, self._description)
        self.n_in = self.n_out = X.shape[3]
        padded = X.permute(0, 3, 1, 2)
        if any(geometry.padding):
            padded = F.pad(padded, geometry.torch_pad)  # zeros
        if self.mode == "max":
            Y, indices = F.max_pool2d(padded, self.kernel_shape, self.stride, return_indices=True)
            self.cache["indices"] = indices
        else:
            Y = F.avg_pool2d(padded, self.kernel_shape, self.stride)
        Y = Y.permute(0, 2, 3, 1).contiguous()
        self.cache["padded"] = padded
        self.cache["geometry"] = geometry
        self.cache["Y_shape"] = tuple(Y.shape)
        return Y

    def backward(self, dLdY):
        self._require_forward("geometry")
        padded, geometry = self.cache["padded"], self.cache["geometry"]
        dLdY = self._gradient_input(dLdY, padded.device)
        if tuple(dLdY.shape) != self.cache["Y_shape"]:
            raise ShapeError(
                f"{self._description}: the gradient for backward must have the output's shape "
                f"{self.cache['Y_shape']}, got shape {tuple(dLdY.shape)}"
            )
        dY = dLdY.to(padded.dtype).permute(0, 3, 1, 2)
        kernel, stride = list(self.kernel_shape), list(self.stride)
        if self.mode == "max":
            d_padded = torch.ops.aten.max_pool2d_with_indices_backward(
                dY, padded, kernel, stride, [0, 0], [1, 1], False, self.cache["indices"]
            )  # padding, dilation, ceil_mode
        else:
            d_padded = torch.ops.aten.avg_pool2d_backward(
                dY, padded, kernel, stride, [0, 0], False, True, None
            )  # padding, ceil_mode, count_include_pad, divisor_override
        return geometry.crop(d_padded).permute(0, 2, 3, 1).contiguous()
