"""The torch backend's kernel of the patch-whitening fit: the patches' second-moment matrix,
computed where the data is.

The ``patch_whitening`` layer is written once, in corenn-conv; it hands this small ``d x d``
matrix to ``corenn.nn.whitening.whitening_filters``, as on numpy, so both backends fit the same
filters from the same data.
"""

import torch

from corenn.nn.whitening import samples_per_chunk


def patch_whitening_covariance(X, kernel_size):
    """``P^T P / n_patches`` (float64, on ``X``'s device) over every ``k x k`` patch of the NHWC
    tensor ``X``, rows in the kernel's ``(i, j, c)`` order: ``corenn.nn.whitening.patch_covariance``
    computed where the data is."""
    m, rows, cols, channels = X.shape
    d = kernel_size * kernel_size * channels
    total = torch.zeros((d, d), dtype=torch.float64, device=X.device)
    chunk = samples_per_chunk((rows, cols, channels), kernel_size)
    for start in range(0, m, chunk):
        # (n, H', W', C, kh, kw) -> rows (kh, kw, C)
        windows = X[start : start + chunk].unfold(1, kernel_size, 1).unfold(2, kernel_size, 1)
        patches = windows.permute(0, 1, 2, 4, 5, 3).reshape(-1, d).to(torch.float64)
        total += patches.T @ patches
    return total / (m * (rows - kernel_size + 1) * (cols - kernel_size + 1))
