"""corenn's entry point into this package: registers the torch backend's components.

Factories are ``"module:attr"`` strings and this module imports nothing but corenn, so that
listing plugins (``corenn plugins``, ``corenn --help``) never imports torch.
"""

import corenn

BACKEND = "torch"

LAYERS = {
    "fully_connected": "corenn_torch.fully_connected:FullyConnected",
    "conv2d": "corenn_torch.conv2d:Conv2D",
    "pool2d": "corenn_torch.pool2d:Pool2D",
    "flatten": "corenn_torch.flatten:Flatten",
    "batch_norm": "corenn_torch.normalization:BatchNorm",
    "dropout": "corenn_torch.dropout:Dropout",
    "residual": "corenn_torch.residual:Residual",
    "patch_whitening": "corenn_torch.whitening:PatchWhitening",
    "scale": "corenn_torch.scale:Scale",
}
ACTIVATIONS = {
    "linear": "corenn_torch.activations:Linear",
    "sigmoid": "corenn_torch.activations:Sigmoid",
    "tanh": "corenn_torch.activations:Tanh",
    "arctan": "corenn_torch.activations:ArcTan",
    "relu": "corenn_torch.activations:ReLU",
    "gelu": "corenn_torch.activations:GELU",
    "softmax": "corenn_torch.activations:Softmax",
}
# Kernels: what components written once (backend "any") call where the backends differ.
KERNELS = {
    name: f"corenn_torch.kernels.arrays:{name}"
    for name in ("asarray", "as_float_array", "to_numpy", "move", "compute_dtype")
}
# The kernels of the core's losses and optimizers (the core registers those for backend "any";
# its schedulers and initializers need no kernel of their own).
LOSS_AND_OPTIMIZER_KERNELS = {
    "loss_value": "corenn_torch.kernels.losses:loss_value",
    "optimizer_clip_by_norm": "corenn_torch.kernels.optimizers:optimizer_clip_by_norm",
}


@corenn.hookimpl
def corenn_register_components(register):
    for kind, table in (
        ("layer", LAYERS),
        ("activation", ACTIVATIONS),
        ("kernel", KERNELS),
        ("kernel", LOSS_AND_OPTIMIZER_KERNELS),
    ):
        for name, factory in table.items():
            register(kind, name, factory, backend=BACKEND)


@corenn.hookimpl
def corenn_array_backend(backend):
    """The trainer's array backend for torch tensors (imports torch, so only when asked)."""
    if backend == BACKEND:
        from corenn_torch.training import TorchArrays

        return TorchArrays
    return None
