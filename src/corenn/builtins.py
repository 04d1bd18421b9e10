"""The core's own components, registered through the same hook as any third-party plugin.

Factories are ``"module:attr"`` strings, so ``corenn plugins`` imports none of them.
"""

from corenn.hookspecs import hookimpl

LOSSES = {"cross_entropy": "corenn.losses:CrossEntropy", "l2": "corenn.losses:L2"}
OPTIMIZERS = {"sgd": "corenn.optimizers:SGD", "adam": "corenn.optimizers:Adam"}
SCHEDULERS = {
    "constant": "corenn.schedulers:Constant",
    "exponential": "corenn.schedulers:Exponential",
    "cosine": "corenn.schedulers:Cosine",
    "one_cycle": "corenn.schedulers:OneCycle",
}
INITIALIZERS = {
    name: f"corenn.initializers:{name}"
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
# The numpy backend's array kernels (the layer kernels come with the plugins holding the layers).
KERNELS = {
    name: f"corenn.nn.numpy_kernels:{name}"
    for name in ("asarray", "as_float_array", "to_numpy", "move", "compute_dtype")
}
DATASETS = {
    "iris": "corenn.data.iris:load_iris",
    "mnist": "corenn.data.mnist:load_mnist",
    "fashion_mnist": "corenn.data.mnist:load_fashion_mnist",
    "cifar10": "corenn.data.cifar10:load_cifar10",
}


@hookimpl
def corenn_register_components(register):
    for kind, table in (
        ("loss", LOSSES),
        ("optimizer", OPTIMIZERS),
        ("scheduler", SCHEDULERS),
        ("initializer", INITIALIZERS),
        ("dataset", DATASETS),
        ("kernel", KERNELS),
    ):
        for name, factory in table.items():
            register(kind, name, factory)
