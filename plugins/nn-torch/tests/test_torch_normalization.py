"""batch_norm on torch: agreement with numpy (outputs, gradients, running statistics) in both
modes, torch's own batch_norm as an oracle, finite differences, dtype and device."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import corenn
from corenn.errors import ConfigError, ShapeError
from corenn.testing import DEFAULT_TOLERANCE, check_layer_conformance, check_layer_gradients

from corenn_torch.testing import NumpyFacingLayer
from torch_agreement import assert_agree, compare_layer, layer_pair

SHAPES = [(6, 4), (3, 5, 4, 2), (2, 3, 3, 1), (8, 1)]
LABEL = "layer batch_norm"


def scramble(numpy_layer, torch_layer, seed=1):
    """The same random gamma, beta and running statistics in both layers."""
    rng = np.random.default_rng(seed)
    shape = numpy_layer.parameters["W"].shape
    values = {
        "W": rng.standard_normal(shape),
        "b": rng.standard_normal(shape),
        "running_mean": rng.standard_normal(shape),
        "running_var": rng.uniform(0.5, 2.0, shape),
    }
    for key, value in values.items():
        table = "parameters" if key in ("W", "b") else "buffers"
        getattr(numpy_layer, table)[key][...] = value
        getattr(torch_layer, table)[key].copy_(torch.from_numpy(value))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", ["linear", "relu", "tanh"])
@pytest.mark.parametrize("training", [True, False])
def test_agrees_with_numpy(shape, activation, training):
    numpy_layer, torch_layer = layer_pair("batch_norm", activation=activation, momentum=0.3)
    X = np.random.default_rng(10).standard_normal(shape) * 2 + 0.5
    compare_layer(LABEL, numpy_layer, torch_layer, X)
    scramble(numpy_layer, torch_layer)
    numpy_layer.training = torch_layer.training = training
    for batch in range(3):
        X = np.random.default_rng(20 + batch).standard_normal(shape) * 3 - 1
        Y_numpy = numpy_layer.forward(X)
        Y_torch = torch_layer.forward(torch.from_numpy(X))
        assert_agree(LABEL, "output", Y_torch, Y_numpy)
        G = np.random.default_rng(batch).standard_normal(Y_numpy.shape)
        assert_agree(LABEL, "dL/dX", torch_layer.backward(torch.from_numpy(G)), numpy_layer.backward(G))
        for key in ("W", "b"):
            assert_agree(LABEL, f"dL/d{key}", torch_layer.gradients[key], numpy_layer.gradients[key])
        for key in ("running_mean", "running_var"):
            assert_agree(LABEL, key, torch_layer.buffers[key], numpy_layer.buffers[key])


@pytest.mark.parametrize("shape", [(6, 4), (3, 5, 4, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_matches_torchs_own_batch_norm_and_its_autograd(shape, training):
    rng = np.random.default_rng(3)
    X = torch.from_numpy(rng.standard_normal(shape) * 2 + 1)
    G = torch.from_numpy(rng.standard_normal(shape))
    layer = corenn.create("layer", "batch_norm", "torch", momentum=0.2, epsilon=1e-3)
    layer.forward(X)
    gamma = torch.from_numpy(rng.standard_normal(shape[-1]))
    beta = torch.from_numpy(rng.standard_normal(shape[-1]))
    running_mean = torch.from_numpy(rng.standard_normal(shape[-1]))
    running_var = torch.from_numpy(rng.uniform(0.5, 2, shape[-1]))
    layer.parameters["W"][0], layer.parameters["b"][0] = gamma, beta
    layer.buffers["running_mean"][0], layer.buffers["running_var"][0] = running_mean, running_var
    layer.training = training

    Y = layer.forward(X)
    dX = layer.backward(G)

    channels_first = (0, X.ndim - 1, *range(1, X.ndim - 1))  # NHWC -> NCHW, (m, n) unchanged
    X_ref = X.permute(channels_first).clone().requires_grad_(True)
    gamma_ref, beta_ref = gamma.clone().requires_grad_(True), beta.clone().requires_grad_(True)
    Y_ref = F.batch_norm(
        X_ref, running_mean, running_var, gamma_ref, beta_ref, training=training, momentum=0.2, eps=1e-3
    )
    Y_ref.backward(G.permute(channels_first))
    back = (0, *range(2, X.ndim), 1)
    assert_agree(LABEL + " (vs torch)", "output", Y, Y_ref.detach().permute(back))
    assert_agree(LABEL + " (vs torch)", "dL/dX", dX, X_ref.grad.permute(back))
    assert_agree(LABEL + " (vs torch)", "dL/dW", layer.gradients["W"][0], gamma_ref.grad)
    assert_agree(LABEL + " (vs torch)", "dL/db", layer.gradients["b"][0], beta_ref.grad)
    # F.batch_norm updated running_mean / running_var in place, as the layer did its buffers
    assert_agree(LABEL + " (vs torch)", "running_mean", layer.buffers["running_mean"][0], running_mean)
    assert_agree(LABEL + " (vs torch)", "running_var", layer.buffers["running_var"][0], running_var)


@pytest.mark.parametrize("shape", SHAPES[:3])
@pytest.mark.parametrize("training", [True, False])
def test_passes_the_finite_difference_check(shape, training):
    X = np.random.default_rng(10).standard_normal(shape) * 3 + 1
    numpy_layer, layer = layer_pair("batch_norm", activation="tanh")
    numpy_layer.forward(X)
    layer.forward(torch.from_numpy(X))
    scramble(numpy_layer, layer)
    layer.training = training
    errors = check_layer_gradients(NumpyFacingLayer(layer), X)
    assert max(errors.values()) <= DEFAULT_TOLERANCE, errors


@pytest.mark.parametrize("input_shape", [(4, 5), (2, 3, 3, 2)])
def test_conformance(input_shape):
    check_layer_conformance(lambda: NumpyFacingLayer(corenn.create("layer", "batch_norm", "torch")), input_shape)


def test_to_moves_the_buffers_too():
    layer = corenn.create("layer", "batch_norm", "torch")
    layer.forward(torch.ones(2, 3, dtype=torch.float64))
    layer.to(dtype=torch.float32)
    assert all(value.dtype == torch.float32 for value in (*layer.parameters.values(), *layer.buffers.values()))
    layer.to("meta")
    assert all(value.device.type == "meta" for value in layer.buffers.values())


def test_float32_in_float32_out_and_buffers_in_the_inputs_dtype():
    layer = corenn.create("layer", "batch_norm", "torch")
    Y = layer.forward(torch.randn(4, 3, 3, 2, dtype=torch.float32))
    assert Y.dtype == torch.float32 and layer.buffers["running_var"].dtype == torch.float32
    assert layer.backward(torch.ones_like(Y)).dtype == torch.float32


def test_errors_match_the_numpy_layers():
    messages = []
    for backend, convert in (("numpy", np.asarray), ("torch", torch.as_tensor)):
        layer = corenn.create("layer", "batch_norm", backend)
        with pytest.raises(ShapeError) as scalar:
            layer.forward(convert(np.ones(3)))
        layer.forward(convert(np.ones((2, 3))))
        with pytest.raises(ShapeError) as channels:
            layer.forward(convert(np.ones((2, 4))))
        with pytest.raises(ConfigError) as option:
            corenn.create("layer", "batch_norm", backend, momentum=2)
        messages.append((str(scalar.value), str(channels.value), str(option.value)))
    assert messages[0] == messages[1]
