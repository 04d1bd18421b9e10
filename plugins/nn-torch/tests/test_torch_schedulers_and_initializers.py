"""Schedulers give the same rates on both backends; initializers the same weights per seed."""

import numpy as np
import pytest

import corenn
from corenn.errors import ShapeError

SCHEDULES = [
    ("constant", {"initial_lr": 0.1}),
    ("exponential", {"initial_lr": 0.1}),
    ("exponential", {"initial_lr": 0.5, "decay": 0.9, "stage_length": 7, "staircase": True}),
]


@pytest.mark.parametrize("name, options", SCHEDULES)
def test_schedulers_give_the_same_rates(name, options):
    numpy_schedule = corenn.create("scheduler", name, "numpy", **options)
    torch_schedule = corenn.create("scheduler", name, "torch", **options)
    steps = [0, 1, 6, 7, 8, 499, 500, 501, 10_000]
    assert [torch_schedule(step) for step in steps] == [numpy_schedule(step) for step in steps]


INITIALIZERS = [
    ("zeros", {}),
    ("ones", {}),
    ("identity", {}),
    ("identity", {"gain": 2.0}),
    ("uniform", {"low": -0.3, "high": 0.2}),
    ("normal", {"mean": 1.0, "std": 0.2}),
    ("constant", {"value": 0.7}),
    ("sparse", {"sparsity": 0.3}),
    ("he_uniform", {}),
    ("he_normal", {"activation": "tanh"}),
    ("xavier_uniform", {"activation": "relu"}),
    ("xavier_normal", {"gain": 0.5}),
    ("dirac", {}),
]
SHAPES = [(7, 5), (3, 3, 4, 6), (1, 1)]


@pytest.mark.parametrize("name, options", INITIALIZERS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 42])
def test_initializers_draw_the_same_weights_from_the_same_seed(name, options, shape, seed):
    numpy_init = corenn.create("initializer", name, "numpy", **options)
    torch_init = corenn.create("initializer", name, "torch", **options)
    if name == "identity" and len(shape) != 2:
        for init in (numpy_init, torch_init):
            with pytest.raises(ShapeError, match="only 2-d weights"):
                init(shape, np.random.default_rng(seed))
        return
    weights = torch_init(shape, np.random.default_rng(seed))
    # one initializer serves every backend: numpy arrays drawn on the numpy Generator, which the
    # layers turn into their backend's arrays
    assert isinstance(weights, np.ndarray) and weights.dtype == np.float64 and weights.shape == shape
    np.testing.assert_array_equal(weights, numpy_init(shape, np.random.default_rng(seed)))


def test_every_initializer_is_covered():
    entries = corenn.plugins.get_registry().entries("initializer", "torch")
    names = sorted(entry.name for entry in entries if entry.distribution == "corenn")  # not a plugin's (the example's)
    assert sorted({name for name, _ in INITIALIZERS}) == names
