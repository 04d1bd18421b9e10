"""scale on numpy: values, finite differences with several activations, any input shape,
dtype, options and errors."""

import math

import numpy as np
import pytest

import corenn
from corenn.errors import ConfigError, CorennError, ShapeError
from corenn.testing import DEFAULT_TOLERANCE, check_layer_conformance, check_layer_gradients, gradcheck

SHAPES = [(4, 5), (3,), (2, 3, 3, 4), (1, 1)]


def scale(**options):
    return corenn.create("layer", "scale", **options)


def test_forward_multiplies_and_backward_multiplies_the_gradient_by_the_factor():
    layer = scale(factor=-2.5)
    X = np.array([[1.0, -2.0, 0.0], [4.0, 0.5, -1.0]])
    np.testing.assert_array_equal(layer.forward(X), [[-2.5, 5.0, 0.0], [-10.0, -1.25, 2.5]])
    dLdY = np.array([[1.0, 2.0, -4.0], [0.0, 8.0, 1.0]])
    np.testing.assert_array_equal(layer.backward(dLdY), [[-2.5, -5.0, 10.0], [0.0, -20.0, -2.5]])
    assert layer.n_in == layer.n_out == 3
    assert not layer.parameters and not layer.gradients


def test_a_softmax_temperature_of_9():
    """``factor = 1/9`` then softmax: the probabilities of logits divided by 9."""
    logits = np.array([[9.0 * math.log(2), 0.0], [0.0, 0.0]])
    probabilities = scale(factor=1 / 9, activation="softmax").forward(logits)
    np.testing.assert_allclose(probabilities, [[2 / 3, 1 / 3], [0.5, 0.5]], rtol=1e-14)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", ["linear", "softmax", "gelu", "tanh"])
@pytest.mark.parametrize("factor", [1 / 9, -3.0, 64])
def test_gradients_match_finite_differences(shape, activation, factor):
    # Z = factor * X of order 1, away from where tanh or softmax saturate and the gradient is
    # too small for finite differences to resolve
    X = np.random.default_rng(3).standard_normal(shape) / abs(factor)
    errors = check_layer_gradients(scale(factor=factor, activation=activation), X)
    assert set(errors) == {"X"}
    assert errors["X"] <= DEFAULT_TOLERANCE, errors


@pytest.mark.parametrize("activation", ["linear", "relu", "softmax"])
def test_gradcheck_by_name_uses_the_example_input_shape(activation):
    report = gradcheck("layer", "scale", {"factor": 1 / 9, "activation": activation})
    assert report.input_shape == (4, 5)
    assert report.passed, report.errors


@pytest.mark.parametrize("input_shape", [(4, 5), (2, 3, 3, 2), (6,)])
def test_conformance(input_shape):
    check_layer_conformance(lambda: scale(factor=0.5, activation="gelu"), input_shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_input_dtype_is_kept_in_both_passes(dtype):
    layer = scale(factor=1 / 9)
    Y = layer.forward(np.ones((2, 3), dtype=dtype))
    assert Y.dtype == dtype and layer.backward(np.ones((2, 3), dtype=dtype)).dtype == dtype
    assert layer.forward(np.array([[1, 2]])).dtype == np.float64  # integers as float64


@pytest.mark.parametrize("factor", [0, 0.0, -0.0, math.inf, -math.inf, math.nan, True, "1/9", [2.0]])
def test_a_factor_that_is_not_a_finite_non_zero_number_is_a_config_error(factor):
    with pytest.raises(ConfigError, match=r"layer 'scale': factor must be a finite number other than 0 .* got"):
        scale(factor=factor)


def test_the_factor_is_required():
    with pytest.raises(
        ConfigError, match=r"layer 'scale': the option factor is required: a finite number other than 0"
    ):
        scale()


def test_an_unknown_activation_is_an_error():
    with pytest.raises(ConfigError, match="nope"):
        scale(factor=2, activation="nope")


def test_shape_errors_name_the_layer_and_shapes():
    layer = scale(factor=2)
    with pytest.raises(ShapeError, match=r"scale expects a batch \(m, \.\.\.\), got a scalar"):
        layer.forward(np.float64(3.0))
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"output's shape \(2, 3\), got shape \(3, 2\)"):
        layer.backward(np.ones((3, 2)))


def test_backward_before_forward_is_an_error():
    with pytest.raises(CorennError, match="scale: backward was called before any forward"):
        scale(factor=2).backward(np.ones((2, 3)))
