"""corenn-conv: convolution, pooling, flattening and patch-whitening layers, for every backend.

The layers are registered as ``conv2d``, ``pool2d``, ``flatten`` and ``patch_whitening`` with
``backend="any"`` (see :mod:`corenn_conv.plugin`) and built with ``corenn.create("layer",
"conv2d", n_out=6, kernel_shape=(5, 5))`` (add ``"torch"`` for the torch backend). Each layer's
module declares the kernels it computes with, their references written as the course writes
the math (``conv2d.py``: the convolution as a loop over the kernel offsets);
:mod:`corenn_conv.fast` holds numpy's faster versions of them, and corenn-torch torch's.
Inputs are NHWC batches ``(m, H, W, C)``.
"""
