"""fully_connected: values worked out by hand, conformance, shape properties, dtypes, errors."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import corenn
from corenn.errors import ConfigError, CorennError, ShapeError
from corenn.testing import DEFAULT_TOLERANCE, check_layer_conformance, check_layer_gradients

ACTIVATIONS = ("linear", "sigmoid", "tanh", "arctan", "relu", "gelu", "softmax")


def fully_connected(**options):
    return corenn.create("layer", "fully_connected", **options)


def fixed_weights(W):
    """An initializer callable that always gives ``W`` (to check results by hand)."""
    return lambda shape, rng: np.array(W, dtype=np.float64)


# X (2, 2), W (2, 3), b (1, 3); Z = X @ W + b worked out by hand:
#   row 1: [1*1 + 2*2, 1*0 + 2*1, 1*-1 + 2*0] + b = [5, 2, -1] + [0.5, -1, 0] = [5.5, 1, -1]
#   row 2: [3*1 - 1*2, 3*0 - 1*1, 3*-1 - 1*0] + b = [1, -1, -3] + [0.5, -1, 0] = [1.5, -2, -3]
X_BY_HAND = [[1.0, 2.0], [3.0, -1.0]]
W_BY_HAND = [[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]]
B_BY_HAND = [[0.5, -1.0, 0.0]]
DLDY_BY_HAND = [[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]]


def layer_worked_by_hand(activation):
    layer = fully_connected(n_out=3, activation=activation, weight_init=fixed_weights(W_BY_HAND))
    layer.forward(np.array(X_BY_HAND))  # makes the parameters
    layer.parameters["b"][...] = B_BY_HAND
    return layer


def test_linear_layer_worked_out_by_hand():
    layer = layer_worked_by_hand("linear")
    np.testing.assert_array_equal(layer.forward(np.array(X_BY_HAND)), [[5.5, 1.0, -1.0], [1.5, -2.0, -3.0]])
    dX = layer.backward(np.array(DLDY_BY_HAND))
    # dW = X^T dY: [1*[1,0,2] + 3*[0,1,-1], 2*[1,0,2] - 1*[0,1,-1]]
    np.testing.assert_array_equal(layer.gradients["W"], [[1.0, 3.0, -1.0], [2.0, -1.0, 5.0]])
    np.testing.assert_array_equal(layer.gradients["b"], [[1.0, 1.0, 1.0]])
    # dX = dY W^T: row 1 = 1*[1,2] + 2*[-1,0], row 2 = 1*[0,1] - 1*[-1,0]
    np.testing.assert_array_equal(dX, [[-1.0, 2.0], [1.0, 1.0]])


def test_relu_layer_worked_out_by_hand():
    layer = layer_worked_by_hand("relu")
    np.testing.assert_array_equal(layer.forward(np.array(X_BY_HAND)), [[5.5, 1.0, 0.0], [1.5, 0.0, 0.0]])
    dX = layer.backward(np.array(DLDY_BY_HAND))
    # relu passes dY only where Z > 0: dZ = [[1, 0, 0], [0, 0, 0]]
    np.testing.assert_array_equal(layer.gradients["W"], [[1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    np.testing.assert_array_equal(layer.gradients["b"], [[1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(dX, [[1.0, 2.0], [0.0, 0.0]])


def test_forward_caches_input_and_pre_activation():
    layer = layer_worked_by_hand("sigmoid")
    X = np.array(X_BY_HAND)
    layer.forward(X)
    assert list(layer.cache) == ["X", "Z"]
    np.testing.assert_array_equal(layer.cache["X"], X)
    np.testing.assert_array_equal(layer.cache["Z"], [[5.5, 1.0, -1.0], [1.5, -2.0, -3.0]])


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_conformance(activation):
    check_layer_conformance(lambda: fully_connected(n_out=3, activation=activation), (4, 5))


def test_parameters_are_lazy_and_follow_the_first_input():
    layer = fully_connected(n_out=4)
    assert layer.n_in is None and not layer.parameters
    layer.forward(np.zeros((2, 7)))
    assert layer.n_in == 7 and layer.n_out == 4
    assert list(layer.parameters) == ["W", "b"]
    assert layer.parameters["W"].shape == (7, 4)
    np.testing.assert_array_equal(layer.parameters["b"], np.zeros((1, 4)))


def test_weights_come_from_the_named_initializer_with_the_activation_gain_and_layer_rng():
    layer = fully_connected(n_out=6, activation="relu", weight_init="xavier_uniform")
    layer.rng = np.random.default_rng(42)
    layer.forward(np.zeros((3, 5)))
    expected = corenn.create("initializer", "xavier_uniform", activation="relu")((5, 6), np.random.default_rng(42))
    np.testing.assert_array_equal(layer.parameters["W"], expected)
    linear_gain = corenn.create("initializer", "xavier_uniform", activation="linear")((5, 6), np.random.default_rng(42))
    assert not np.allclose(layer.parameters["W"], linear_gain)


def test_same_rng_seed_gives_same_weights():
    def weights(seed):
        layer = fully_connected(n_out=3, weight_init="he_normal")
        layer.rng = np.random.default_rng(seed)
        layer.forward(np.ones((1, 4)))
        return layer.parameters["W"]

    np.testing.assert_array_equal(weights(7), weights(7))
    assert not np.array_equal(weights(7), weights(8))


def test_parameters_set_before_the_first_forward_are_used_not_replaced():
    """A loaded checkpoint sets parameters directly; the first forward must keep them."""
    layer = fully_connected(n_out=2)
    layer.parameters["W"] = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    layer.parameters["b"] = np.array([[0.0, 1.0]])
    np.testing.assert_array_equal(layer.forward(np.array([[1.0, 1.0, 1.0]])), [[2.0, 4.0]])
    assert layer.n_in == 3


def test_an_activation_object_may_be_passed_directly():
    sigmoid = corenn.create("activation", "sigmoid")
    layer = fully_connected(n_out=2, activation=sigmoid, weight_init=fixed_weights([[0.0, 0.0]]))
    assert layer.activation is sigmoid
    np.testing.assert_array_equal(layer.forward(np.array([[3.0]])), [[0.5, 0.5]])


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_float32_input_gives_float32_parameters_output_and_gradients(activation):
    layer = fully_connected(n_out=3, activation=activation)
    X = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    Y = layer.forward(X)
    dX = layer.backward(np.ones_like(Y))
    assert Y.dtype == dX.dtype == np.float32
    assert all(array.dtype == np.float32 for array in (*layer.parameters.values(), *layer.gradients.values()))


shapes = st.tuples(st.integers(1, 8), st.integers(1, 6), st.integers(1, 6))


# derandomize: a rare draw saturates tanh or sigmoid deep enough (a single output at Z = 6.8,
# slope 5e-6) that the finite-difference reference itself has a relative error above 1e-6 from
# round-off; the same 40 cases every run keep CI from failing on such a draw.
@settings(max_examples=40, deadline=None, derandomize=True)
@given(shapes, st.sampled_from(ACTIVATIONS), st.integers(0, 2**32 - 1))
def test_gradients_match_finite_differences_for_any_shape(shape, activation, seed):
    batch, n_in, n_out = shape
    layer = fully_connected(n_out=n_out, activation=activation)
    layer.rng = np.random.default_rng(seed)
    X = np.random.default_rng(seed + 1).standard_normal((batch, n_in))
    errors = check_layer_gradients(layer, X, seed=seed)
    assert max(errors.values()) <= DEFAULT_TOLERANCE, errors


@settings(max_examples=60, deadline=None)
@given(shapes, st.sampled_from(ACTIVATIONS), st.integers(0, 2**32 - 1))
def test_samples_are_independent_and_gradients_add_over_the_batch(shape, activation, seed):
    """Each output row depends only on its input row, and the batch's parameter gradients are
    the sums of the single samples' gradients."""
    batch, n_in, n_out = shape
    rng = np.random.default_rng(seed)
    X, dLdY = rng.standard_normal((batch, n_in)), rng.standard_normal((batch, n_out))
    layer = fully_connected(n_out=n_out, activation=activation)
    layer.rng = rng
    Y = layer.forward(X)
    dX = layer.backward(dLdY)
    assert Y.shape == (batch, n_out) and dX.shape == (batch, n_in)
    batch_gradients = {key: value.copy() for key, value in layer.gradients.items()}
    summed = {key: np.zeros_like(value) for key, value in batch_gradients.items()}
    for i in range(batch):
        np.testing.assert_allclose(layer.forward(X[i : i + 1]), Y[i : i + 1], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(layer.backward(dLdY[i : i + 1]), dX[i : i + 1], rtol=1e-12, atol=1e-15)
        for key in summed:
            summed[key] += layer.gradients[key]
    for key in summed:
        np.testing.assert_allclose(batch_gradients[key], summed[key], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n_out", [0, -3, 2.5, "10", True, None])
def test_bad_n_out_is_a_config_error_that_names_it(n_out):
    with pytest.raises(ConfigError, match=r"fully_connected.*n_out must be a positive integer.*got") as raised:
        fully_connected(n_out=n_out)
    assert repr(n_out) in str(raised.value)


def test_numpy_integer_n_out_is_accepted():
    assert fully_connected(n_out=np.int64(3)).n_out == 3


@pytest.mark.parametrize("shape", [(5,), (2, 3, 4), (2, 2, 2, 2)])
def test_input_of_wrong_rank_is_a_shape_error_naming_layer_and_shapes(shape):
    with pytest.raises(ShapeError) as raised:
        fully_connected(n_out=2).forward(np.zeros(shape))
    message = str(raised.value)
    assert "fully_connected" in message and "(m, n_in)" in message and str(shape) in message


def test_wrong_rank_after_initialisation_names_the_known_n_in():
    layer = fully_connected(n_out=2)
    layer.forward(np.zeros((4, 5)))
    with pytest.raises(ShapeError, match=r"fully_connected.*\(m, 5\).*\(4, 5, 1\)"):
        layer.forward(np.zeros((4, 5, 1)))


def test_input_with_another_feature_count_is_a_shape_error_naming_both_shapes():
    layer = fully_connected(n_out=2)
    layer.forward(np.zeros((4, 5)))
    with pytest.raises(ShapeError, match=r"fully_connected.*\(m, 5\).*\(4, 3\)"):
        layer.forward(np.zeros((4, 3)))


def test_input_without_features_is_a_shape_error():
    with pytest.raises(ShapeError, match=r"fully_connected.*\(m, 0\)"):
        fully_connected(n_out=2).forward(np.zeros((4, 0)))


def test_backward_gradient_of_the_wrong_shape_is_a_shape_error():
    layer = fully_connected(n_out=2)
    layer.forward(np.zeros((4, 5)))
    with pytest.raises(ShapeError, match=r"fully_connected.*\(4, 2\).*\(4, 3\)"):
        layer.backward(np.zeros((4, 3)))


def test_backward_before_forward_is_an_error():
    with pytest.raises(CorennError, match="before any forward"):
        fully_connected(n_out=2).backward(np.zeros((4, 2)))


def test_unknown_activation_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match=r"'no_such_activation'.*relu.*softmax"):
        fully_connected(n_out=2, activation="no_such_activation")


def test_activation_that_is_neither_name_nor_activation_is_a_config_error():
    with pytest.raises(ConfigError, match="activation must be an activation name"):
        fully_connected(n_out=2, activation=42)


def test_unknown_weight_init_is_an_error_when_the_layer_is_built():
    with pytest.raises(ConfigError, match=r"'glorot'.*xavier_uniform"):
        fully_connected(n_out=2, weight_init="glorot")


def test_weight_init_that_is_neither_name_nor_callable_is_a_config_error():
    with pytest.raises(ConfigError, match="weight_init must be an initializer name"):
        fully_connected(n_out=2, weight_init=0.1)


def test_weight_init_giving_the_wrong_shape_is_a_config_error():
    layer = fully_connected(n_out=2, weight_init=fixed_weights([[1.0, 2.0, 3.0]]))
    with pytest.raises(ConfigError, match=r"shape \(1, 3\), expected \(1, 2\)"):
        layer.forward(np.zeros((4, 1)))


def test_unknown_option_is_a_config_error_listing_the_options():
    with pytest.raises(ConfigError, match=r"'units'.*n_out, activation, weight_init"):
        fully_connected(units=3)


def test_repr_and_docstring_say_what_the_layer_is():
    layer = fully_connected(n_out=3, activation="tanh")
    assert repr(layer) == "FullyConnected(n_out=3, activation='tanh', weight_init='xavier_uniform')"
    assert "X @ W + b" in type(layer).__doc__
    assert type(layer).example_input_shape == (4, 5)
