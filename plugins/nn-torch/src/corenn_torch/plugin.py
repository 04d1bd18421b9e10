"""corenn's entry point into this package: the torch backend's kernels and its array backend.

corenn's components (layers, activations, losses, optimizers, ...) are written once and
registered by their own packages for backend "any"; what this package adds is what they call
where torch differs from numpy (the kernels in :mod:`corenn_torch.kernels`) and the trainer's
array backend (:mod:`corenn_torch.training`) and the process group of data-parallel runs
(:mod:`corenn_torch.distributed`). Factories are ``"module:attr"`` strings and this
module imports nothing but corenn, so that listing plugins (``corenn plugins``,
``corenn --help``) never imports torch.
"""

import corenn

BACKEND = "torch"

# The kernels, by the module of corenn_torch.kernels that holds them.
KERNEL_MODULES = {
    "arrays": ("asarray", "as_float_array", "to_numpy", "move", "compute_dtype"),
}
KERNELS = {name: f"corenn_torch.kernels.{module}:{name}" for module, names in KERNEL_MODULES.items() for name in names}
# The modules of this backend's overrides of declared kernels (see corenn.kernels).
OVERRIDE_MODULES = ("dense", "activations", "normalization", "dropout", "optimizers", "conv", "pooling", "whitening")


@corenn.hookimpl
def corenn_register_components(register):
    register("backend", BACKEND, "corenn_torch.backend:TorchBackend")
    for name, factory in KERNELS.items():
        register("kernel", name, factory, backend=BACKEND)
    for module in OVERRIDE_MODULES:
        register("kernels", f"corenn_torch.kernels.{module}", backend=BACKEND)


@corenn.hookimpl
def corenn_process_group(launch, arrays, timeout):
    """The process group of a data-parallel run on torch.distributed (imports torch, so only when
    a launch has more than one process): numpy runs and torch runs on the CPU reduce with gloo,
    torch runs on CUDA with NCCL."""
    from corenn_torch.distributed import ProcessGroup

    return ProcessGroup.start(launch, arrays, timeout)
