"""The course's layer conventions on the facade's layers, and check_gradients on every layer type."""

import copy

import numpy as np
import pytest

import corenn.nn.layers
from corenn.course import layers
from corenn.course.utils import check_gradients
from corenn.errors import ConfigError, CorennError
from corenn.plugins import get_registry


def make_layers():
    """One of each layer type: its registered name, the layer and the input batch shape it takes."""
    return {
        "fully_connected": ("fully_connected", layers.FullyConnected(n_out=3, activation="tanh"), (4, 5)),
        "conv2d": (
            "conv2d",
            layers.Conv2D(n_out=2, kernel_shape=(3, 3), activation="relu", stride=1, pad="same"),
            (2, 5, 5, 3),
        ),
        "conv2d_strided_valid": (
            "conv2d",
            layers.Conv2D(n_out=2, kernel_shape=(2, 3), activation="sigmoid", stride=2, pad="valid"),
            (2, 6, 7, 2),
        ),
        "pool2d_max": ("pool2d", layers.Pool2D(kernel_shape=(2, 2), mode="max", stride=2), (2, 4, 4, 3)),
        "pool2d_average": (
            "pool2d",
            layers.Pool2D(kernel_shape=(3, 3), mode="average", stride=1, pad="same"),
            (2, 4, 4, 2),
        ),
        "flatten": ("flatten", layers.Flatten(), (2, 3, 3, 2)),
    }


def test_the_layers_are_the_registered_ones():
    for registered_name, layer, _ in make_layers().values():
        registered_class = get_registry().get("layer", registered_name).load()
        assert isinstance(layer, registered_class)


def test_fully_connected_shapes_keys_and_zero_gradients_after_init_parameters():
    layer = layers.FullyConnected(n_out=4, activation="relu")
    layer._init_parameters((7, 5))
    assert list(layer.parameters) == ["W", "b"] and list(layer.gradients) == ["W", "b"]
    assert layer.parameters["W"].shape == (5, 4) and layer.parameters["b"].shape == (1, 4)
    assert layer.n_in == 5 and layer.n_out == 4
    for key, value in layer.parameters.items():
        assert layer.gradients[key].shape == value.shape and layer.gradients[key].dtype == value.dtype
        assert not layer.gradients[key].any()


def test_conv2d_shapes_and_zero_gradients_after_init_parameters():
    layer = layers.Conv2D(n_out=6, kernel_shape=(5, 3), activation="linear")
    layer._init_parameters((2, 9, 9, 3))
    assert layer.parameters["W"].shape == (5, 3, 3, 6) and layer.parameters["b"].shape == (1, 6)
    assert all(
        not gradient.any() and gradient.shape == layer.parameters[key].shape
        for key, gradient in layer.gradients.items()
    )
    assert layer.forward(np.ones((2, 9, 9, 3))).shape == (2, 9, 9, 6)


def test_gradients_are_zero_filled_once_a_forward_makes_the_parameters():
    layer = layers.FullyConnected(n_out=2, activation="linear")
    layer.forward(np.ones((3, 4)))
    assert {key: value.shape for key, value in layer.gradients.items()} == {"W": (4, 2), "b": (1, 2)}
    assert not any(value.any() for value in layer.gradients.values())


def test_clear_gradients_empties_the_cache_and_zeroes_the_gradients():
    layer = layers.FullyConnected(n_out=2, activation="sigmoid")
    layer.backward(np.ones_like(layer.forward(np.random.default_rng(0).normal(size=(3, 4)))))
    assert layer.gradients["W"].any()
    layer.clear_gradients()
    assert all(value == [] for value in layer.cache.values()) and layer.cache
    assert not layer.gradients["W"].any() and layer.gradients["W"].shape == (4, 2)


def test_forward_with_param_and_the_getters():
    layer = layers.FullyConnected(n_out=2, activation="linear")
    X = np.ones((1, 3))
    layer.forward(X)
    forward_at = layer.forward_with_param("b", X)
    output = forward_at(np.array([[10.0, 20.0]]))
    np.testing.assert_allclose(output, X @ layer.parameters["W"] + [[10.0, 20.0]])
    assert [p.shape for p in layer._get_parameters()] == [(3, 2), (1, 2)]
    assert [g.shape for g in layer._get_gradients()] == [(3, 2), (1, 2)]
    assert len(layer._get_cache()) == len(layer.cache)


def test_forward_with_param_refuses_a_name_the_layer_has_not():
    """A mistyped name once added a parameter that has no gradient."""
    layer = layers.FullyConnected(n_out=3, activation="tanh")
    X = np.ones((2, 4))
    with pytest.raises(CorennError) as info:
        layer.forward_with_param("W", X)
    assert str(info.value) == (
        "fully_connected: forward_with_param('W') before the layer has parameters: call forward first (it makes them)"
    )
    layer.forward(X)
    with pytest.raises(CorennError) as info:
        layer.forward_with_param("w", X)
    assert (
        str(info.value) == "fully_connected: forward_with_param has no parameter 'w'; the layer's parameters are: W, b"
    )
    assert list(layer.parameters) == ["W", "b"]


def test_a_layer_can_be_copied():
    layer = layers.FullyConnected(n_out=2, activation="relu")
    layer.forward(np.ones((1, 3)))
    copied = copy.deepcopy(layer)
    copied.parameters["W"] += 1.0
    assert not np.array_equal(copied.parameters["W"], layer.parameters["W"])


def test_weights_follow_numpys_global_seed():
    np.random.seed(3)
    first = layers.FullyConnected(n_out=3, activation="relu")
    first._init_parameters((1, 4))
    np.random.seed(3)
    second = layers.FullyConnected(n_out=3, activation="relu")
    second._init_parameters((1, 4))
    np.testing.assert_array_equal(first.parameters["W"], second.parameters["W"])


@pytest.mark.parametrize("name", list(make_layers()))
def test_check_gradients_on_every_layer_type(name):
    _, layer, input_shape = make_layers()[name]
    rng = np.random.default_rng(0)
    X = rng.normal(size=input_shape)
    Y = layer.forward(X)
    dLdY = rng.normal(size=Y.shape)
    dX = layer.backward(dLdY)
    assert check_gradients(layer.forward, dX, X, dLdY) < 1e-6
    for param_name, gradient in list(layer.gradients.items()):
        value = layer.parameters[param_name].copy()
        error = check_gradients(layer.forward_with_param(param_name, X), gradient, value, dLdY)
        assert error < 1e-6, (name, param_name, error)


def test_initialize_layer_builds_each_layer():
    fc = layers.initialize_layer("fully_connected", activation="relu", weight_init="he_normal", n_out=5)
    assert fc.n_out == 5 and fc.activation.name == "relu"
    conv = layers.initialize_layer("conv2d", activation="relu", n_out=4, kernel_shape=(3, 3), stride=1, pad="valid")
    assert conv.forward(np.ones((1, 6, 6, 2))).shape == (1, 4, 4, 4)
    pool = layers.initialize_layer("pool2d", kernel_shape=(2, 2), mode="average", stride=2, pad=0)
    assert pool.forward(np.ones((1, 6, 6, 2))).shape == (1, 3, 3, 2)
    flatten = layers.initialize_layer("flatten", keep_dim="first")
    assert flatten.forward(np.ones((2, 3, 3, 2))).shape == (2, 18)


def test_initialize_layer_errors_name_what_is_allowed():
    with pytest.raises(ConfigError, match="the course's layers are: fully_connected, conv2d, pool2d, flatten"):
        layers.initialize_layer("dense", n_out=3)
    with pytest.raises(ConfigError, match="layer 'pool2d' takes no activation"):
        layers.initialize_layer("pool2d", activation="relu", kernel_shape=(2, 2))
    with pytest.raises(ConfigError, match="layer 'fully_connected' needs n_out, activation"):
        layers.initialize_layer("fully_connected")
    with pytest.raises(ConfigError, match=r'keep_dim must be "first".*"last".*or -1'):
        layers.Flatten(keep_dim=0)


def test_layer_is_corenns_base_class():
    assert layers.Layer is corenn.nn.layers.Layer
    assert isinstance(layers.FullyConnected(n_out=2, activation="relu"), layers.Layer)


def test_flatten_keep_dim():
    X = np.arange(24.0).reshape(2, 3, 4)
    for keep_dim, shape in (("first", (2, 12)), ("last", (6, 4)), (-1, (1, 24))):
        layer = layers.Flatten(keep_dim=keep_dim)
        assert layer.forward(X).shape == shape
        assert layer.backward(np.ones(shape)).shape == X.shape


def test_strided_same_padding_is_the_courses():
    conv = layers.Conv2D(n_out=1, kernel_shape=(5, 5), activation="linear", stride=2, pad="same")
    assert conv.forward(np.ones((1, 16, 16, 1))).shape == (1, 8, 8, 1)
    pool = layers.Pool2D(kernel_shape=(3, 3), stride=3, pad="same")
    assert pool.forward(np.ones((1, 16, 16, 1))).shape == (1, 6, 6, 1)
