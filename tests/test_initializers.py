"""The built-in weight initializers: statistics of large draws, gains, fans, determinism, errors."""

import math
import re

import numpy as np
import pytest

import corenn
from corenn.builtins import INITIALIZERS
from corenn.errors import ConfigError, ShapeError
from corenn.nn import initializers
from corenn.nn.initializers import calculate_gain, compute_fans
from corenn.protocols import Initializer

BIG = (600, 500)  # 300,000 draws: sample std within ~0.2% of the true one
CONV_BIG = (5, 5, 60, 200)


def draw(name, shape=BIG, seed=0, **options):
    return corenn.create("initializer", name, **options)(shape, np.random.default_rng(seed))


def assert_uniform(sample, bound):
    assert sample.dtype == np.float64
    assert np.abs(sample).max() <= bound
    assert np.abs(sample).max() > 0.999 * bound
    assert abs(sample.mean()) < 5 * bound / math.sqrt(3 * sample.size)
    assert sample.std() == pytest.approx(bound / math.sqrt(3), rel=0.01)


def assert_normal(sample, mean, std):
    assert sample.dtype == np.float64
    assert abs(sample.mean() - mean) < 5 * std / math.sqrt(sample.size)
    assert sample.std() == pytest.approx(std, rel=0.01)
    # normal, not uniform: about 4.6% of draws lie beyond two standard deviations
    assert np.mean(np.abs(sample - mean) > 2 * std) == pytest.approx(0.0455, abs=0.003)


@pytest.mark.parametrize(
    ("activation", "gain"),
    [
        ("relu", math.sqrt(2)),
        ("gelu", math.sqrt(2)),
        ("ReLU", math.sqrt(2)),
        ("tanh", 5 / 3),
        (None, 1.0),
        ("linear", 1.0),
        ("sigmoid", 1.0),
        ("softmax", 1.0),
        ("arctan", 1.0),
    ],
)
def test_calculate_gain(activation, gain):
    assert calculate_gain(activation) == pytest.approx(gain, rel=1e-15)


def test_calculate_gain_accepts_activation_objects():
    class Tanh:
        pass

    class Named:
        name = "relu"

    assert calculate_gain(Tanh()) == pytest.approx(5 / 3)
    assert calculate_gain(Named()) == pytest.approx(math.sqrt(2))


@pytest.mark.parametrize(
    ("shape", "fans"), [((4, 3), (4, 3)), ((3, 3, 4, 8), (36, 72)), ((5, 1, 2, 7), (10, 35)), ((2, 2, 2), (4, 4))]
)
def test_fans(shape, fans):
    assert compute_fans(shape) == fans


def test_fans_need_two_dimensions():
    with pytest.raises(ShapeError, match=r"\(7,\)"):
        compute_fans((7,))


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_every_registered_name_builds_a_float64_initializer_of_the_requested_shape(name):
    init = corenn.create("initializer", name, activation="relu")
    assert isinstance(init, Initializer)
    shape = (4, 4) if name == "identity" else (3, 3, 2, 4)
    sample = init(shape, np.random.default_rng(0))
    assert sample.shape == shape and sample.dtype == np.float64


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_each_call_makes_a_new_array_of_its_own(name):
    """An initializer is given a shape and a generator, no array to write into, and hands out
    arrays no other call shares: two layers never start from one array, whatever is done to it."""
    init = corenn.create("initializer", name, activation="relu")
    shape = (4, 4) if name == "identity" else (3, 3, 2, 4)
    first, second = init(shape, np.random.default_rng(0)), init(shape, np.random.default_rng(0))
    assert not np.shares_memory(first, second)


@pytest.mark.parametrize(
    "name", ["uniform", "normal", "sparse", "he_uniform", "he_normal", "xavier_uniform", "xavier_normal"]
)
def test_draws_are_deterministic_for_a_seeded_rng(name):
    np.testing.assert_array_equal(draw(name, (20, 10), seed=7), draw(name, (20, 10), seed=7))
    assert not np.array_equal(draw(name, (20, 10), seed=7), draw(name, (20, 10), seed=8))


def test_zeros_ones_constant():
    np.testing.assert_array_equal(draw("zeros", (2, 3)), np.zeros((2, 3)))
    np.testing.assert_array_equal(draw("ones", (2, 3)), np.ones((2, 3)))
    np.testing.assert_array_equal(draw("constant", (2, 3), value=-0.5), np.full((2, 3), -0.5))
    np.testing.assert_array_equal(draw("zeros", (1, 4)), np.zeros((1, 4)))  # a bias row


def test_identity_is_eye_scaled_by_an_explicit_gain_only():
    np.testing.assert_array_equal(draw("identity", (3, 3), activation="relu"), np.eye(3))
    np.testing.assert_array_equal(draw("identity", (2, 3), gain=2.0), [[2.0, 0, 0], [0, 2.0, 0]])


def test_identity_refuses_other_than_two_dimensions():
    with pytest.raises(ShapeError, match=r"identity.*\(3, 3, 2, 2\)"):
        draw("identity", (3, 3, 2, 2))


def test_defaults_are_the_courses():
    """The course package: uniform on [-1, 1], normal(0, 1), constant 0.5, sparse 0.1 / 0.01."""
    assert_uniform(draw("uniform"), 1.0)
    assert_normal(draw("normal"), 0.0, 1.0)
    np.testing.assert_array_equal(draw("constant", (2, 3)), np.full((2, 3), 0.5))
    sparse = draw("sparse", (100, 400))
    assert (sparse == 0).sum(axis=0).tolist() == [10] * 400  # ceil(0.1 * 100) zeros per column
    assert sparse[sparse != 0].std() == pytest.approx(0.01, rel=0.02)


@pytest.mark.parametrize("name", ["he_uniform", "he_normal"])
def test_he_mode_chooses_the_fan(name):
    fan_in, fan_out = 5 * 5 * 60, 5 * 5 * 200
    check = assert_uniform if name == "he_uniform" else (lambda sample, scale: assert_normal(sample, 0.0, scale))
    factor = math.sqrt(3) if name == "he_uniform" else 1.0
    check(draw(name, CONV_BIG, mode="fan_in"), math.sqrt(2) * factor / math.sqrt(fan_in))
    check(draw(name, CONV_BIG, mode="fan_out"), math.sqrt(2) * factor / math.sqrt(fan_out))
    with pytest.raises(ConfigError, match="'mode' must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        corenn.create("initializer", name, mode="fan_avg")


def test_uniform_and_normal_statistics():
    assert_uniform(draw("uniform", low=-0.05, high=0.05), 0.05)
    shifted = draw("uniform", low=1.0, high=3.0)
    assert shifted.min() >= 1.0 and shifted.max() < 3.0
    assert shifted.mean() == pytest.approx(2.0, abs=0.01)
    assert_normal(draw("normal", std=0.05), 0.0, 0.05)
    assert_normal(draw("normal", mean=1.5, std=0.2), 1.5, 0.2)


@pytest.mark.parametrize(
    ("activation", "gain"), [(None, math.sqrt(2)), ("relu", math.sqrt(2)), ("tanh", 5 / 3), ("linear", 1.0)]
)
def test_he_uniform_bound_uses_fan_in_and_gain(activation, gain):
    assert_uniform(draw("he_uniform", activation=activation), gain * math.sqrt(3 / BIG[0]))
    assert_uniform(draw("he_uniform", CONV_BIG, activation=activation), gain * math.sqrt(3 / (5 * 5 * 60)))


@pytest.mark.parametrize(("activation", "gain"), [(None, math.sqrt(2)), ("relu", math.sqrt(2)), ("sigmoid", 1.0)])
def test_he_normal_std_uses_fan_in_and_gain(activation, gain):
    assert_normal(draw("he_normal", activation=activation), 0.0, gain / math.sqrt(BIG[0]))
    assert_normal(draw("he_normal", CONV_BIG, activation=activation), 0.0, gain / math.sqrt(5 * 5 * 60))


@pytest.mark.parametrize(
    ("activation", "gain"),
    [(None, 1.0), ("relu", math.sqrt(2)), ("gelu", math.sqrt(2)), ("tanh", 5 / 3), ("softmax", 1.0)],
)
def test_xavier_uniform_bound_uses_both_fans_and_gain(activation, gain):
    assert_uniform(draw("xavier_uniform", activation=activation), gain * math.sqrt(6 / sum(BIG)))
    conv_fans = 25 * 60 + 25 * 200
    assert_uniform(draw("xavier_uniform", CONV_BIG, activation=activation), gain * math.sqrt(6 / conv_fans))


@pytest.mark.parametrize(("activation", "gain"), [(None, 1.0), ("relu", math.sqrt(2)), ("tanh", 5 / 3)])
def test_xavier_normal_std_uses_both_fans_and_gain(activation, gain):
    assert_normal(draw("xavier_normal", activation=activation), 0.0, gain * math.sqrt(2 / sum(BIG)))
    conv_fans = 25 * 60 + 25 * 200
    assert_normal(draw("xavier_normal", CONV_BIG, activation=activation), 0.0, gain * math.sqrt(2 / conv_fans))


@pytest.mark.parametrize("name", ["he_uniform", "he_normal", "xavier_uniform", "xavier_normal"])
def test_explicit_gain_overrides_the_activation(name):
    # the same draws scaled: gain 3 against the activation's relu gain sqrt(2)
    overridden = draw(name, (40, 30), seed=1, activation="relu", gain=3.0)
    from_activation = draw(name, (40, 30), seed=1, activation="relu")
    np.testing.assert_allclose(overridden, from_activation * 3.0 / math.sqrt(2), rtol=1e-12)


def test_sparse_zeros_ceil_of_sparsity_times_rows_in_every_column_and_draws_normal_elsewhere():
    rows, cols = 400, 300
    weight = draw("sparse", (rows, cols), sparsity=0.25, std=0.02)
    zeros_per_column = np.sum(weight == 0.0, axis=0)
    np.testing.assert_array_equal(zeros_per_column, np.full(cols, math.ceil(0.25 * rows)))
    # which rows are zero differs between columns
    assert len({tuple(np.flatnonzero(weight[:, c] == 0.0)) for c in range(cols)}) == cols
    assert_normal(weight[weight != 0.0], 0.0, 0.02)


def test_sparse_rounds_the_zero_count_up_and_handles_conv_kernels():
    weight = draw("sparse", (7, 5), sparsity=0.1)  # ceil(0.7) = 1 zero per column
    np.testing.assert_array_equal(np.sum(weight == 0.0, axis=0), np.ones(5))
    kernel = draw("sparse", (3, 3, 4, 6), sparsity=0.5)  # 36 inputs per output channel
    assert kernel.shape == (3, 3, 4, 6)
    np.testing.assert_array_equal(np.sum(kernel.reshape(36, 6) == 0.0, axis=0), np.full(6, 18))


@pytest.mark.parametrize(
    ("name", "options", "option", "allowed"),
    [
        ("uniform", {"low": 0.1, "high": 0.1}, "low", "less than option 'high'"),
        ("uniform", {"high": float("inf")}, "high", "finite number"),
        ("normal", {"std": 0.0}, "std", "> 0"),
        ("normal", {"mean": "zero"}, "mean", "finite number"),
        ("constant", {"value": None}, "value", "finite number"),
        ("sparse", {"sparsity": 1.5}, "sparsity", "[0, 1]"),
        ("sparse", {"std": -0.01}, "std", "> 0"),
        ("he_uniform", {"gain": 0.0}, "gain", "> 0"),
        ("xavier_normal", {"gain": -1.0}, "gain", "> 0"),
        ("identity", {"gain": True}, "gain", "finite number"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(name, options, option, allowed):
    with pytest.raises(ConfigError) as excinfo:
        corenn.create("initializer", name, **options)
    message = str(excinfo.value)
    assert f"initializer {name!r}" in message and repr(option) in message and allowed in message


def test_unknown_option_lists_the_allowed_ones():
    with pytest.raises(ConfigError, match=r"no option 'std'.*activation, low, high"):
        corenn.create("initializer", "uniform", std=0.1)


@pytest.mark.parametrize("name", ["he_uniform", "he_normal", "xavier_uniform", "xavier_normal"])
@pytest.mark.parametrize("shape", [(5,), (0, 3)])
def test_fan_based_initializers_need_a_non_empty_weight_of_two_or_more_dimensions(name, shape):
    with pytest.raises(ShapeError, match=name):
        draw(name, shape)


def test_module_exports_each_registered_factory():
    for name, target in INITIALIZERS.items():
        assert target == f"corenn.nn.initializers:{name}"
        assert callable(getattr(initializers, name))


def test_the_gain_is_the_activations_own():
    class Leaky:
        name = "relu"  # the attribute wins over the name: the activation knows its own gain
        gain = 1.25

    assert calculate_gain(Leaky()) == 1.25
    assert calculate_gain("not_registered_anywhere") == 1.0
    init = corenn.create("initializer", "xavier_uniform", activation=Leaky())
    W = init((400, 600), np.random.default_rng(0))
    assert np.abs(W).max() <= 1.25 * math.sqrt(6 / 1000)
    assert np.abs(W).max() > 1.2 * math.sqrt(6 / 1000)


@pytest.mark.parametrize("gain", [0, -1.0, float("inf"), "2", True])
def test_an_activation_gain_that_is_no_positive_number_is_an_error(gain):
    class Odd:
        name = "odd"

    Odd.gain = gain
    with pytest.raises(
        ConfigError,
        match=f"activation 'odd' has gain {re.escape(repr(gain))}; an activation's gain must be a finite number > 0",
    ):
        calculate_gain(Odd())
