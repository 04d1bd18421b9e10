"""corenn's entry point into this package: registers the layers, the activations and numpy's
faster versions of their kernels.

The layers and activations are written once and registered for backend ``"any"``: the kernels
they call are declared beside them, each with its reference, which runs on every backend that
does not override it (numpy's overrides are :mod:`corenn_fc.fast`, torch's come with
corenn-torch). Factories are ``"module:attr"`` strings so that listing plugins imports neither
numpy code nor this package's modules; each is imported the first time its component is created.
"""

import corenn

LAYERS = {
    "fully_connected": "corenn_fc.fully_connected:FullyConnected",
    "batch_norm": "corenn_fc.normalization:BatchNorm",
    "dropout": "corenn_fc.dropout:Dropout",
    "residual": "corenn_fc.residual:Residual",
    "scale": "corenn_fc.scale:Scale",
}
ACTIVATIONS = {
    "linear": "corenn_fc.activations:Linear",
    "sigmoid": "corenn_fc.activations:Sigmoid",
    "tanh": "corenn_fc.activations:Tanh",
    "arctan": "corenn_fc.activations:ArcTan",
    "relu": "corenn_fc.activations:ReLU",
    "gelu": "corenn_fc.activations:GELU",
    "softmax": "corenn_fc.activations:Softmax",
}
# The modules of the numpy backend's overrides of the kernels declared here (see corenn.kernels).
NUMPY_OVERRIDE_MODULES = ("corenn_fc.fast",)


@corenn.hookimpl
def corenn_register_components(register):
    for kind, table in (("layer", LAYERS), ("activation", ACTIVATIONS)):
        for name, factory in table.items():
            register(kind, name, factory, backend="any")
    for module in NUMPY_OVERRIDE_MODULES:
        register("kernels", module, backend="numpy")
