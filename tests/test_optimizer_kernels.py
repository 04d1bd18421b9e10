"""numpy's optimizer kernels (SGD's and Adam's steps) give exactly the bits of the whole-array
formulas they replaced, block by block or not, and allocate nothing per step on the blocked path."""

import threading
import tracemalloc

import numpy as np
import pytest

import corenn
from corenn.nn import optimizer_kernels
from corenn.nn.optimizer_kernels import BLOCK_ELEMENTS
from corenn.nn.optimizers import SGD, Adam
from corenn.testing import reference_optimizer_update

# Larger than one block and not a multiple of it (the last block is partial); a parameter
# smaller than one block; a bias row.
SHAPES = {"0.W": (300, 250), "0.b": (1, 250), "1.W": (37, 11)}
ADAM_SETTINGS = {
    "defaults": ({}, {}),
    "weight_decay, lr_scale and clip_norm": (
        {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6, "weight_decay": 0.05, "clip_norm": 2.0},
        {"0.W": 3.0, "1.W": 0.5},
    ),
}

SGD_SETTINGS = {
    "plain": ({"lr": 0.1}, {}),
    "momentum": ({"lr": 0.05, "momentum": 0.9}, {}),
    "nesterov, weight_decay, lr_scale and clip_norm": (
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01, "clip_norm": 2.0},
        {"0.W": 3.0, "1.W": 0.5},
    ),
    "momentum, weight_decay and lr_scale": ({"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1}, {"0.b": 64.0}),
}
OPTIMIZERS = {"sgd": (SGD, SGD_SETTINGS), "adam": (Adam, ADAM_SETTINGS)}
CASES = [(name, setting) for name, (_, settings) in OPTIMIZERS.items() for setting in settings]


def gradient(rng, shape, step, dtype):
    # large and small steps, so that clip_norm both applies and does not
    return (rng.standard_normal(shape) * (5.0 if step % 2 else 0.01)).astype(dtype)


def test_the_shapes_cover_partial_and_several_blocks():
    sizes = [int(np.prod(shape)) for shape in SHAPES.values()]
    assert max(sizes) > BLOCK_ELEMENTS and max(sizes) % BLOCK_ELEMENTS != 0
    assert min(sizes) < BLOCK_ELEMENTS


def assert_same_state(optimizer, reference):
    state, expected = optimizer.state_dict(), reference.state_dict()
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        assert np.array_equal(state[key], value), key


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer_name, setting", CASES)
def test_the_steps_match_the_whole_array_formulas_bit_for_bit(dtype, optimizer_name, setting):
    cls, settings = OPTIMIZERS[optimizer_name]
    options, lr_scales = settings[setting]
    rng = np.random.default_rng(0)
    start = {name: rng.standard_normal(shape).astype(dtype) for name, shape in SHAPES.items()}
    params = {name: value.copy() for name, value in start.items()}
    expected = {name: value.copy() for name, value in start.items()}
    optimizer, reference = cls(**options), cls(**options)
    for step in range(6):
        optimizer.lr = reference.lr = reference.lr * 0.9  # a schedule: the rate changes every step
        for name, shape in SHAPES.items():
            grad = gradient(rng, shape, step, dtype)
            scale = lr_scales.get(name, 1.0)
            assert optimizer.update(name, params[name], grad, lr_scale=scale) is params[name]
            reference_optimizer_update(reference, name, expected[name], grad, lr_scale=scale)
            assert params[name].dtype == dtype
            assert np.array_equal(params[name], expected[name]), f"{name} differs at step {step}"
    assert_same_state(optimizer, reference)


# Arrays the blocked path does not take: (layout, parameter dtype, gradient dtype).
OFF_THE_BLOCKED_PATH = {
    "a non-contiguous parameter": ("strided", np.float32, np.float32),
    "a Fortran-ordered parameter": ("fortran", np.float32, np.float32),
    "a float64 gradient of a float32 parameter": ("c", np.float32, np.float64),
    "a float32 gradient of a float64 parameter": ("c", np.float64, np.float32),
}


@pytest.mark.parametrize("optimizer_name", list(OPTIMIZERS))
@pytest.mark.parametrize("case", list(OFF_THE_BLOCKED_PATH))
def test_off_the_blocked_path_the_steps_match_the_formulas_too(optimizer_name, case):
    layout, dtype, grad_dtype = OFF_THE_BLOCKED_PATH[case]
    rng = np.random.default_rng(1)
    if layout == "strided":
        backing = rng.standard_normal((300, 500)).astype(dtype)
        param, expected = backing[:, ::2], backing.copy()[:, ::2]
    elif layout == "fortran":
        param = np.asfortranarray(rng.standard_normal((300, 250)).astype(dtype))
        expected = param.copy(order="F")
    else:
        param = rng.standard_normal((300, 250)).astype(dtype)
        expected = param.copy()
    options = {"lr": 0.01, "weight_decay": 0.01, "clip_norm": 3.0}
    if optimizer_name == "sgd":
        options.update(momentum=0.9, nesterov=True)
    cls = OPTIMIZERS[optimizer_name][0]
    optimizer, reference = cls(**options), cls(**options)
    for step in range(4):
        grad = gradient(rng, param.shape, step, grad_dtype)
        optimizer.update("w", param, grad, lr_scale=2.0)
        reference_optimizer_update(reference, "w", expected, grad, lr_scale=2.0)
        assert param.dtype == dtype
        assert np.array_equal(param, expected), f"differs at step {step}"


def test_the_registered_numpy_kernels_are_the_blocked_ones():
    kernels = corenn.create("optimizer", "adam", "numpy").kernels
    assert kernels.optimizer_adam_step is optimizer_kernels.optimizer_adam_step
    assert kernels.optimizer_sgd_step is optimizer_kernels.optimizer_sgd_step


@pytest.mark.parametrize(
    "optimizer",
    [Adam(weight_decay=0.01), SGD(momentum=0.9, nesterov=True, weight_decay=0.01)],
    ids=["adam", "nesterov sgd"],
)
def test_a_blocked_step_allocates_no_parameter_sized_array(optimizer):
    rng = np.random.default_rng(2)
    param = rng.standard_normal((1000, 500)).astype(np.float32)  # 2 MB
    optimizer.update("w", param, rng.standard_normal(param.shape).astype(np.float32))  # makes m, v, scratch
    grad = rng.standard_normal(param.shape).astype(np.float32)
    tracemalloc.start()
    try:
        optimizer.update("w", param, grad, lr_scale=2.0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # the whole-array formula made several 2 MB temporaries; the blocked kernel none
    assert peak < param.nbytes // 10, f"one update allocated up to {peak} bytes"


def test_each_thread_has_its_own_scratch():
    scratch = []

    def take():
        scratch.append(optimizer_kernels._block_scratch(np.dtype(np.float32)))

    threads = [threading.Thread(target=take) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, second = scratch
    assert first[0] is not second[0] and first[1] is not second[1]
