"""corenn's entry point into this package: registers the convolution-network layers (and the
patch-whitening first layer fitted to the data), written once for every backend, and the
numpy backend's kernels they call.

Factories are ``"module:attr"`` strings, so listing plugins imports none of the layer code.
"""

import corenn

# Each layer serves every backend that registers the kernels listed with it (the torch plugin
# registers them under the same names).
LAYERS = {
    "conv2d": ("corenn_conv.conv2d:Conv2D", ("conv2d_forward", "conv2d_backward")),
    "pool2d": ("corenn_conv.pool2d:Pool2D", ("pool2d_forward", "pool2d_backward")),
    "flatten": ("corenn_conv.flatten:Flatten", ()),
    "patch_whitening": (
        "corenn_conv.whitening:PatchWhitening",
        ("conv2d_forward", "conv2d_backward", "patch_whitening_covariance"),
    ),
}
# numpy's kernels for them (corenn_conv.kernels): every kernel they list, once.
KERNELS = {
    kernel: f"corenn_conv.kernels:{kernel}"
    for kernel in dict.fromkeys(kernel for _, kernels in LAYERS.values() for kernel in kernels)
}


@corenn.hookimpl
def corenn_register_components(register):
    for name, (factory, kernels) in LAYERS.items():
        register("layer", name, factory, backend="any", kernels=kernels)
    for name, factory in KERNELS.items():
        register("kernel", name, factory, backend="numpy")
