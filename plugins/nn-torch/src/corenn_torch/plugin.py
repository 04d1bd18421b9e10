"""corenn's entry point into this package: the torch backend, its kernel overrides and its
process group.

corenn's components (layers, activations, losses, optimizers, ...) are written once and
registered by their own packages for backend "any"; what this package adds is the backend object
(:mod:`corenn_torch.backend`: tensors, devices, what the trainer needs), PyTorch's versions of
the declared kernels (the modules of :mod:`corenn_torch.kernels`, each marked with
``@override``), and the process group of data-parallel runs (:mod:`corenn_torch.distributed`).
Everything is registered by name, and this module imports nothing but corenn, so that listing
plugins (``corenn plugins``, ``corenn --help``) never imports torch.
"""

import corenn

BACKEND = "torch"

# The modules of this backend's overrides of declared kernels (see corenn.kernels).
OVERRIDE_MODULES = ("dense", "activations", "normalization", "dropout", "optimizers", "conv", "pooling", "whitening")


@corenn.hookimpl
def corenn_register_components(register):
    register("backend", BACKEND, "corenn_torch.backend:TorchBackend")
    for module in OVERRIDE_MODULES:
        register("kernels", f"corenn_torch.kernels.{module}", backend=BACKEND)


@corenn.hookimpl
def corenn_process_group(launch, arrays, timeout):
    """The process group of a data-parallel run on torch.distributed (imports torch, so only when
    a launch has more than one process): numpy runs and torch runs on the CPU reduce with gloo,
    torch runs on CUDA with NCCL."""
    from corenn_torch.distributed import ProcessGroup

    return ProcessGroup.start(launch, arrays, timeout)
