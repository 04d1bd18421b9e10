"""The torch backend's override of the fully connected layer's forward kernel (the layer and
its reference are ``corenn_fc.fully_connected``)."""

import torch

from corenn.backend import as_dtype, product_dtypes
from corenn.kernels import override


@override("corenn_fc.fully_connected:fully_connected_forward")
def fully_connected_forward(X, W, b, *, compute_dtype=None):
    """``X @ W + b`` as one fused ``addmm`` (the bias added in the product's own pass)."""
    dtype, working = product_dtypes(X, W, compute_dtype)
    return as_dtype(torch.addmm(as_dtype(b, working), as_dtype(X, working), as_dtype(W, working)), dtype)
