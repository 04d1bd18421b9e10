"""corenn's entry point into this package: registers the layers, the activations and their numpy kernels.

The layers and activations are written once and registered for backend ``"any"``: each
serves every backend that registers the kernels it lists (numpy's are in
:mod:`corenn_fc.kernels`, torch's in ``corenn_torch.kernels``). Factories are ``"module:attr"``
strings so that listing plugins imports neither numpy code nor this package's modules; each is
imported the first time its component is created.
"""

import corenn

# name: (factory, the kernels it calls beyond the array kernels every backend has)
LAYERS = {
    "fully_connected": ("corenn_fc.fully_connected:FullyConnected", ()),
    "batch_norm": ("corenn_fc.normalization:BatchNorm", ("batch_norm_forward", "batch_norm_backward")),
    "dropout": ("corenn_fc.dropout:Dropout", ("dropout_mask",)),
    "residual": ("corenn_fc.residual:Residual", ()),
    "scale": ("corenn_fc.scale:Scale", ()),
}
ACTIVATIONS = {
    "linear": ("corenn_fc.activations:Linear", ()),
    "sigmoid": ("corenn_fc.activations:Sigmoid", ("sigmoid_forward",)),
    "tanh": ("corenn_fc.activations:Tanh", ()),
    "arctan": ("corenn_fc.activations:ArcTan", ()),
    "relu": ("corenn_fc.activations:ReLU", ("relu_forward", "relu_backward")),
    "gelu": ("corenn_fc.activations:GELU", ("gelu_forward", "gelu_backward")),
    "softmax": ("corenn_fc.activations:Softmax", ("softmax_forward",)),
}
# The numpy backend's kernels for them (the course's math): every kernel they list, once.
KERNELS = tuple(dict.fromkeys(kernel for _, kernels in (*LAYERS.values(), *ACTIVATIONS.values()) for kernel in kernels))


@corenn.hookimpl
def corenn_register_components(register):
    for kind, table in (("layer", LAYERS), ("activation", ACTIVATIONS)):
        for name, (factory, kernels) in table.items():
            register(kind, name, factory, backend="any", kernels=kernels)
    for name in KERNELS:
        register("kernel", name, f"corenn_fc.kernels:{name}", backend="numpy")
