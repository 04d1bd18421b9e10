"""corenn's entry point into this package: registers the torch backend's components.

Factories are ``"module:attr"`` strings and this module imports nothing but corenn, so that
listing plugins (``corenn plugins``, ``corenn --help``) never imports torch.
"""

import corenn
from corenn import builtins

BACKEND = "torch"

# The kernels that components written once (backend "any") call where the backends differ,
# by the module of corenn_torch.kernels that holds them.
KERNEL_MODULES = {
    "arrays": ("asarray", "as_float_array", "to_numpy", "move", "compute_dtype"),
    "dense": ("fully_connected_forward",),
    "activations": ("sigmoid_forward", "relu_forward", "relu_backward", "gelu_forward", "gelu_backward", "softmax_forward"),
    "normalization": ("batch_norm_forward", "batch_norm_backward"),
    "dropout": ("dropout_mask",),
    "conv": ("conv2d_forward", "conv2d_backward"),
    "pooling": ("pool2d_forward", "pool2d_backward"),
    "whitening": ("patch_whitening_covariance",),
}
KERNELS = {name: f"corenn_torch.kernels.{module}:{name}" for module, names in KERNEL_MODULES.items() for name in names}
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
