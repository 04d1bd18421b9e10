"""corenn-conv: convolution, pooling, flattening and patch-whitening layers, for every backend.

The layers are registered as ``conv2d``, ``pool2d``, ``flatten`` and ``patch_whitening`` with
``backend="any"`` (see :mod:`corenn_conv.plugin`), with the numpy backend's kernels they call
(:mod:`corenn_conv.kernels`), and are built with ``corenn.create("layer", "conv2d", n_out=6,
kernel_shape=(5, 5))`` (add ``"torch"`` for the torch backend, which registers its own kernels).
Inputs are NHWC batches ``(m, H, W, C)``.
"""
