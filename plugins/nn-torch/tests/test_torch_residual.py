"""residual on torch: agreement with numpy for dense and convolutional blocks (with batch norm,
dropout and a strided 1x1 shortcut), finite differences, the flattened tables, ``to``, errors."""

import numpy as np
import pytest
import torch

import corenn
from corenn.errors import ShapeError
from corenn.testing import DEFAULT_TOLERANCE, FixedRandomness, check_layer_conformance, check_layer_gradients

from corenn_torch.testing import NumpyFacingLayer
from torch_agreement import assert_agree, layer_pair

LABEL = "layer residual"
DENSE = {
    "layers": [
        {"name": "fully_connected", "n_out": 6, "activation": "tanh"},
        {"name": "batch_norm", "activation": "relu"},
        {"name": "dropout", "rate": 0.3},
        {"name": "fully_connected", "n_out": 3},
    ],
    "shortcut": {"name": "fully_connected", "n_out": 3},
}
CONV = {  # a ResNet downsampling block
    "layers": [
        {"name": "conv2d", "n_out": 4, "kernel_shape": 3, "stride": 2, "pad": 1},
        {"name": "batch_norm", "activation": "relu"},
        {"name": "conv2d", "n_out": 4, "kernel_shape": 3},
        {"name": "batch_norm"},
    ],
    "shortcut": {"name": "conv2d", "n_out": 4, "kernel_shape": 1, "stride": 2, "pad": 0},
    "activation": "relu",
}
IDENTITY = {
    "layers": [
        {"name": "conv2d", "n_out": 3, "kernel_shape": 3, "activation": "relu"},
        {"name": "dropout", "rate": 0.2},
        {"name": "conv2d", "n_out": 3, "kernel_shape": 3},
    ],
    "activation": "tanh",
}
CASES = [(DENSE, (6, 5)), (CONV, (2, 4, 4, 2)), (IDENTITY, (2, 4, 4, 3))]
IDS = ["dense with projection", "conv downsampling", "conv identity"]


def vanishing_gradients(options, training):
    """Biases of linear layers right before a training-mode batch norm: it subtracts the batch
    mean, so their gradient is exactly zero and only rounding noise is left to compare."""
    layers = options["layers"]
    if not training:
        return set()
    return {
        f"{index}.b"
        for index in range(len(layers) - 1)
        if layers[index + 1]["name"] == "batch_norm" and layers[index].get("activation", "linear") == "linear"
    }


def compare(numpy_layer, torch_layer, X, vanishing):
    Y_numpy = numpy_layer.forward(X)
    Y_torch = torch_layer.forward(torch.from_numpy(X.copy()))
    for key, value in numpy_layer.parameters.items():
        np.testing.assert_array_equal(torch_layer.parameters[key].numpy(), value, err_msg=f"initial {key}")
    assert_agree(LABEL, "output", Y_torch, Y_numpy)
    G = np.random.default_rng(1000).standard_normal(Y_numpy.shape)
    assert_agree(LABEL, "dL/dX", torch_layer.backward(torch.from_numpy(G)), numpy_layer.backward(G))
    assert list(torch_layer.gradients) == list(numpy_layer.gradients)
    for key, value in numpy_layer.gradients.items():
        if key in vanishing:
            assert max(np.abs(value).max(), torch_layer.gradients[key].abs().max().item()) < 1e-12, key
        else:
            assert_agree(LABEL, f"dL/d{key}", torch_layer.gradients[key], value)


@pytest.mark.parametrize("options, shape", CASES, ids=IDS)
@pytest.mark.parametrize("training", [True, False])
def test_agrees_with_numpy(options, shape, training):
    numpy_layer, torch_layer = layer_pair("residual", seed=5, **options)
    numpy_layer.training = torch_layer.training = training
    for batch in range(2):
        X = np.random.default_rng(batch).standard_normal(shape)
        compare(numpy_layer, torch_layer, X, vanishing_gradients(options, training))
    assert list(torch_layer.buffers) == list(numpy_layer.buffers)
    for key, value in numpy_layer.buffers.items():
        assert_agree(LABEL, key, torch_layer.buffers[key], value)


@pytest.mark.parametrize("options, shape", CASES, ids=IDS)
@pytest.mark.parametrize("training", [True, False])
def test_passes_the_finite_difference_check(options, shape, training):
    layer = corenn.create("layer", "residual", "torch", **options)
    layer.rng = np.random.default_rng(0)
    X = np.random.default_rng(10).standard_normal(shape)
    layer.forward(torch.from_numpy(X))  # makes the weights: later forwards draw only masks
    rng = np.random.default_rng(1)
    for key, value in layer.parameters.items():
        if key.endswith(".b"):  # zero biases could leave relu inputs on the kink
            value.copy_(torch.from_numpy(rng.normal(scale=0.3, size=tuple(value.shape))))
    layer.training = training
    checked = NumpyFacingLayer(FixedRandomness(layer, seed=3))
    errors = check_layer_gradients(checked, X)
    assert set(errors) == {"X", *layer.parameters}
    vanishing = vanishing_gradients(options, training)
    for key in vanishing:
        assert np.abs(checked.gradients[key]).max() < 1e-12, key  # the relative error of two zeros is noise
    assert max(error for key, error in errors.items() if key not in vanishing) <= DEFAULT_TOLERANCE, errors


def test_conformance():
    check_layer_conformance(lambda: NumpyFacingLayer(corenn.create("layer", "residual", "torch", **CONV)), (2, 6, 6, 3))


def test_inner_layers_are_torch_layers_and_to_moves_them_all():
    layer = corenn.create("layer", "residual", "torch", **CONV)
    assert all(inner.backend.name == "torch" for inner in (*layer.layers, layer.shortcut))
    assert layer.device is None
    Y = layer.forward(torch.ones(2, 6, 6, 3, dtype=torch.float64))
    layer.backward(torch.ones_like(Y))
    assert layer.device == torch.device("cpu")
    layer.to(dtype=torch.float32)
    tensors = (*layer.parameters.values(), *layer.gradients.values(), *layer.buffers.values())
    assert all(tensor.dtype == torch.float32 for tensor in tensors)
    assert layer.forward(torch.ones(2, 6, 6, 3, dtype=torch.float32)).dtype == torch.float32


def test_shape_errors_match_the_numpy_layers():
    messages = []
    options = {"layers": [{"name": "conv2d", "n_out": 4, "kernel_shape": 3, "stride": 2, "pad": 1}]}
    for backend, convert in (("numpy", np.asarray), ("torch", torch.as_tensor)):
        layer = corenn.create("layer", "residual", backend, **options)
        with pytest.raises(ShapeError) as mismatch:
            layer.forward(convert(np.ones((2, 6, 6, 3))))
        layer = corenn.create("layer", "residual", backend, layers=[{"name": "fully_connected", "n_out": 2}])
        with pytest.raises(ShapeError) as inner:
            layer.forward(convert(np.ones((2, 6, 6, 3))))
        messages.append((str(mismatch.value), str(inner.value)))
    assert messages[0] == messages[1]
    assert "(2, 6, 6, 3) into shape (2, 3, 3, 4)" in messages[0][0]
    assert messages[0][1].startswith("residual layers[0] (fully_connected):")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_block_on_the_gpu_agrees_with_the_cpu_buffers_included():
    cpu_layer, gpu_layer = (corenn.create("layer", "residual", "torch", **CONV) for _ in range(2))
    cpu_layer.rng, gpu_layer.rng = np.random.default_rng(0), np.random.default_rng(0)
    X = torch.from_numpy(np.random.default_rng(1).standard_normal((4, 6, 6, 2)))
    Y_cpu, Y_gpu = cpu_layer.forward(X), gpu_layer.forward(X.to("cuda"))
    assert Y_gpu.device.type == "cuda" and gpu_layer.device.type == "cuda"
    assert_agree("layer residual (cuda vs cpu)", "output", Y_gpu, Y_cpu)
    G = torch.from_numpy(np.random.default_rng(2).standard_normal(tuple(Y_cpu.shape)))
    assert_agree("layer residual (cuda vs cpu)", "dL/dX", gpu_layer.backward(G.to("cuda")), cpu_layer.backward(G))
    for key, value in cpu_layer.gradients.items():
        if key not in vanishing_gradients(CONV, training=True):
            assert_agree("layer residual (cuda vs cpu)", f"dL/d{key}", gpu_layer.gradients[key], value)
    for key, value in cpu_layer.buffers.items():
        assert gpu_layer.buffers[key].device.type == "cuda"
        assert_agree("layer residual (cuda vs cpu)", key, gpu_layer.buffers[key], value)
    gpu_layer.to("cpu")
    assert all(value.device.type == "cpu" for value in (*gpu_layer.parameters.values(), *gpu_layer.buffers.values()))
