"""The optimizers' weight_decay option: L2 in SGD's gradient, decoupled (AdamW) in Adam."""

import numpy as np
import pytest

import corenn
from corenn.errors import ConfigError
from corenn.nn.optimizers import SGD, Adam


def test_sgd_adds_weight_decay_times_the_parameter_to_the_gradient():
    param = np.array([2.0, -4.0])
    param = SGD(lr=0.5, weight_decay=0.1).update("w", param, np.array([1.0, 1.0]))
    # g = [1 + 0.2, 1 - 0.4] = [1.2, 0.6]; param -= 0.5 * g
    np.testing.assert_allclose(param, [1.4, -4.3], rtol=1e-15)


def test_sgd_with_momentum_decays_inside_the_velocity():
    decayed, reference = np.array([1.0, -1.0]), np.array([1.0, -1.0])
    with_decay = SGD(lr=0.1, momentum=0.9, weight_decay=0.01)
    without = SGD(lr=0.1, momentum=0.9)
    for step in range(5):
        grad = np.random.default_rng(step).standard_normal(2)
        decayed = with_decay.update("w", decayed, grad)
        # the same step, the decay written into the gradient by hand
        reference = without.update("w", reference, grad + 0.01 * reference)
    np.testing.assert_allclose(decayed, reference, rtol=1e-15)


def test_sgd_clips_the_gradient_but_not_the_decay():
    param = np.array([10.0, 0.0])
    param = SGD(lr=1.0, clip_norm=1.0, weight_decay=0.5).update("w", param, np.array([0.0, 100.0]))
    np.testing.assert_allclose(param, [10.0 - 5.0, -1.0], rtol=1e-15)


def test_adam_decay_is_decoupled_from_the_moment_estimates():
    decayed, plain = np.array([3.0, -2.0, 0.5]), np.array([3.0, -2.0, 0.5])
    adamw = Adam(lr=0.01, weight_decay=0.1)
    adam = Adam(lr=0.01)
    for step in range(4):
        grad = np.random.default_rng(step).standard_normal(3)
        before = decayed.copy()
        decayed = adamw.update("w", decayed, grad)
        # AdamW: shrink by (1 - lr * wd), then the very step plain Adam takes with the same moments
        plain = before * (1 - 0.01 * 0.1)
        plain = adam.update("w", plain, grad)
        np.testing.assert_allclose(decayed, plain, rtol=1e-15)
    for slot in ("m", "v"):
        np.testing.assert_array_equal(adamw.state[slot]["w"], adam.state[slot]["w"])


def test_a_zero_gradient_still_shrinks_the_weights():
    for optimizer in (SGD(lr=0.1, weight_decay=0.5), Adam(lr=0.1, weight_decay=0.5)):
        param = np.array([1.0, -2.0])
        param = optimizer.update("w", param, np.zeros(2))
        np.testing.assert_allclose(param, [0.95, -1.9], rtol=1e-15)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_state_dict_keys_are_unchanged_by_weight_decay(name):
    with_decay = corenn.create("optimizer", name, lr=0.1, weight_decay=0.01)
    without = corenn.create("optimizer", name, lr=0.1)
    for optimizer in (with_decay, without):
        optimizer.update("0.W", np.ones((2, 2)), np.ones((2, 2)))
    assert list(with_decay.state_dict()) == list(without.state_dict())


@pytest.mark.parametrize("name", ["sgd", "adam"])
@pytest.mark.parametrize("value", [-0.1, "0.1", True, float("inf")])
def test_bad_weight_decay_names_the_option(name, value):
    with pytest.raises(ConfigError, match="option 'weight_decay' must be"):
        corenn.create("optimizer", name, weight_decay=value)


def test_float32_parameters_stay_float32():
    for optimizer in (SGD(lr=0.1, weight_decay=0.1), Adam(lr=0.1, weight_decay=0.1)):
        param = np.ones(3, dtype=np.float32)
        param = optimizer.update("w", param, np.ones(3, dtype=np.float32))
        assert param.dtype == np.float32
