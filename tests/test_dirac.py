"""The dirac initializer: identity filters on top of torch's default conv init."""

import math

import numpy as np
import pytest

import corenn
from corenn.errors import ShapeError


def draw(shape, seed=0, **options):
    return corenn.create("initializer", "dirac", **options)(shape, np.random.default_rng(seed))


def split_identity(weight):
    """The first min(C_in, C_out) filters and the rest, of a (kh, kw, C_in, C_out) kernel."""
    n_identity = min(weight.shape[2], weight.shape[3])
    return weight[..., :n_identity], weight[..., n_identity:]


@pytest.mark.parametrize("shape", [(3, 3, 4, 6), (3, 3, 6, 4), (5, 5, 3, 3), (2, 2, 3, 5), (1, 1, 2, 3)])
def test_the_first_filters_are_centred_deltas_on_their_own_channel(shape):
    weight = draw(shape)
    assert weight.shape == shape and weight.dtype == np.float64
    identity_filters, _ = split_identity(weight)
    kh, kw = shape[:2]
    expected = np.zeros(identity_filters.shape)
    for o in range(identity_filters.shape[3]):
        expected[kh // 2, kw // 2, o, o] = 1.0
    np.testing.assert_array_equal(identity_filters, expected)


def test_an_identity_filter_copies_its_input_channel_through_a_same_convolution():
    weight = draw((3, 3, 4, 6), seed=3)
    X = np.random.default_rng(0).standard_normal((2, 5, 5, 4))
    padded = np.pad(X, ((0, 0), (1, 1), (1, 1), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))  # (m, 5, 5, C, kh, kw)
    Z = np.einsum("nyxcij,ijco->nyxo", windows, weight)
    np.testing.assert_allclose(Z[..., :4], X, rtol=0, atol=1e-15)
    assert not np.allclose(Z[..., 4:], 0)  # the other two filters are random


def test_the_other_filters_are_torchs_default_conv_init():
    shape = (3, 3, 40, 4000)  # 40 identity filters, 3960 random ones
    weight = draw(shape)
    _, random_filters = split_identity(weight)
    bound = 1.0 / math.sqrt(3 * 3 * 40)
    assert np.abs(random_filters).max() <= bound
    assert np.abs(random_filters).max() > 0.999 * bound
    assert random_filters.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    assert abs(random_filters.mean()) < 5 * bound / math.sqrt(3 * random_filters.size)


def test_a_two_dimensional_weight_is_a_one_by_one_kernel():
    wide = draw((3, 5), seed=1)
    np.testing.assert_array_equal(wide[:, :3], np.eye(3))
    assert np.abs(wide[:, 3:]).max() <= 1 / math.sqrt(3) and np.all(wide[:, 3:] != 0)
    tall = draw((5, 3), seed=1)
    np.testing.assert_array_equal(tall, np.eye(5, 3))


def test_draws_follow_the_seed_and_ignore_the_activation():
    np.testing.assert_array_equal(draw((3, 3, 2, 6), seed=7), draw((3, 3, 2, 6), seed=7, activation="relu"))
    np.testing.assert_array_equal(draw((3, 3, 2, 6), seed=7, activation="tanh"), draw((3, 3, 2, 6), seed=7))
    assert not np.array_equal(draw((3, 3, 2, 6), seed=7), draw((3, 3, 2, 6), seed=8))


@pytest.mark.parametrize("shape", [(6,), (3, 3, 4), (1, 3, 3, 2, 2), (3, 3, 0, 4), (0, 3)])
def test_other_than_non_empty_two_or_four_dimensional_weights_are_refused(shape):
    with pytest.raises(ShapeError, match=r"dirac.*\(n_in, n_out\).*\(kh, kw, C_in, C_out\)"):
        draw(shape)


def test_dirac_takes_no_options_but_the_activation():
    with pytest.raises(corenn.errors.ConfigError, match="gain"):
        corenn.create("initializer", "dirac", gain=2.0)


def test_a_fully_connected_layer_with_dirac_weights_passes_its_inputs_through_first():
    layer = corenn.create("layer", "fully_connected", n_out=5, weight_init="dirac")
    layer.rng = np.random.default_rng(0)
    X = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    Y = layer.forward(X)
    assert layer.parameters["W"].dtype == np.float32
    np.testing.assert_array_equal(Y[:, :3], X)
