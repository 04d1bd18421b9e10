"""The scale_shift layer, checked with corenn's kit for plugin authors."""

import numpy as np
import pytest

from corenn.errors import ConfigError, CorennError, ShapeError
from corenn.testing import check_layer_conformance, check_layer_gradients

from corenn_example.scale_shift import ScaleShift
from corenn_example.swish import Swish


def initialised(layer, n, seed=0):
    """``layer`` with random W and b (the defaults, ones and zeros, would hide mistakes)."""
    rng = np.random.default_rng(seed)
    layer.forward(np.zeros((1, n)))
    layer.parameters["W"][...] = rng.normal(size=(1, n))
    layer.parameters["b"][...] = rng.normal(size=(1, n))
    return layer


def test_forward_and_backward_by_hand():
    layer = ScaleShift()
    layer.forward(np.zeros((1, 2)))
    layer.parameters["W"][...] = [[2.0, -1.0]]
    layer.parameters["b"][...] = [[0.5, 0.0]]
    X = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(layer.forward(X), [[2.5, -2.0], [6.5, -4.0]])
    dX = layer.backward(np.array([[1.0, 1.0], [1.0, 2.0]]))
    np.testing.assert_array_equal(layer.gradients["W"], [[4.0, 10.0]])  # sum of dLdY * X
    np.testing.assert_array_equal(layer.gradients["b"], [[2.0, 3.0]])  # sum of dLdY
    np.testing.assert_array_equal(dX, [[2.0, -1.0], [2.0, -2.0]])  # dLdY * W


def test_starts_as_the_identity():
    layer = ScaleShift()
    X = np.random.default_rng(1).normal(size=(3, 4))
    np.testing.assert_array_equal(layer.forward(X), X)
    assert (layer.n_in, layer.n_out) == (4, 4)
    assert list(layer.parameters) == ["W", "b"]
    assert layer.parameters["W"].shape == layer.parameters["b"].shape == (1, 4)


@pytest.mark.parametrize("activation", ["linear", "tanh", Swish(), Swish(beta=2.0)])
def test_gradients(activation):
    layer = initialised(ScaleShift(activation=activation), 5)
    X = np.random.default_rng(2).normal(size=(6, 5))
    errors = check_layer_gradients(layer, X)
    assert set(errors) == {"X", "W", "b"}
    assert max(errors.values()) <= 1e-6, errors


def test_gradients_with_the_registered_swish():
    layer = initialised(ScaleShift(activation="swish"), 3, seed=4)
    errors = check_layer_gradients(layer, np.random.default_rng(5).normal(size=(4, 3)))
    assert max(errors.values()) <= 1e-6, errors


def test_conformance():
    check_layer_conformance(lambda: ScaleShift(activation=Swish()), (4, 5))
    check_layer_conformance(ScaleShift, (2, 1))


def test_weights_come_from_the_layer_rng_and_initializer():
    first, second = (ScaleShift(weight_init="normal") for _ in range(2))
    first.rng, second.rng = np.random.default_rng(7), np.random.default_rng(7)
    first.forward(np.ones((2, 6)))
    second.forward(np.ones((2, 6)))
    np.testing.assert_array_equal(first.parameters["W"], second.parameters["W"])
    assert len(np.unique(first.parameters["W"])) == 6


def test_float32_input_gives_float32_parameters_and_output():
    layer = ScaleShift(activation=Swish())
    X = np.ones((2, 3), dtype=np.float32)
    assert layer.forward(X).dtype == np.float32
    assert layer.parameters["W"].dtype == layer.parameters["b"].dtype == np.float32
    assert layer.backward(np.ones((2, 3), dtype=np.float32)).dtype == np.float32


def test_shape_errors_name_the_layer_and_both_shapes():
    layer = ScaleShift()
    with pytest.raises(ShapeError, match=r"scale_shift expects a 2-d input of shape \(m, n\), got shape \(2, 3, 4\)"):
        layer.forward(np.ones((2, 3, 4)))
    layer.forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"scale_shift expects input of shape \(m, 3\), got shape \(2, 5\)"):
        layer.forward(np.ones((2, 5)))
    with pytest.raises(ShapeError, match=r"output's shape \(2, 3\), got shape \(2, 2\)"):
        layer.backward(np.ones((2, 2)))


def test_backward_before_forward():
    with pytest.raises(CorennError, match="backward was called before any forward"):
        ScaleShift().backward(np.ones((1, 2)))


def test_bad_options():
    with pytest.raises(ConfigError, match="activation must be an activation name"):
        ScaleShift(activation=3)
    with pytest.raises(ConfigError, match="unknown activation 'swoosh'"):
        ScaleShift(activation="swoosh")
    with pytest.raises(ConfigError, match="weight_init must be an initializer name"):
        ScaleShift(weight_init=0.5)
