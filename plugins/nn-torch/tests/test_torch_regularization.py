"""label_smoothing and weight_decay on torch: agreement with numpy, and with torch's own
CrossEntropyLoss, SGD and AdamW as oracles."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import corenn
from corenn.errors import ConfigError
from corenn.testing import DEFAULT_TOLERANCE, check_loss_gradients, example_classification_batch

from corenn_torch.testing import NumpyFacingLoss
from torch_agreement import assert_agree


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.6])
def test_label_smoothing_agrees_with_numpy(eps):
    Y, Y_hat = example_classification_batch(7, 5, seed=3)
    numpy_loss = corenn.create("loss", "cross_entropy", "numpy", label_smoothing=eps)
    torch_loss = corenn.create("loss", "cross_entropy", "torch", label_smoothing=eps)
    assert_agree(
        "loss cross_entropy (label_smoothing)",
        "value",
        np.array(torch_loss.forward(Y, torch.from_numpy(Y_hat))),
        np.array(numpy_loss.forward(Y, Y_hat)),
    )
    assert_agree(
        "loss cross_entropy (label_smoothing)",
        "dL/dY_hat",
        torch_loss.backward(Y, torch.from_numpy(Y_hat)),
        numpy_loss.backward(Y, Y_hat),
    )
    errors = check_loss_gradients(NumpyFacingLoss(torch_loss), Y, Y_hat)
    assert errors["Y_hat"] <= DEFAULT_TOLERANCE


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_softmax_then_smoothed_cross_entropy_is_torchs_cross_entropy_loss(eps):
    rng = np.random.default_rng(0)
    logits = torch.from_numpy(rng.standard_normal((6, 4)) * 2).requires_grad_(True)
    labels = torch.from_numpy(rng.integers(0, 4, 6))
    reference = F.cross_entropy(logits, labels, label_smoothing=eps)
    reference.backward()
    softmax = corenn.create("activation", "softmax", "torch")
    loss = corenn.create("loss", "cross_entropy", "torch", label_smoothing=eps)
    Y = F.one_hot(labels, 4).double()
    probabilities = softmax.forward(logits.detach())
    assert_agree(
        "loss cross_entropy (vs torch)", "value", np.array(loss.forward(Y, probabilities)), reference.detach().numpy()
    )
    dlogits = softmax.backward(logits.detach(), loss.backward(Y, probabilities))
    assert_agree("loss cross_entropy (vs torch)", "dL/dlogits", dlogits, logits.grad)


def test_bad_label_smoothing_is_the_numpy_error():
    messages = []
    for backend in ("numpy", "torch"):
        with pytest.raises(ConfigError) as error:
            corenn.create("loss", "cross_entropy", backend, label_smoothing=1.0)
        messages.append(str(error.value))
    assert messages[0] == messages[1]


SHAPES = {"0.W": (5, 3), "0.b": (1, 3), "2.W": (3, 3, 2, 4)}


def gradients(step):
    rng = np.random.default_rng(100 + step)
    return {name: rng.standard_normal(shape) for name, shape in SHAPES.items()}


def starting_parameters():
    rng = np.random.default_rng(0)
    return {name: rng.standard_normal(shape) for name, shape in SHAPES.items()}


@pytest.mark.parametrize(
    "name, options",
    [
        ("sgd", {"lr": 0.1, "weight_decay": 0.05}),
        ("sgd", {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4, "clip_norm": 1.0}),
        ("adam", {"lr": 0.01, "weight_decay": 0.1}),
        ("adam", {"lr": 0.01, "weight_decay": 0.01, "clip_norm": 0.5}),
    ],
)
def test_weight_decay_agrees_with_numpy(name, options):
    numpy_optimizer = corenn.create("optimizer", name, "numpy", **options)
    torch_optimizer = corenn.create("optimizer", name, "torch", **options)
    numpy_params = starting_parameters()
    torch_params = {key: torch.from_numpy(value.copy()) for key, value in numpy_params.items()}
    for step in range(6):
        numpy_optimizer.lr = torch_optimizer.lr = options["lr"] * 0.8**step
        for key, grad in gradients(step).items():
            numpy_optimizer.update(key, numpy_params[key], grad)
            torch_optimizer.update(key, torch_params[key], torch.from_numpy(grad))
        for key in SHAPES:
            assert_agree(f"optimizer {name} (weight_decay)", f"step {step} {key}", torch_params[key], numpy_params[key])
    assert list(torch_optimizer.state_dict()) == list(numpy_optimizer.state_dict())


@pytest.mark.parametrize(
    "name, options, reference",
    [
        ("sgd", {"lr": 0.1, "weight_decay": 0.05}, lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.05)),
        (
            "sgd",
            {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-2},
            lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-2),
        ),
        (
            "adam",
            {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-7, "weight_decay": 0.1},
            lambda p: torch.optim.AdamW(p, lr=0.01, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.1),
        ),
    ],
)
def test_weight_decay_matches_torchs_sgd_and_adamw(name, options, reference):
    """At a constant rate corenn's SGD velocity ``v = mu v - lr g`` is torch's ``-lr * buf``;
    Adam with decoupled decay is torch's AdamW."""
    ours = corenn.create("optimizer", name, "torch", **options)
    params = {key: torch.from_numpy(value.copy()) for key, value in starting_parameters().items()}
    torch_params = {
        key: torch.nn.Parameter(torch.from_numpy(value.copy())) for key, value in starting_parameters().items()
    }
    optimizer = reference(list(torch_params.values()))
    for step in range(8):
        grads = gradients(step)
        for key, grad in grads.items():
            ours.update(key, params[key], torch.from_numpy(grad))
            torch_params[key].grad = torch.from_numpy(grad)
        optimizer.step()
        for key in SHAPES:
            assert_agree(f"optimizer {name} (vs torch)", f"step {step} {key}", params[key], torch_params[key].detach())
