"""The core's own components, registered through the same hook as any third-party plugin.

Factories are ``"module:attr"`` strings, so ``corenn plugins`` imports none of them.
"""

from corenn.hookspecs import hookimpl

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
