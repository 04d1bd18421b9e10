"""corenn's entry point into this package: registers the layers and the activations.

Factories are ``"module:attr"`` strings so that listing plugins imports neither numpy code
nor this package's modules; each is imported the first time its component is created.
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


@corenn.hookimpl
def corenn_register_components(register):
    for name, factory in LAYERS.items():
        register("layer", name, factory, backend="numpy")
    for name, factory in ACTIVATIONS.items():
        register("activation", name, factory, backend="numpy")
