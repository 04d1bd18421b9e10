"""The core's own components, registered through the same hook as any third-party plugin.

Factories are ``"module:attr"`` strings, so ``corenn plugins`` imports none of them.

The losses, optimizers, schedulers and initializers are written once and registered for
backend ``"any"``: they serve every backend. Their math runs on the backend's arrays through
the backend object (``asarray``, ``to_numpy``, ``loss_value``, ...) and the optimizers' step
kernels (declared in :mod:`corenn.nn.optimizers`), whose faster numpy versions are registered
here for numpy (:data:`NUMPY_OVERRIDES`). Initializers draw numpy arrays on a numpy Generator on
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
# numpy's overrides of the kernels declared in corenn's own modules (see corenn.kernels).
NUMPY_OVERRIDES = ("corenn.nn.fast_optimizers",)
DATASETS = {
    "iris": "corenn.data.iris:load_iris",
    "mnist": "corenn.data.mnist:load_mnist",
    "fashion_mnist": "corenn.data.mnist:load_fashion_mnist",
    "cifar10": "corenn.data.cifar10:load_cifar10",
    # a user's own files: see each module's docstring for its [dataset] keys
    "csv": "corenn.data.csv_table:load_csv",
    "npz": "corenn.data.npz_arrays:load_npz",
    "image_folder": "corenn.data.image_folders:load_image_folder",
    "arrays": "corenn.data.arrays:load_arrays",  # numpy arrays given to corenn.train(config, X=..., y=...)
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
            register(kind, name, factory, backend=ANY_BACKEND)
    register("backend", "numpy", "corenn.numpy_backend:NumpyBackend")
    for module in NUMPY_OVERRIDES:
        register("kernels", module, backend="numpy")
    for name, factory in DATASETS.items():
        register("dataset", name, factory)
