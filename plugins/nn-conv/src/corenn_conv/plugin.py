"""corenn's entry point into this package: registers the convolution-network layers (and the
patch-whitening first layer fitted to the data), written once for every backend, and the
numpy backend's faster versions of their kernels.

Each layer's kernels are declared with the layer (``corenn_conv.conv2d``, ``pool2d``,
``whitening``); :mod:`corenn_conv.fast` overrides them for numpy. Factories are
``"module:attr"`` strings, so listing plugins imports none of the layer code.
"""

import corenn

LAYERS = {
    "conv2d": "corenn_conv.conv2d:Conv2D",
    "pool2d": "corenn_conv.pool2d:Pool2D",
    "flatten": "corenn_conv.flatten:Flatten",
    "patch_whitening": "corenn_conv.whitening:PatchWhitening",
}


@corenn.hookimpl
def corenn_register_components(register):
    for name, factory in LAYERS.items():
        register("layer", name, factory, backend="any")
    register("kernels", "corenn_conv.fast", backend="numpy")
