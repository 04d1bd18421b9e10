"""dropout on torch: the numpy layer's masks on the CPU, the seeded device masks, evaluation
mode, finite differences with the mask held fixed, errors."""

import numpy as np
import pytest
import torch

import corenn
from corenn.errors import ConfigError, ShapeError
from corenn.testing import DEFAULT_TOLERANCE, FixedRandomness, check_layer_conformance, check_layer_gradients

from corenn_torch.kernels.dropout import seeded_keep_mask
from corenn_torch.testing import NumpyFacingLayer
from torch_agreement import compare_layer, layer_pair


@pytest.mark.parametrize("shape", [(5, 7), (2, 4, 4, 3)])
@pytest.mark.parametrize("rate", [0.0, 0.2, 0.5, 0.9])
@pytest.mark.parametrize("activation", ["linear", "relu"])
def test_on_the_cpu_it_drops_what_the_numpy_layer_drops(shape, rate, activation):
    numpy_layer, torch_layer = layer_pair("dropout", seed=4, rate=rate, activation=activation)
    for batch in range(3):  # each forward draws a new mask, the same on both
        compare_layer("layer dropout", numpy_layer, torch_layer, np.random.default_rng(batch).standard_normal(shape))


def test_evaluation_mode_is_the_identity_on_both_backends():
    numpy_layer, torch_layer = layer_pair("dropout", rate=0.5)
    numpy_layer.training = torch_layer.training = False
    compare_layer("layer dropout", numpy_layer, torch_layer, np.random.default_rng(0).standard_normal((4, 6)))
    X = torch.randn(4, 6, dtype=torch.float64)
    assert torch.equal(torch_layer.forward(X), X)


@pytest.mark.parametrize("shape", [(5, 7), (2, 3, 3, 4)])
def test_passes_the_finite_difference_check_with_the_mask_held_fixed(shape):
    layer = NumpyFacingLayer(
        FixedRandomness(corenn.create("layer", "dropout", "torch", rate=0.3, activation="tanh"), seed=2)
    )
    errors = check_layer_gradients(layer, np.random.default_rng(10).standard_normal(shape))
    assert errors["X"] <= DEFAULT_TOLERANCE, errors


def test_the_device_mask_is_a_function_of_its_seed_and_drops_about_rate():
    generator = torch.Generator()
    first = seeded_keep_mask(generator, 123, (300, 400), 0.3, torch.device("cpu"))
    again = seeded_keep_mask(generator, 123, (300, 400), 0.3, torch.device("cpu"))
    other = seeded_keep_mask(generator, 124, (300, 400), 0.3, torch.device("cpu"))
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert abs(1 - first.double().mean().item() - 0.3) < 0.005


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_on_a_gpu_masks_are_drawn_there_from_seeds_of_the_layers_generator():
    layers = [corenn.create("layer", "dropout", "torch", rate=0.4) for _ in range(2)]
    for layer in layers:
        layer.rng = np.random.default_rng(8)
    X = torch.ones(64, 32, dtype=torch.float64, device="cuda")
    first, second = (layer.forward(X) for layer in layers)
    assert first.device.type == "cuda" and torch.equal(first, second)
    assert not torch.equal(layers[0].forward(X), first)  # the next step, a new mask
    assert abs((first == 0).double().mean().item() - 0.4) < 0.05
    dX = layers[0].backward(torch.ones_like(X))
    assert dX.device.type == "cuda"


def test_conformance_and_dtype():
    check_layer_conformance(lambda: NumpyFacingLayer(corenn.create("layer", "dropout", "torch", rate=0.2)), (4, 5))
    layer = corenn.create("layer", "dropout", "torch")
    Y = layer.forward(torch.ones(3, 4, dtype=torch.float32))
    assert Y.dtype == torch.float32 and not layer.parameters


def test_errors_match_the_numpy_layers():
    messages = []
    for backend, convert in (("numpy", np.asarray), ("torch", torch.as_tensor)):
        with pytest.raises(ConfigError) as option:
            corenn.create("layer", "dropout", backend, rate=1.0)
        layer = corenn.create("layer", "dropout", backend)
        layer.forward(convert(np.ones((2, 3))))
        with pytest.raises(ShapeError) as shape:
            layer.backward(convert(np.ones((3, 2))))
        messages.append((str(option.value), str(shape.value)))
    assert messages[0] == messages[1]
