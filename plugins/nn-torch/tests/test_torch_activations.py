"""The activations on torch agree with numpy's, pass corenn's gradient and conformance checks,
and keep dtype and device."""

import numpy as np
import pytest
import torch

import corenn
from corenn.testing import DEFAULT_TOLERANCE, check_activation_conformance, check_activation_gradients

from corenn_torch.testing import NumpyFacingActivation
from torch_agreement import assert_agree

ACTIVATIONS = ("linear", "sigmoid", "tanh", "arctan", "relu", "gelu", "softmax")
SHAPES = ((4, 5), (1, 3), (6,), (2, 3, 3, 4))


def inputs(shape, seed):
    """Standard normal values times 3, with extremes where torch and numpy could part ways."""
    Z = np.random.default_rng(seed).standard_normal(shape) * 3
    flat = Z.reshape(-1)
    flat[: min(4, flat.size)] = [800.0, -800.0, 0.0, 1e-12][: min(4, flat.size)]
    return Z


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", (0, 1))
def test_forward_and_backward_agree_with_numpy(name, shape, seed):
    numpy_activation = corenn.create("activation", name, "numpy")
    torch_activation = corenn.create("activation", name, "torch")
    Z = inputs(shape, seed)
    dY = np.random.default_rng(seed + 7).standard_normal(shape)
    label = f"activation {name}"
    assert_agree(label, "forward", torch_activation.forward(torch.from_numpy(Z)), numpy_activation.forward(Z))
    assert_agree(
        label,
        "backward",
        torch_activation.backward(torch.from_numpy(Z), torch.from_numpy(dY)),
        numpy_activation.backward(Z, dY),
    )


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_backward_passes_the_finite_difference_check(name):
    activation = NumpyFacingActivation(corenn.create("activation", name, "torch"))
    for seed in (0, 1, 2):
        Z = np.random.default_rng(seed).standard_normal((4, 5)) * 3
        assert check_activation_gradients(activation, Z, seed=seed)["Z"] <= DEFAULT_TOLERANCE


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_conformance(name):
    check_activation_conformance(NumpyFacingActivation(corenn.create("activation", name, "torch")))


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("dtype", (torch.float32, torch.float64))
def test_tensors_keep_their_dtype(name, dtype):
    activation = corenn.create("activation", name, "torch")
    Z = torch.randn(3, 4, dtype=dtype)
    assert activation.forward(Z).dtype == dtype
    assert activation.backward(Z, torch.ones_like(Z)).dtype == dtype


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_integer_and_numpy_inputs_become_float64_tensors(name):
    activation = corenn.create("activation", name, "torch")
    Y = activation.forward(np.array([[1, -2, 3]]))
    assert torch.is_tensor(Y) and Y.dtype == torch.float64
    dZ = activation.backward(np.array([[1, -2, 3]]), np.ones((1, 3), dtype=np.int64))
    assert torch.is_tensor(dZ) and dZ.dtype == torch.float64


def test_relu_gradient_is_zero_at_zero_and_where_inactive_even_for_infinite_upstream():
    relu = corenn.create("activation", "relu", "torch")
    Z = torch.tensor([[-1.0, 0.0, 2.0]], dtype=torch.float64)
    dZ = relu.backward(Z, torch.tensor([[np.inf, 5.0, 3.0]], dtype=torch.float64))
    assert dZ.tolist() == [[0.0, 0.0, 3.0]]


def test_softmax_and_sigmoid_do_not_overflow():
    Z = torch.tensor([[1e308, -1e308, 0.0]], dtype=torch.float64)
    assert torch.isfinite(corenn.create("activation", "softmax", "torch").forward(Z)).all()
    assert torch.isfinite(corenn.create("activation", "sigmoid", "torch").forward(Z)).all()
