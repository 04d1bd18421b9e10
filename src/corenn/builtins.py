"""The core's own components, registered through the same hook as any third-party plugin.

Factories are ``"module:attr"`` strings, so ``corenn plugins`` imports none of them.

The losses, optimizers, schedulers and initializers are written once and registered for
backend ``"any"`` (see :mod:`corenn.nn.kernels`): each serves every backend that registers the
kernels listed for it in :data:`ANY_BACKEND_KERNELS` and :data:`COMPONENT_KERNELS` (numpy's are
below, torch's come with corenn-torch). Initializers draw numpy arrays on a numpy Generator on
every backend (so a seed gives the same weights everywhere); the layers turn them into their
backend's arrays.
"""

from corenn.hookspecs import hookimpl
from corenn.registry import ANY_BACKEND

LOSSES = {"cross_entropy": "corenn.nn.losses:CrossEntropy", "l2": "corenn.nn.losses:L2"}
OPTIMIZERS = {"sgd": "corenn.nn.optimizers:SGD", "adam": "corenn.nn.optimizers:Adam"}
SCHEDULERS = {
    "constant": "corenn.nn.schedulers:Constant",
    "exponential": "corenn.nn.schedulers:Exponential",
    "cosine": "corenn.nn.schedulers:Cosine",
    "one_cycle": "corenn.nn.schedulers:OneCycle",
}
INITIALIZERS = {
    name: f"corenn.nn.initializers:{name}"
    for name in (
        "zeros",
        "ones",
        "identity",
        "uniform",
        "normal",
        "constant",
        "sparse",
        "he_uniform",
        "he_normal",
        "xavier_uniform",
        "xavier_normal",
        "dirac",
    )
}
# What each kind above calls beyond the array kernels every backend has (registry.ARRAY_KERNELS).
ANY_BACKEND_KERNELS = {
    "loss": ("loss_value",),
    "optimizer": ("optimizer_clip_by_norm",),
    "scheduler": (),
    "initializer": (),
}
# What one component calls beyond its kind's kernels above.
COMPONENT_KERNELS = {("optimizer", "sgd"): ("optimizer_sgd_step",), ("optimizer", "adam"): ("optimizer_adam_step",)}
# The numpy backend's kernels: its array kernels and those of the losses and optimizers above
# (the layer kernels come with the plugins holding the layers).
KERNELS = {
    **{
        name: f"corenn.nn.numpy_kernels:{name}"
        for name in ("asarray", "as_float_array", "to_numpy", "move", "compute_dtype")
    },
    "loss_value": "corenn.nn.loss_kernels:loss_value",
    "optimizer_clip_by_norm": "corenn.nn.optimizer_kernels:optimizer_clip_by_norm",
    "optimizer_sgd_step": "corenn.nn.optimizer_kernels:optimizer_sgd_step",
    "optimizer_adam_step": "corenn.nn.optimizer_kernels:optimizer_adam_step",
}
DATASETS = {
    "iris": "corenn.data.iris:load_iris",
    "mnist": "corenn.data.mnist:load_mnist",
    "fashion_mnist": "corenn.data.mnist:load_fashion_mnist",
    "cifar10": "corenn.data.cifar10:load_cifar10",
    # a user's own files: see each module's docstring for its [dataset] keys
    "csv": "corenn.data.csv_table:load_csv",
    "npz": "corenn.data.npz_arrays:load_npz",
    "image_folder": "corenn.data.image_folders:load_image_folder",
}


@hookimpl
def corenn_register_components(register):
    for kind, table in (
        ("loss", LOSSES),
        ("optimizer", OPTIMIZERS),
        ("scheduler", SCHEDULERS),
        ("initializer", INITIALIZERS),
    ):
        for name, factory in table.items():
            kernels = (*ANY_BACKEND_KERNELS[kind], *COMPONENT_KERNELS.get((kind, name), ()))
            register(kind, name, factory, backend=ANY_BACKEND, kernels=kernels)
    register("backend", "numpy", "corenn.numpy_backend:NumpyBackend")
    for kind, table in (("dataset", DATASETS), ("kernel", KERNELS)):
        for name, factory in table.items():
            register(kind, name, factory)
