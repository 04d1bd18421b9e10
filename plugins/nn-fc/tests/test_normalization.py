"""batch_norm on numpy: finite differences in both modes, the statistics it normalises with,
its running statistics (on numpy's kernels and on the references), the synchronised kernels of
data-parallel runs, dtype, options and errors."""

import numpy as np
import pytest

import corenn
from corenn.errors import ConfigError, CorennError, ShapeError
from corenn.kernels import reference_kernels
from corenn.testing import DEFAULT_TOLERANCE, check_layer_conformance, check_layer_gradients

from corenn_fc.kernel_examples import TwinRanks
from corenn_fc.normalization import (
    batch_norm_backward,
    batch_norm_forward,
    sync_batch_norm_backward,
    sync_batch_norm_forward,
)

SHAPES = [(6, 4), (3, 4, 5, 2), (2, 3, 3, 1), (5, 1)]


def batch_norm(**options):
    return corenn.create("layer", "batch_norm", **options)


def scrambled(layer, X, seed=1):
    """``layer`` after one forward, with gamma (when it has one), beta and the running
    statistics made random, so that no check passes just because they start at ones and zeros."""
    layer.forward(X)
    rng = np.random.default_rng(seed)
    shape = layer.parameters["b"].shape
    if "W" in layer.parameters:
        layer.parameters["W"][...] = rng.standard_normal(shape)
    layer.parameters["b"][...] = rng.standard_normal(shape)
    layer.buffers["running_mean"][...] = rng.standard_normal(shape)
    layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, shape)
    return layer


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", ["linear", "tanh", "relu"])
@pytest.mark.parametrize("training", [True, False])
def test_gradients_match_finite_differences(shape, activation, training):
    # Not seed 0: the check's upstream gradient is drawn with seed 0, and an input equal to it
    # (up to scale) would make the training-mode dL/dX vanish.
    X = np.random.default_rng(10).standard_normal(shape) * 3 + 1
    layer = scrambled(batch_norm(activation=activation), X)
    layer.training = training
    errors = check_layer_gradients(layer, X)
    assert max(errors.values()) <= DEFAULT_TOLERANCE, errors


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", ["linear", "gelu", "relu"])
@pytest.mark.parametrize("training", [True, False])
def test_without_scale_gradients_match_finite_differences(shape, activation, training):
    X = np.random.default_rng(10).standard_normal(shape) * 3 + 1
    layer = scrambled(batch_norm(activation=activation, scale=False), X)
    layer.training = training
    errors = check_layer_gradients(layer, X)
    assert set(errors) == {"X", "b"}
    assert max(errors.values()) <= DEFAULT_TOLERANCE, errors


@pytest.mark.parametrize("training", [True, False])
def test_without_scale_the_layer_is_the_scaled_one_with_W_fixed_at_1(training):
    """Same input, same shift and running statistics: the outputs, dL/dX and dL/db agree with
    a scaled layer whose W is ones, and no W (nor its gradient) exists."""
    X = np.random.default_rng(5).standard_normal((3, 4, 4, 2)) * 2 - 1
    G = np.random.default_rng(6).standard_normal(X.shape)
    unscaled = scrambled(batch_norm(activation="gelu", scale=False), X)
    scaled = batch_norm(activation="gelu")
    scaled.forward(X)
    scaled.parameters["b"][...] = unscaled.parameters["b"]
    for key, value in unscaled.buffers.items():
        scaled.buffers[key][...] = value
    unscaled.training = scaled.training = training
    np.testing.assert_allclose(unscaled.forward(X), scaled.forward(X), rtol=1e-14)
    np.testing.assert_allclose(unscaled.backward(G), scaled.backward(G), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(unscaled.gradients["b"], scaled.gradients["b"], rtol=1e-13)
    assert list(unscaled.parameters) == list(unscaled.gradients) == ["b"]
    assert list(unscaled.buffers) == ["running_mean", "running_var"]


def test_without_scale_evaluation_adds_only_the_shift():
    X = np.random.default_rng(4).standard_normal((8, 3))
    layer = scrambled(batch_norm(scale=False), X)
    layer.training = False
    expected = (X - layer.buffers["running_mean"]) / np.sqrt(layer.buffers["running_var"] + 1e-5) + layer.parameters[
        "b"
    ]
    np.testing.assert_allclose(layer.forward(X), expected, rtol=1e-13)


@pytest.mark.parametrize("scale", [True, False])
@pytest.mark.parametrize("input_shape", [(4, 5), (2, 3, 3, 2)])
def test_conformance_with_and_without_scale(scale, input_shape):
    check_layer_conformance(lambda: batch_norm(scale=scale), input_shape)


def test_an_epsilon_of_1e_minus_12_is_allowed_and_used():
    X = np.array([[0.0], [2e-6]])  # variance 1e-12: epsilon 1e-12 halves 1 / var
    layer = batch_norm(epsilon=1e-12, momentum=0.5)
    assert layer.epsilon == 1e-12 and layer.momentum == 0.5
    np.testing.assert_allclose(layer.forward(X), [[-1 / np.sqrt(2)], [1 / np.sqrt(2)]], rtol=1e-9)


@pytest.mark.parametrize("shape", SHAPES[:3])
def test_training_mode_output_has_zero_mean_and_unit_variance_per_channel(shape):
    X = np.random.default_rng(2).standard_normal(shape) * 5 - 3
    Y = batch_norm(epsilon=1e-12).forward(X)
    axes = tuple(range(len(shape) - 1))
    np.testing.assert_allclose(Y.mean(axis=axes), 0, atol=1e-12)
    np.testing.assert_allclose(Y.var(axis=axes), 1, rtol=1e-9)


@pytest.mark.parametrize("references", [False, True], ids=["numpy's kernels", "references"])
def test_running_statistics_follow_the_momentum_rule_with_the_unbiased_variance(references):
    """Whether the kernel updates them in place (numpy's) or returns new ones (the reference),
    the layer keeps what it returns."""
    rng = np.random.default_rng(3)
    layer = batch_norm(momentum=0.25)
    batches = [rng.standard_normal((2, 3, 4, 5)) * 2 + 1 for _ in range(3)]
    mean, var = np.zeros(5), np.ones(5)
    for X in batches:
        with reference_kernels(references):
            layer.forward(X)
        flat = X.reshape(-1, 5)
        mean = 0.75 * mean + 0.25 * flat.mean(axis=0)
        var = 0.75 * var + 0.25 * flat.var(axis=0, ddof=1)
    np.testing.assert_allclose(layer.buffers["running_mean"], mean[np.newaxis], rtol=1e-13)
    np.testing.assert_allclose(layer.buffers["running_var"], var[np.newaxis], rtol=1e-13)


def test_evaluation_mode_normalises_with_the_running_statistics_and_leaves_them_alone():
    X = np.random.default_rng(4).standard_normal((8, 3))
    layer = scrambled(batch_norm(), X)
    layer.training = False
    before = {key: value.copy() for key, value in layer.buffers.items()}
    Y = layer.forward(X)
    expected = (X - before["running_mean"]) / np.sqrt(before["running_var"] + 1e-5) * layer.parameters[
        "W"
    ] + layer.parameters["b"]
    np.testing.assert_allclose(Y, expected, rtol=1e-13)
    for key, value in before.items():
        np.testing.assert_array_equal(layer.buffers[key], value)
    # one sample at a time gives the same rows: evaluation does not depend on the batch
    np.testing.assert_allclose(layer.forward(X[:1]), Y[:1], rtol=1e-13)


def test_a_single_value_per_channel_leaves_the_running_statistics_alone():
    layer = batch_norm()
    Y = layer.forward(np.array([[3.0, -1.0]]))
    np.testing.assert_array_equal(Y, [[0.0, 0.0]])
    np.testing.assert_array_equal(layer.buffers["running_mean"], [[0.0, 0.0]])
    np.testing.assert_array_equal(layer.buffers["running_var"], [[1.0, 1.0]])


def test_parameters_and_buffers_are_per_channel_in_the_inputs_dtype():
    layer = batch_norm()
    Y = layer.forward(np.ones((2, 4, 4, 3), dtype=np.float32))
    assert Y.dtype == np.float32
    assert list(layer.parameters) == ["W", "b"] and list(layer.buffers) == ["running_mean", "running_var"]
    layer = batch_norm()
    layer.training = False  # so that the running statistics keep their starting values
    layer.forward(np.ones((2, 4, 4, 3), dtype=np.float32))
    for table, expected in ((layer.parameters, (1.0, 0.0)), (layer.buffers, (0.0, 1.0))):
        values = list(table.values())
        assert all(value.shape == (1, 3) and value.dtype == np.float32 for value in values)
        assert [float(value[0, 0]) for value in values] == list(expected)
    assert layer.n_in == layer.n_out == 3


@pytest.mark.parametrize("input_shape", [(4, 5), (2, 3, 3, 2)])
def test_conformance(input_shape):
    check_layer_conformance(batch_norm, input_shape)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"momentum": 1.5}, "momentum must be a number in [0, 1]"),
        ({"momentum": True}, "momentum must be a number in [0, 1]"),
        ({"epsilon": 0}, "epsilon must be a finite number > 0"),
        ({"epsilon": "small"}, "epsilon must be a finite number > 0"),
        ({"activation": "nope"}, "nope"),
        ({"scale": "false"}, "scale must be true or false"),
        ({"scale": 0}, "scale must be true or false"),
        ({"scale": None}, "scale must be true or false"),
    ],
)
def test_bad_options_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        batch_norm(**options)


def test_shape_errors_name_the_layer_and_shapes():
    layer = batch_norm()
    with pytest.raises(ShapeError, match=r"batch_norm expects a batch .* got shape \(5,\)"):
        layer.forward(np.ones(5))
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"batch_norm expects 3 channels on the last axis, got shape \(2, 4\)"):
        layer.forward(np.ones((2, 4)))
    with pytest.raises(ShapeError, match=r"output's shape \(2, 3\), got shape \(2, 4\)"):
        layer.backward(np.ones((2, 4)))


def test_backward_before_forward_is_an_error():
    with pytest.raises(CorennError, match="batch_norm: backward was called before any forward"):
        batch_norm().backward(np.ones((2, 3)))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("scale", [True, False])
def test_the_references_write_into_none_of_their_arguments(training, scale):
    rng = np.random.default_rng(7)
    X, dZ = rng.standard_normal((2, 3, 3, 4)), rng.standard_normal((2, 3, 3, 4))
    W = rng.standard_normal((1, 4)) if scale else None
    b, running_mean, running_var = rng.standard_normal((1, 4)), rng.standard_normal((1, 4)), rng.uniform(1, 2, (1, 4))
    arguments = [value for value in (X, dZ, W, b, running_mean, running_var) if value is not None]
    before = [value.copy() for value in arguments]
    _, saved, new_mean, new_var = batch_norm_forward.reference(X, W, b, running_mean, running_var, training, 0.1, 1e-5)
    batch_norm_backward.reference(dZ, saved, training, 1e-5)
    for value, original in zip(arguments, before, strict=True):
        np.testing.assert_array_equal(value, original)
    assert (new_mean is running_mean) == (not training)  # evaluation gives them back unchanged


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4, 2), (1, 2)])
@pytest.mark.parametrize("scale", [True, False])
def test_synchronised_kernels_over_twin_ranks_are_the_plain_kernels_on_the_doubled_batch(shape, scale):
    """Two ranks holding the same share X: the global batch is X twice, so each rank's output and
    dL/dX are those of that batch's first half, its running statistics those of that batch (n
    doubled), and its parameter gradients half of that batch's (the step's all-reduce adds them)."""
    rng = np.random.default_rng(8)
    X, dZ = 2 * rng.standard_normal(shape) - 1, rng.standard_normal(shape)
    W = rng.standard_normal((1, shape[-1])) if scale else None
    b = rng.standard_normal((1, shape[-1]))
    statistics = (rng.standard_normal((1, shape[-1])), rng.uniform(0.5, 2.0, (1, shape[-1])))
    doubled, dZ_doubled = np.concatenate([X, X]), np.concatenate([dZ, dZ])
    Z_doubled, saved_doubled, *running_doubled = batch_norm_forward(
        doubled, W, b, *(value.copy() for value in statistics), True, 0.2, 1e-5
    )
    dX_doubled, dW_doubled, db_doubled = batch_norm_backward(dZ_doubled, saved_doubled, True, 1e-5)
    Z, saved, *running = sync_batch_norm_forward(X, W, b, *statistics, 0.2, 1e-5, TwinRanks())
    dX, dW, db = sync_batch_norm_backward(dZ, saved, TwinRanks())
    np.testing.assert_allclose(Z, Z_doubled[: len(X)], rtol=1e-12, atol=1e-14)
    for value, expected in zip(running, running_doubled, strict=True):
        np.testing.assert_allclose(value, expected, rtol=1e-13)
    np.testing.assert_allclose(dX, dX_doubled[: len(X)], rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(db, db_doubled / 2, rtol=1e-12, atol=1e-14)
    assert (dW is None) == (not scale)
    if scale:
        np.testing.assert_allclose(dW, dW_doubled / 2, rtol=1e-12, atol=1e-14)


class CountingTwinRanks(TwinRanks):
    def __init__(self):
        self.calls = 0

    def all_reduce_sum(self, arrays, scalars=()):
        self.calls += 1
        return super().all_reduce_sum(arrays, scalars)


def test_a_layer_with_a_process_group_takes_global_statistics_in_training_mode_only():
    X = np.random.default_rng(9).standard_normal((6, 3)) * 2 + 1
    G = np.random.default_rng(10).standard_normal(X.shape)
    plain, synced = batch_norm(momentum=0.5), batch_norm(momentum=0.5)
    synced.process_group = group = CountingTwinRanks()
    assert plain.process_group is None
    np.testing.assert_allclose(synced.forward(X), plain.forward(X), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(synced.backward(G), plain.backward(G), rtol=1e-11, atol=1e-13)
    assert group.calls == 3  # the mean, the variance, the backward pass's two sums
    # the global batch held 12 values per channel, not 6: another unbiased variance
    n = 12
    expected_var = 0.5 + 0.5 * X.var(axis=0)[np.newaxis] * n / (n - 1)
    np.testing.assert_allclose(synced.buffers["running_var"], expected_var, rtol=1e-12)
    synced.training = plain.training = False
    for key, value in synced.buffers.items():
        plain.buffers[key] = value.copy()
    np.testing.assert_array_equal(synced.forward(X), plain.forward(X))
    np.testing.assert_array_equal(synced.backward(G), plain.backward(G))
    assert group.calls == 3  # evaluation normalises with the running statistics, as one process


def test_an_empty_batch_while_training_is_refused_and_evaluates_in_eval_mode():
    """numpy divided by zero samples (NaN, warnings), torch raised its own error."""
    layer = batch_norm()
    layer.forward(np.random.default_rng(0).normal(size=(4, 3)))
    running = {key: value.copy() for key, value in layer.buffers.items()}
    with pytest.raises(ShapeError) as info:
        layer.forward(np.ones((0, 3)))
    assert str(info.value) == (
        "batch_norm takes each channel's mean and variance from the batch while training, and got an empty batch "
        "of shape (0, 3); give it at least one sample (in evaluation mode it uses its running statistics and "
        "takes any batch)"
    )
    assert all(np.array_equal(layer.buffers[key], value) for key, value in running.items())
    layer.training = False
    assert layer.forward(np.ones((0, 3))).shape == (0, 3)
