"""corenn-conv: convolution, pooling and flattening layers for corenn's numpy backend.

The layers are registered as ``conv2d``, ``pool2d`` and ``flatten`` (see :mod:`corenn_conv.plugin`)
and are built with ``corenn.create("layer", "conv2d", n_out=6, kernel_shape=(5, 5))``. Inputs are
NHWC batches ``(m, H, W, C)``.
"""
