"""fully_connected and flatten on torch: agreement with numpy, gradient checks, conformance,
dtype and device, errors."""

import numpy as np
import pytest
import torch

import corenn
from corenn.errors import CorennError, ShapeError
from corenn.testing import DEFAULT_TOLERANCE, check_layer_conformance, check_layer_gradients

from corenn_torch.testing import NumpyFacingLayer
from torch_agreement import compare_layer, layer_pair

ACTIVATIONS = ("linear", "sigmoid", "tanh", "arctan", "relu", "gelu", "softmax")
INITIALIZERS = ("xavier_uniform", "xavier_normal", "he_uniform", "he_normal", "normal", "sparse")


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("shape, n_out", [((4, 5), 3), ((1, 1), 1), ((7, 2), 6), ((16, 30), 10)])
def test_fully_connected_agrees_with_numpy(activation, shape, n_out):
    numpy_layer, torch_layer = layer_pair("fully_connected", seed=3, n_out=n_out, activation=activation)
    X = np.random.default_rng(4).standard_normal(shape) * 2
    compare_layer("layer fully_connected", numpy_layer, torch_layer, X)
    # a second batch of another size through the same weights
    compare_layer(
        "layer fully_connected", numpy_layer, torch_layer, np.random.default_rng(5).standard_normal((3, shape[1]))
    )


@pytest.mark.parametrize("weight_init", INITIALIZERS)
def test_fully_connected_draws_the_numpy_layers_weights_from_the_same_seed(weight_init):
    numpy_layer, torch_layer = layer_pair(
        "fully_connected", seed=11, n_out=8, activation="relu", weight_init=weight_init
    )
    X = np.ones((2, 20))
    numpy_layer.forward(X)
    torch_layer.forward(torch.from_numpy(X))
    np.testing.assert_array_equal(torch_layer.parameters["W"].numpy(), numpy_layer.parameters["W"])


@pytest.mark.parametrize("keep_dim", ["first", "last", -1])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (1, 7), (5, 2, 2), (3, 1, 1, 1)])
def test_flatten_agrees_with_numpy(shape, keep_dim):
    numpy_layer, torch_layer = layer_pair("flatten", keep_dim=keep_dim)
    compare_layer("layer flatten", numpy_layer, torch_layer, np.random.default_rng(0).standard_normal(shape))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fully_connected_passes_the_finite_difference_check(activation):
    layer = corenn.create("layer", "fully_connected", "torch", n_out=3, activation=activation)
    layer.rng = np.random.default_rng(0)
    errors = check_layer_gradients(NumpyFacingLayer(layer), np.random.default_rng(1).standard_normal((4, 5)))
    assert max(errors.values()) <= DEFAULT_TOLERANCE, errors


def test_flatten_passes_the_finite_difference_check():
    layer = NumpyFacingLayer(corenn.create("layer", "flatten", "torch"))
    errors = check_layer_gradients(layer, np.random.default_rng(1).standard_normal((2, 3, 3, 2)))
    assert errors["X"] <= DEFAULT_TOLERANCE


@pytest.mark.parametrize(
    "name, options, input_shape",
    [("fully_connected", {"n_out": 3, "activation": "relu"}, (4, 5)), ("flatten", {}, (2, 3, 3, 2))],
)
def test_conformance(name, options, input_shape):
    check_layer_conformance(lambda: NumpyFacingLayer(corenn.create("layer", name, "torch", **options)), input_shape)


@pytest.mark.parametrize("dtype", (torch.float32, torch.float64))
def test_parameters_are_made_lazily_in_the_inputs_dtype_and_on_its_device(dtype):
    layer = corenn.create("layer", "fully_connected", "torch", n_out=4)
    assert not layer.parameters and layer.device is None
    X = torch.randn(3, 6, dtype=dtype)
    Y = layer.forward(X)
    assert Y.dtype == dtype and Y.device == X.device
    assert all(p.dtype == dtype and p.device == X.device for p in layer.parameters.values())
    assert layer.parameters["W"].shape == (6, 4) and layer.parameters["b"].shape == (1, 4)
    assert not layer.parameters["b"].any()
    dX = layer.backward(torch.ones_like(Y))
    assert dX.dtype == dtype and all(g.dtype == dtype for g in layer.gradients.values())


def test_numpy_input_gives_tensors():
    layer = corenn.create("layer", "fully_connected", "torch", n_out=2)
    Y = layer.forward(np.ones((3, 4), dtype=np.float32))
    assert torch.is_tensor(Y) and Y.dtype == torch.float32
    assert torch.is_tensor(layer.backward(np.ones((3, 2))))


def test_loaded_parameters_decide_n_in():
    layer = corenn.create("layer", "fully_connected", "torch", n_out=2)
    layer.parameters["W"] = torch.ones(3, 2, dtype=torch.float64)
    layer.parameters["b"] = torch.zeros(1, 2, dtype=torch.float64)
    assert layer.forward(torch.ones(1, 3, dtype=torch.float64)).tolist() == [[3.0, 3.0]]
    assert layer.n_in == 3


def test_shape_errors_match_the_numpy_layers():
    for first, second in [((4, 5), (4, 6)), ((2, 3, 4), None), ((4, 0), None)]:
        numpy_layer, torch_layer = layer_pair("fully_connected", n_out=2)
        messages = []
        for layer, convert in ((numpy_layer, np.asarray), (torch_layer, torch.as_tensor)):
            with pytest.raises(ShapeError) as error:
                layer.forward(convert(np.ones(first)))
                layer.forward(convert(np.ones(second)))
            messages.append(str(error.value))
        assert messages[0] == messages[1]
        assert "fully_connected" in messages[1]


def test_backward_errors_match_the_numpy_layers():
    numpy_layer, torch_layer = layer_pair("fully_connected", n_out=2)
    messages = []
    for layer, convert in ((numpy_layer, np.asarray), (torch_layer, torch.as_tensor)):
        with pytest.raises(CorennError) as before:
            layer.backward(convert(np.ones((4, 2))))
        layer.forward(convert(np.ones((4, 3))))
        with pytest.raises(ShapeError) as wrong:
            layer.backward(convert(np.ones((4, 3))))
        messages.append((str(before.value), str(wrong.value)))
    assert messages[0] == messages[1]


def test_flatten_backward_errors_match_the_numpy_layers():
    numpy_layer, torch_layer = layer_pair("flatten")
    messages = []
    for layer, convert in ((numpy_layer, np.asarray), (torch_layer, torch.as_tensor)):
        with pytest.raises(ShapeError) as small:
            layer.forward(convert(np.ones(5)))
        layer.forward(convert(np.ones((2, 3, 3))))
        with pytest.raises(ShapeError) as wrong:
            layer.backward(convert(np.ones((2, 8))))
        messages.append((str(small.value), str(wrong.value)))
    assert messages[0] == messages[1]


def test_an_input_on_another_device_is_an_error_naming_both_devices():
    layer = corenn.create("layer", "fully_connected", "torch", n_out=2)
    layer.forward(torch.ones(1, 3, dtype=torch.float64))
    layer.to("meta")  # a device without data: moves like cuda does, and exists on every machine
    assert layer.parameters["W"].device.type == "meta" and not layer.cache
    with pytest.raises(CorennError, match="the input is on cpu but the layer works on meta"):
        layer.forward(torch.ones(1, 3, dtype=torch.float64))


def test_to_casts_parameters_and_gradients():
    layer = corenn.create("layer", "fully_connected", "torch", n_out=2)
    Y = layer.forward(torch.ones(2, 3, dtype=torch.float64))
    layer.backward(torch.ones_like(Y))
    layer.to(dtype=torch.float32)
    assert all(t.dtype == torch.float32 for t in (*layer.parameters.values(), *layer.gradients.values()))
