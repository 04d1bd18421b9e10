"""torch's faster conv1d forward: ``F.conv1d``, registered for the torch backend only
(``register("kernels", "corenn_example.torch_kernels", backend="torch")``), so this module, and
torch, are imported only when somebody uses the torch backend. The backward pass has no torch
override: torch runs its reference, like any backend without one."""

import torch.nn.functional as F

from corenn.kernels import override

from corenn_example.conv1d import conv1d_forward


@override(conv1d_forward)
def conv1d_forward_torch(X, W, b, stride):
    """torch's convolution over the channels-first view: ``(m, L, C)`` as ``(m, C, L)``, the
    kernel as ``(n_out, C, k)``."""
    return F.conv1d(X.transpose(1, 2), W.permute(2, 1, 0), b.reshape(-1), stride=stride).transpose(1, 2)
