"""Flatten: order, round trip, protocol and errors."""

import numpy as np
import pytest

import corenn
from corenn.errors import ConfigError, CorennError, ShapeError
from corenn.testing import check_layer_conformance, check_layer_gradients

from corenn_conv.flatten import Flatten


def test_flattens_in_nhwc_order_and_unflattens_the_gradient():
    X = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    layer = corenn.create("layer", "flatten")
    Y = layer.forward(X)
    assert Y.shape == (2, 60)
    assert Y[1, (2 * 4 + 3) * 5 + 4] == X[1, 2, 3, 4]
    assert layer.n_in == (3, 4, 5) and layer.n_out == 60
    np.testing.assert_array_equal(layer.backward(Y), X)


def test_gradients_and_conformance():
    errors = check_layer_gradients(Flatten(), np.random.default_rng(0).standard_normal((2, 3, 2, 2)))
    assert errors["X"] <= 1e-6
    check_layer_conformance(Flatten, (2, 3, 3, 2))


def test_errors():
    with pytest.raises(ShapeError, match=r"flatten.*\(5,\)"):
        Flatten().forward(np.zeros(5))
    layer = Flatten()
    with pytest.raises(CorennError, match="before any forward"):
        layer.backward(np.zeros((2, 4)))
    layer.forward(np.zeros((2, 2, 2)))
    with pytest.raises(ShapeError, match=r"\(2, 4\).*\(2, 5\)"):
        layer.backward(np.zeros((2, 5)))


@pytest.mark.parametrize(
    "keep_dim, input_shape, output_shape",
    [
        ("first", (2, 3, 4, 5), (2, 60)),
        ("last", (2, 3, 4, 5), (24, 5)),  # the course's (-1, X.shape[-1])
        (-1, (2, 3, 4, 5), (1, 120)),  # the course's (1, -1)
        ("last", (6, 7), (6, 7)),
    ],
)
def test_keep_dim_is_the_courses(keep_dim, input_shape, output_shape):
    X = np.arange(np.prod(input_shape), dtype=np.float64).reshape(input_shape)
    layer = corenn.create("layer", "flatten", keep_dim=keep_dim)
    Y = layer.forward(X)
    assert Y.shape == output_shape
    np.testing.assert_array_equal(Y.ravel(), X.ravel())  # C order, nothing moved
    assert layer.n_out == output_shape[1]
    dX = layer.backward(np.ones(output_shape))
    assert dX.shape == input_shape
    with pytest.raises(ShapeError, match=r"output's shape"):
        layer.backward(np.ones((output_shape[0] + 1, output_shape[1])))
    errors = check_layer_gradients(Flatten(keep_dim), np.random.default_rng(1).standard_normal(input_shape))
    assert errors["X"] <= 1e-6


@pytest.mark.parametrize("keep_dim", ["middle", 0, 1, True, None])
def test_keep_dim_other_than_the_three_is_refused(keep_dim):
    with pytest.raises(ConfigError, match=r"keep_dim must be \"first\".*\"last\".*-1"):
        corenn.create("layer", "flatten", keep_dim=keep_dim)
