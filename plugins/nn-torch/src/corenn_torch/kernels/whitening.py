"""The torch backend's override of the patch-whitening fit's kernel (declared, with its
reference, in ``corenn_conv.whitening``): the patches' second-moment matrix, computed where the
data is, chunk by chunk.

The layer hands this small ``d x d`` matrix to ``corenn_conv.whitening.whitening_filters``, as
on numpy, so both backends fit the same filters from the same data.
"""

import torch

from corenn.kernels import override

# Patch rows gathered at once: bounds the memory a large batch needs (2**18 rows of d = 12
# floats is 24 MiB) without a Python loop over single samples.
PATCH_ROWS_PER_CHUNK = 2**18
# Patch rows per product, whose d x d results are then added up. One product of a whole chunk
# summed its 2**18 rows in one long run (MKL's): on CIFAR-10 patches its error was 1e-13 of the
# matrix's largest value against numpy's 5e-15 (OpenBLAS adds blocks of rows), and the filters
# fitted from it parted from numpy's by 1e-9. Blocks of 4,096 rows: 1e-14, and filters within 4e-11.
PRODUCT_ROWS = 4096


@override("corenn_conv.whitening:patch_whitening_covariance")
def patch_whitening_covariance(X, kernel_size):
    """``P^T P / n_patches`` (float64, on ``X``'s device) over every ``k x k`` patch of the NHWC
    tensor ``X``, rows in the kernel's ``(i, j, c)`` order, summed over chunks of images that
    hold about :data:`PATCH_ROWS_PER_CHUNK` patches each."""
    m, rows, cols, channels = X.shape
    d = kernel_size * kernel_size * channels
    patches_per_image = (rows - kernel_size + 1) * (cols - kernel_size + 1)
    total = torch.zeros((d, d), dtype=torch.float64, device=X.device)
    chunk = max(1, PATCH_ROWS_PER_CHUNK // patches_per_image)
    for start in range(0, m, chunk):
        # (n, H', W', C, kh, kw) -> rows (kh, kw, C)
        windows = X[start : start + chunk].unfold(1, kernel_size, 1).unfold(2, kernel_size, 1)
        patches = windows.permute(0, 1, 2, 4, 5, 3).reshape(-1, d).to(torch.float64)
        total += second_moment(patches)
    return total / (m * patches_per_image)


def second_moment(patches):
    """``patches.T @ patches``, as the sum of the products of blocks of :data:`PRODUCT_ROWS` rows
    (one batched product, then the rows left over)."""
    whole = patches.shape[0] // PRODUCT_ROWS * PRODUCT_ROWS
    blocks = patches[:whole].reshape(-1, PRODUCT_ROWS, patches.shape[1])
    return (blocks.transpose(1, 2) @ blocks).sum(0) + patches[whole:].T @ patches[whole:]
