"""corenn's entry point into this package: registers the torch backend's components.

Factories are ``"module:attr"`` strings and this module imports nothing but corenn, so that
listing plugins (``corenn plugins``, ``corenn --help``) never imports torch.
"""

import corenn
from corenn import builtins

BACKEND = "torch"

LAYERS = {
    "fully_connected": "corenn_torch.fully_connected:FullyConnected",
    "batch_norm": "corenn_torch.normalization:BatchNorm",
    "dropout": "corenn_torch.dropout:Dropout",
    "residual": "corenn_torch.residual:Residual",
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
KERNELS |= {  # those of corenn-conv's layers (conv2d, pool2d, patch_whitening)
    "conv2d_forward": "corenn_torch.kernels.conv:conv2d_forward",
    "conv2d_backward": "corenn_torch.kernels.conv:conv2d_backward",
    "pool2d_forward": "corenn_torch.kernels.pooling:pool2d_forward",
    "pool2d_backward": "corenn_torch.kernels.pooling:pool2d_backward",
    "patch_whitening_covariance": "corenn_torch.kernels.whitening:patch_whitening_covariance",
}
LOSSES = {"cross_entropy": "corenn_torch.losses:CrossEntropy", "l2": "corenn_torch.losses:L2"}
OPTIMIZERS = {"sgd": "corenn_torch.optimizers:SGD", "adam": "corenn_torch.optimizers:Adam"}
# A schedule is a function of the step count alone, with no arrays: the core's classes serve
# both backends, registered again here so that a torch config finds them.
SCHEDULERS = dict(builtins.SCHEDULERS)
# The same initializers as the core's, drawing numpy arrays and handing back tensors.
INITIALIZERS = {name: f"corenn_torch.initializers:{name}" for name in builtins.INITIALIZERS}


@corenn.hookimpl
def corenn_register_components(register):
    for kind, table in (
        ("layer", LAYERS),
        ("activation", ACTIVATIONS),
        ("loss", LOSSES),
        ("optimizer", OPTIMIZERS),
        ("scheduler", SCHEDULERS),
        ("initializer", INITIALIZERS),
        ("kernel", KERNELS),
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
