"""``update_all``, the trainer's one call per step: small numpy parameters stepped together over
flat arrays give exactly the bits of one reference step per parameter, stay views of those flat
arrays from step to step, and are gathered again when their arrays were replaced (a resumed run)."""

import numpy as np
import pytest

from corenn.kernels import reference_kernels
from corenn.nn import flat_groups
from corenn.nn.flat_groups import SMALL_PARAMETER_ELEMENTS
from corenn.nn.optimizers import SGD, Adam
from corenn.plugins import get_backend

get_backend("numpy")  # installs numpy's overrides

# A parameter too large to be grouped, and small ones of several shapes.
SHAPES = {"0.W": (300, 250), "0.b": (1, 250), "1.W": (3, 3, 2, 5), "1.b": (1, 5), "2.W": (37, 11), "2.b": (1, 11)}
SETTINGS = {
    "adam": (Adam, {"lr": 0.01, "weight_decay": 0.05, "clip_norm": 2.0}),
    "sgd nesterov": (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    "sgd momentum": (SGD, {"lr": 0.05, "momentum": 0.5}),
}
# two groups of small parameters (factor 1 and 64) and a lone one (0.5)
LR_SCALES = {"1.b": 64.0, "2.b": 64.0, "2.W": 0.5}


def start(dtype):
    rng = np.random.default_rng(0)
    return {name: rng.standard_normal(shape).astype(dtype) for name, shape in SHAPES.items()}


def gradients(rng, dtype):
    scale = rng.choice([5.0, 0.01])  # clip_norm applies to some steps and not others
    return {name: (rng.standard_normal(shape) * scale).astype(dtype) for name, shape in SHAPES.items()}


def reference_step(optimizer, params, grads):
    with reference_kernels():
        for name in params:
            params[name] = optimizer.update(name, params[name], grads[name], lr_scale=LR_SCALES.get(name, 1.0))


def grouped_step(optimizer, params, grads):
    params |= optimizer.update_all(params, grads, LR_SCALES)


def test_the_shapes_have_large_and_small_parameters():
    sizes = [int(np.prod(shape)) for shape in SHAPES.values()]
    assert max(sizes) > SMALL_PARAMETER_ELEMENTS > min(sizes)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("setting", list(SETTINGS))
def test_update_all_gives_the_bits_of_one_reference_step_per_parameter(dtype, setting):
    cls, options = SETTINGS[setting]
    grouped, reference = cls(**options), cls(**options)
    params, expected = start(dtype), start(dtype)
    rng = np.random.default_rng(1)
    for step in range(6):
        grouped.lr = reference.lr = reference.lr * 0.9  # a schedule: the rate changes every step
        grads = gradients(rng, dtype)
        grouped_step(grouped, params, grads)
        reference_step(reference, expected, grads)
        for name in SHAPES:
            assert params[name].dtype == dtype and params[name].shape == SHAPES[name]
            assert np.array_equal(params[name], expected[name]), f"{name} differs at step {step}"
    state, expected_state = grouped.state_dict(), reference.state_dict()
    assert state.keys() == expected_state.keys()
    for key, value in expected_state.items():
        assert np.array_equal(state[key], value), key


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_small_parameters_stay_views_of_one_flat_array_step_after_step(setting, monkeypatch):
    """After the first step, a step gathers nothing but the gradients: one concatenation per
    group, and no parameter is replaced."""
    cls, options = SETTINGS[setting]
    optimizer, params = cls(**options), start(np.float32)
    rng = np.random.default_rng(2)
    grouped_step(optimizer, params, gradients(rng, np.float32))
    flat = {name: params[name].base for name in ("0.b", "1.W", "1.b", "2.b")}
    assert flat["0.b"] is flat["1.W"] and flat["1.b"] is flat["2.b"]  # one flat array per group
    assert flat["0.b"] is not flat["1.b"] and flat["0.b"] is not None  # factors 1 and 64: two groups
    calls = []
    real = flat_groups.concatenated
    monkeypatch.setattr(flat_groups, "concatenated", lambda arrays: calls.append(len(arrays)) or real(arrays))
    monkeypatch.setattr("corenn.nn.optimizers.concatenated", flat_groups.concatenated)
    assert optimizer.update_all(params, gradients(rng, np.float32), LR_SCALES) == {}
    assert sorted(calls) == [1, 2, 2]  # the gradients of {2.W}, {0.b, 1.W} and {1.b, 2.b}


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_a_resumed_optimizer_continues_bit_for_bit(setting):
    """A checkpoint's state (numpy copies) and parameters (new arrays) are gathered into new
    flat arrays at the next step, which continues exactly as the uninterrupted run does."""
    cls, options = SETTINGS[setting]
    running, params = cls(**options), start(np.float64)
    rng = np.random.default_rng(3)
    steps = [gradients(rng, np.float64) for _ in range(6)]
    for grads in steps[:3]:
        grouped_step(running, params, grads)
    resumed = cls(**options)
    resumed.load_state_dict({key: np.array(value) for key, value in running.state_dict().items()})
    resumed_params = {name: np.array(value) for name, value in params.items()}
    for grads in steps[3:]:
        grouped_step(running, params, grads)
        grouped_step(resumed, resumed_params, grads)
    for name in SHAPES:
        assert np.array_equal(resumed_params[name], params[name]), name


def test_adam_groups_only_parameters_at_the_same_step():
    """A parameter stepped once on its own has its own step count (its bias correction),
    so it is stepped apart from the others, and every one still gets the reference's bits."""
    grouped, reference = Adam(lr=0.01), Adam(lr=0.01)
    params, expected = start(np.float32), start(np.float32)
    rng = np.random.default_rng(4)
    grads = gradients(rng, np.float32)
    params["1.W"] = grouped.update("1.W", params["1.W"], grads["1.W"])
    with reference_kernels():
        expected["1.W"] = reference.update("1.W", expected["1.W"], grads["1.W"])
    for _ in range(3):
        grads = gradients(rng, np.float32)
        grouped_step(grouped, params, grads)
        reference_step(reference, expected, grads)
    for name in SHAPES:
        assert np.array_equal(params[name], expected[name]), name
    assert grouped.state["t"]["1.W"] == 4 and grouped.state["t"]["0.b"] == 3


def test_a_subclass_that_changes_update_gets_one_call_per_parameter():
    """A plugin's optimizer built on SGD whose ``update`` does more (here: counts) keeps
    seeing every parameter: groups would step past it."""

    class CountingSGD(SGD):
        def __init__(self, **options):
            super().__init__(**options)
            self.names = []

        def update(self, param_name, param, param_grad, **keywords):
            self.names.append(param_name)
            return super().update(param_name, param, param_grad, **keywords)

    optimizer, params = CountingSGD(lr=0.1), start(np.float32)
    grouped_step(optimizer, params, gradients(np.random.default_rng(5), np.float32))
    assert sorted(optimizer.names) == sorted(SHAPES)
