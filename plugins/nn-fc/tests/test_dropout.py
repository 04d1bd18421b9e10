"""dropout on numpy: the mask's statistics and scaling, evaluation mode, determinism from the
layer's generator, finite differences with the mask held fixed, options and errors."""

import numpy as np
import pytest

import corenn
from corenn.errors import ConfigError, CorennError, ShapeError
from corenn.testing import DEFAULT_TOLERANCE, FixedRandomness, check_layer_conformance, check_layer_gradients


def dropout(rng=None, **options):
    layer = corenn.create("layer", "dropout", **options)
    layer.rng = rng
    return layer


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_drops_about_rate_of_the_inputs_and_scales_the_rest_to_keep_the_mean(rate):
    X = np.full((200, 500), 2.0)
    Y = dropout(np.random.default_rng(0), rate=rate).forward(X)
    kept = Y != 0
    assert abs(1 - kept.mean() - rate) < 0.005  # 100,000 draws: the standard error is under 0.002
    np.testing.assert_allclose(Y[kept], 2.0 / (1 - rate), rtol=1e-15)
    assert abs(Y.mean() - 2.0) < 0.05


def test_the_mask_is_rng_random_at_least_rate():
    X = np.random.default_rng(1).standard_normal((4, 6))
    Y = dropout(np.random.default_rng(5), rate=0.3).forward(X)
    keep = np.random.default_rng(5).random((4, 6)) >= 0.3
    np.testing.assert_allclose(Y, np.where(keep, X / 0.7, 0.0), rtol=1e-15)
    np.testing.assert_array_equal(Y != 0, keep)


def test_the_same_seed_gives_the_same_masks_and_each_forward_a_new_one():
    X = np.ones((8, 16))
    first, second = dropout(np.random.default_rng(3)), dropout(np.random.default_rng(3))
    a1, a2 = first.forward(X), first.forward(X)
    np.testing.assert_array_equal(a1, second.forward(X))
    np.testing.assert_array_equal(a2, second.forward(X))
    assert not np.array_equal(a1, a2)


@pytest.mark.parametrize("rate", [0.0, 0.5])
def test_evaluation_mode_and_rate_zero_are_the_identity(rate):
    X = np.random.default_rng(2).standard_normal((3, 4))
    layer = dropout(np.random.default_rng(0), rate=rate)
    if rate:
        layer.training = False
    np.testing.assert_array_equal(layer.forward(X), X)
    np.testing.assert_array_equal(layer.backward(2 * X), 2 * X)


def test_backward_drops_and_scales_the_gradient_where_forward_did():
    X = np.random.default_rng(2).standard_normal((5, 7))
    layer = dropout(np.random.default_rng(9), rate=0.4)
    Y = layer.forward(X)
    G = np.random.default_rng(4).standard_normal(Y.shape)
    np.testing.assert_allclose(layer.backward(G), np.where(Y != 0, G / 0.6, 0.0), rtol=1e-15)


@pytest.mark.parametrize("activation", ["linear", "tanh"])
@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 3, 4)])
def test_gradients_match_finite_differences_with_the_mask_held_fixed(activation, shape):
    layer = FixedRandomness(dropout(rate=0.3, activation=activation), seed=7)
    errors = check_layer_gradients(layer, np.random.default_rng(10).standard_normal(shape))
    assert errors["X"] <= DEFAULT_TOLERANCE, errors


def test_float32_stays_float32_and_there_are_no_parameters():
    layer = dropout(np.random.default_rng(0))
    Y = layer.forward(np.ones((3, 4), dtype=np.float32))
    assert Y.dtype == np.float32 and layer.backward(np.ones_like(Y)).dtype == np.float32
    assert not layer.parameters and not layer.gradients


def test_conformance():
    check_layer_conformance(lambda: dropout(np.random.default_rng(0), rate=0.2), (4, 5))


@pytest.mark.parametrize("rate", [1.0, -0.1, "half", True])
def test_bad_rates_are_config_errors(rate):
    with pytest.raises(ConfigError, match=r"rate must be a number in \[0, 1\)"):
        corenn.create("layer", "dropout", rate=rate)


def test_shape_and_order_errors():
    layer = dropout(np.random.default_rng(0))
    with pytest.raises(CorennError, match="dropout: backward was called before any forward"):
        layer.backward(np.ones((2, 3)))
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"output's shape \(2, 3\), got shape \(3, 2\)"):
        layer.backward(np.ones((3, 2)))
