"""numpy's optimizer kernels give exactly the bits of the whole-array formulas they replaced,
block by block or not, and allocate nothing per step on the blocked path."""

import threading
import tracemalloc

import numpy as np
import pytest

import corenn
from corenn.nn import optimizer_kernels
from corenn.nn.optimizer_kernels import BLOCK_ELEMENTS
from corenn.nn.optimizers import Adam

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


def reference_adam_update(optimizer, state, name, param, grad, lr_scale=1.0):
    """Adam's update as whole-array expressions, as ``Adam.update`` was written before its step
    became a kernel: the reference the kernels must match bit for bit."""
    step_lr = optimizer.lr * lr_scale
    grad = optimizer._clipped(grad)
    if optimizer.weight_decay:
        param *= 1.0 - optimizer.lr * optimizer.weight_decay
    step, m, v = state.get(name) or (0, np.zeros_like(param), np.zeros_like(param))
    step += 1
    state[name] = (step, m, v)
    m *= optimizer.beta1
    m += (1.0 - optimizer.beta1) * grad
    v *= optimizer.beta2
    v += (1.0 - optimizer.beta2) * np.square(grad)
    m_hat = m / (1.0 - optimizer.beta1**step)
    v_hat = v / (1.0 - optimizer.beta2**step)
    param -= step_lr * m_hat / (np.sqrt(v_hat) + optimizer.epsilon)
    return param


def gradient(rng, shape, step, dtype):
    # large and small steps, so that clip_norm both applies and does not
    return (rng.standard_normal(shape) * (5.0 if step % 2 else 0.01)).astype(dtype)


def test_the_shapes_cover_partial_and_several_blocks():
    sizes = [int(np.prod(shape)) for shape in SHAPES.values()]
    assert max(sizes) > BLOCK_ELEMENTS and max(sizes) % BLOCK_ELEMENTS != 0
    assert min(sizes) < BLOCK_ELEMENTS


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("setting", list(ADAM_SETTINGS))
def test_adam_matches_the_whole_array_formula_bit_for_bit(dtype, setting):
    options, lr_scales = ADAM_SETTINGS[setting]
    rng = np.random.default_rng(0)
    start = {name: rng.standard_normal(shape).astype(dtype) for name, shape in SHAPES.items()}
    params = {name: value.copy() for name, value in start.items()}
    expected = {name: value.copy() for name, value in start.items()}
    optimizer, reference, reference_state = Adam(**options), Adam(**options), {}
    for step in range(6):
        optimizer.lr = reference.lr = reference.lr * 0.9  # a schedule: the rate changes every step
        for name, shape in SHAPES.items():
            grad = gradient(rng, shape, step, dtype)
            scale = lr_scales.get(name, 1.0)
            assert optimizer.update(name, params[name], grad, lr_scale=scale) is params[name]
            reference_adam_update(reference, reference_state, name, expected[name], grad, lr_scale=scale)
            assert params[name].dtype == dtype
            assert np.array_equal(params[name], expected[name]), f"{name} differs at step {step}"
    for name in SHAPES:
        step, m, v = reference_state[name]
        assert optimizer.state["t"][name] == step
        assert np.array_equal(optimizer.state["m"][name], m) and np.array_equal(optimizer.state["v"][name], v)


@pytest.mark.parametrize(
    "case", ["a non-contiguous parameter", "a Fortran-ordered parameter", "a float64 gradient of a float32 parameter"]
)
def test_adam_off_the_blocked_path_matches_the_formula_too(case):
    rng = np.random.default_rng(1)
    dtype = np.float32
    if case == "a non-contiguous parameter":
        backing = rng.standard_normal((300, 500)).astype(dtype)
        param, expected = backing[:, ::2], backing.copy()[:, ::2]
    elif case == "a Fortran-ordered parameter":
        param = np.asfortranarray(rng.standard_normal((300, 250)).astype(dtype))
        expected = param.copy(order="F")
    else:
        param = rng.standard_normal((300, 250)).astype(dtype)
        expected = param.copy()
    grad_dtype = np.float64 if "float64 gradient" in case else dtype
    options = {"lr": 0.01, "weight_decay": 0.01, "clip_norm": 3.0}
    optimizer, reference, reference_state = Adam(**options), Adam(**options), {}
    for step in range(4):
        grad = gradient(rng, param.shape, step, grad_dtype)
        optimizer.update("w", param, grad, lr_scale=2.0)
        reference_adam_update(reference, reference_state, "w", expected, grad, lr_scale=2.0)
        assert param.dtype == dtype
        assert np.array_equal(param, expected), f"differs at step {step}"


def test_the_registered_numpy_kernel_is_the_blocked_one():
    optimizer = corenn.create("optimizer", "adam", "numpy")
    assert optimizer.kernels.optimizer_adam_step is optimizer_kernels.optimizer_adam_step


def test_a_blocked_adam_step_allocates_no_parameter_sized_array():
    rng = np.random.default_rng(2)
    param = rng.standard_normal((1000, 500)).astype(np.float32)  # 2 MB
    optimizer = Adam()
    optimizer.update("w", param, rng.standard_normal(param.shape).astype(np.float32))  # makes m, v, scratch
    grad = rng.standard_normal(param.shape).astype(np.float32)
    tracemalloc.start()
    try:
        optimizer.update("w", param, grad)
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
