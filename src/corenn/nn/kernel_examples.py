"""Example arguments of the core's kernels (the optimizers' steps, :mod:`corenn.nn.optimizers`),
for checking a backend's overrides against the references (``corenn.testing.check_kernel``):
each function yields ``(args, kwargs)`` calls of one kernel, its arrays float64 numpy arrays
drawn from ``rng`` (see :func:`corenn.kernels.kernel`)."""

import numpy as np

from corenn.nn.optimizers import AdamStep, SGDStep

# Parameter shapes: one element, a bias row, a weight, a convolution kernel, and a weight
# larger than numpy's blocks and not a multiple of them (several blocks, the last one partial:
# tests/test_optimizer_kernels.py checks it against corenn.nn.fast_optimizers.BLOCK_ELEMENTS).
PARAMETER_SHAPES = ((1,), (1, 7), (5, 3), (3, 3, 2, 4), (301, 250))

SGD_SETTINGS = (
    {"lr": 0.1, "momentum": 0.0, "lr_scale": 1.0, "weight_decay": 0.0, "nesterov": False},  # plain
    {"lr": 0.05, "momentum": 0.9, "lr_scale": 1.0, "weight_decay": 0.0, "nesterov": False},  # heavy ball
    {"lr": 0.05, "momentum": 0.9, "lr_scale": 1.0, "weight_decay": 0.0, "nesterov": True},
    {"lr": 0.05, "momentum": 0.5, "lr_scale": 64.0, "weight_decay": 0.1, "nesterov": False},
    {"lr": 0.02, "momentum": 0.9, "lr_scale": 0.5, "weight_decay": 0.01, "nesterov": True},
)
ADAM_SETTINGS = (
    {"step": 1, "lr": 0.001, "lr_scale": 1.0, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.0},
    {"step": 2, "lr": 0.01, "lr_scale": 3.0, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6, "weight_decay": 0.0},
    {"step": 7, "lr": 0.01, "lr_scale": 1.0, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.05},
    {"step": 50, "lr": 0.003, "lr_scale": 0.5, "beta1": 0.5, "beta2": 0.9, "epsilon": 1e-3, "weight_decay": 0.1},
)


def clip_by_norm(rng, run):
    for shape in PARAMETER_SHAPES:
        grad = rng.standard_normal(shape)
        norm = float(np.sqrt(np.sum(grad**2)))
        yield (grad, 0.5 * norm), {}  # clipped to half its norm
        yield (grad, 2.0 * norm), {}  # within the norm: as it is
        yield (grad, None), {}
    yield (np.zeros((3, 4)), 1.0), {}  # norm 0


def sgd_step(rng, run):
    for shape in PARAMETER_SHAPES:
        for setting in SGD_SETTINGS:
            param, grad, velocity = (rng.standard_normal(shape) for _ in range(3))
            yield (param, grad, 0.1 * velocity, SGDStep.of(**setting)), {}
    # A gradient of another dtype than the parameter's (and its velocity's): a float64 gradient
    # steps a float32 parameter in float64, rounded once; a float32 one is promoted.
    shape = (37, 11)
    param, grad, velocity = (rng.standard_normal(shape) for _ in range(3))
    for setting in SGD_SETTINGS:
        yield (param.astype(np.float32), grad, velocity.astype(np.float32), SGDStep.of(**setting)), {}
        yield (param, grad.astype(np.float32), velocity, SGDStep.of(**setting)), {}


def adam_step(rng, run):
    for shape in PARAMETER_SHAPES:
        for setting in ADAM_SETTINGS:
            param, grad, m = (rng.standard_normal(shape) for _ in range(3))
            v = rng.standard_normal(shape) ** 2  # a second moment is never negative
            yield (param, grad, 0.1 * m, 0.01 * v, adam_scalars(setting)), {}
    # A float32 gradient of a float64 parameter. (Not a float32 parameter: torch's float32
    # square root is not always correctly rounded, so the reference on torch would differ
    # from numpy's by a float32 rounding.)
    shape = (37, 11)
    param, grad, m = (rng.standard_normal(shape) for _ in range(3))
    v = rng.standard_normal(shape) ** 2
    for setting in ADAM_SETTINGS:
        yield (param, grad.astype(np.float32), 0.1 * m, 0.01 * v, adam_scalars(setting)), {}


def adam_scalars(setting):
    """The :class:`AdamStep` of one of :data:`ADAM_SETTINGS`."""
    options = dict(setting)
    return AdamStep.at(options.pop("step"), **options)
