"""The optimizers' step kernels: numpy's blocked overrides give exactly the bits of the
references (the whole-array formulas), block by block or not, write into the arrays they return
and allocate nothing per step; the references write into nothing."""

import threading
import tracemalloc

import numpy as np
import pytest

from corenn.kernels import reference_kernels
from corenn.nn import fast_optimizers, kernel_examples
from corenn.nn.fast_optimizers import BLOCK_ELEMENTS
from corenn.nn.optimizers import SGD, Adam, AdamStep, SGDStep, adam_step, clip_by_norm, sgd_step
from corenn.plugins import get_backend
from corenn.testing import check_kernel

get_backend("numpy")  # installs numpy's overrides

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


@pytest.mark.parametrize("shapes", [list(SHAPES.values()), kernel_examples.PARAMETER_SHAPES], ids=["here", "examples"])
def test_the_shapes_cover_partial_and_several_blocks(shapes):
    sizes = [int(np.prod(shape)) for shape in shapes]
    assert max(sizes) > BLOCK_ELEMENTS and max(sizes) % BLOCK_ELEMENTS != 0
    assert min(sizes) < BLOCK_ELEMENTS


def test_numpy_runs_the_blocked_overrides():
    assert sgd_step.override_for("numpy").function is fast_optimizers.sgd_step_blocked
    assert adam_step.override_for("numpy").function is fast_optimizers.adam_step_blocked
    assert clip_by_norm.override_for("numpy") is None  # the reference is numpy's own expression


@pytest.mark.parametrize("kernel", [sgd_step, adam_step], ids=lambda kernel: kernel.name)
def test_on_every_example_the_overrides_give_the_references_bits(kernel):
    report = check_kernel(kernel, "numpy")  # its floor is 1e-10; these hold to the bit
    assert report.passed and report.max_error == 0.0, report


def assert_same_state(optimizer, reference):
    state, expected = optimizer.state_dict(), reference.state_dict()
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        assert np.array_equal(state[key], value), key


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("optimizer_name, setting", CASES)
def test_the_overrides_match_the_references_bit_for_bit(dtype, optimizer_name, setting):
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
            param = params[name]
            assert optimizer.update(name, param, grad, lr_scale=scale) is param  # written in place
            with reference_kernels():
                expected[name] = reference.update(name, expected[name], grad, lr_scale=scale)
            assert param.dtype == expected[name].dtype == dtype
            assert np.array_equal(param, expected[name]), f"{name} differs at step {step}"
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
def test_off_the_blocked_path_the_overrides_match_the_references_too(optimizer_name, case):
    layout, dtype, grad_dtype = OFF_THE_BLOCKED_PATH[case]
    rng = np.random.default_rng(1)
    if layout == "strided":
        param = rng.standard_normal((300, 500)).astype(dtype)[:, ::2]
    elif layout == "fortran":
        param = np.asfortranarray(rng.standard_normal((300, 250)).astype(dtype))
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
        assert optimizer.update("w", param, grad, lr_scale=2.0) is param
        with reference_kernels():
            expected = reference.update("w", expected, grad, lr_scale=2.0)
        assert param.dtype == expected.dtype == dtype
        assert np.array_equal(param, expected), f"differs at step {step}"
    assert_same_state(optimizer, reference)


def read_only(array):
    array = np.array(array)
    array.flags.writeable = False
    return array


def test_the_references_write_into_nothing_and_return_new_arrays():
    rng = np.random.default_rng(3)
    param, grad, velocity, m = (read_only(rng.standard_normal((4, 3))) for _ in range(4))
    v = read_only(np.square(m))
    before = [array.copy() for array in (param, grad, velocity, m, v)]
    new_param, new_velocity = sgd_step.reference(
        param, grad, velocity, SGDStep.of(lr=0.1, momentum=0.9, lr_scale=2.0, weight_decay=0.1, nesterov=True)
    )
    scalars = AdamStep.at(3, lr=0.1, lr_scale=2.0, beta1=0.9, beta2=0.99, epsilon=1e-8, weight_decay=0.1)
    adam_param, new_m, new_v = adam_step.reference(param, grad, m, v, scalars)
    clipped = clip_by_norm.reference(grad, 0.1)
    for array, copy in zip((param, grad, velocity, m, v), before, strict=True):
        assert np.array_equal(array, copy)
    for result in (new_param, new_velocity, adam_param, new_m, new_v, clipped):
        assert not any(np.shares_memory(result, given) for given in (param, grad, velocity, m, v))


def test_the_overrides_refuse_arrays_they_cannot_write():
    """What the references are for: numpy's fast steps write in place, so a backend whose
    arrays cannot be written needs the references (tests/test_immutable_backend.py)."""
    param = read_only(np.ones(3))
    with pytest.raises(ValueError, match="read-only"):
        SGD(lr=0.1).update("w", param, np.ones(3))
    with reference_kernels():
        assert np.array_equal(SGD(lr=0.1).update("w", param, np.ones(3)), np.full(3, 0.9))


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
        scratch.append(fast_optimizers._block_scratch(np.dtype(np.float32)))

    threads = [threading.Thread(target=take) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    first, second = scratch
    assert first[0] is not second[0] and first[1] is not second[1]
