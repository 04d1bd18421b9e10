"""The losses on torch agree with numpy's, pass corenn's checks, and take numpy targets."""

import numpy as np
import pytest
import torch

import corenn
from corenn.errors import ShapeError
from corenn.testing import DEFAULT_TOLERANCE, check_loss_conformance, check_loss_gradients, example_classification_batch

from corenn_torch.testing import NumpyFacingLoss
from torch_agreement import assert_agree

LOSSES = ("cross_entropy", "l2")


def batches():
    """(Y, Y_hat) pairs: one-hot, soft targets, a zero probability on the true class, images."""
    rng = np.random.default_rng(0)
    Y, Y_hat = example_classification_batch(16, 10, seed=1)
    yield "one-hot", Y, Y_hat
    soft = rng.dirichlet(np.ones(5), size=6)
    yield "soft", soft, rng.dirichlet(np.ones(5), size=6)
    zero = Y_hat.copy()
    zero[0, Y[0].argmax()] = 0.0
    yield "zero probability", Y, zero
    yield "image outputs", rng.random((2, 4, 4, 3)), rng.random((2, 4, 4, 3)) + 0.01


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("case, Y, Y_hat", list(batches()), ids=lambda v: v if isinstance(v, str) else "")
def test_forward_and_backward_agree_with_numpy(name, case, Y, Y_hat):
    numpy_loss = corenn.create("loss", name, "numpy")
    torch_loss = corenn.create("loss", name, "torch")
    label = f"loss {name}"
    value = torch_loss.forward(torch.from_numpy(Y), torch.from_numpy(Y_hat))
    assert isinstance(value, float)
    assert_agree(label, f"{case} forward", value, numpy_loss.forward(Y, Y_hat))
    assert_agree(
        label,
        f"{case} backward",
        torch_loss.backward(torch.from_numpy(Y), torch.from_numpy(Y_hat)),
        numpy_loss.backward(Y, Y_hat),
    )


def test_cross_entropy_of_a_zero_probability_is_finite_with_a_finite_gradient():
    loss = corenn.create("loss", "cross_entropy", "torch")
    Y, Y_hat = torch.tensor([[0.0, 1.0]], dtype=torch.float32), torch.tensor([[1.0, 0.0]], dtype=torch.float32)
    assert loss.forward(Y, Y_hat) == pytest.approx(-np.log(np.finfo(np.float32).tiny))
    gradient = loss.backward(Y, Y_hat)
    assert gradient.dtype == torch.float32 and torch.isfinite(gradient).all()


@pytest.mark.parametrize("name", LOSSES)
def test_numpy_and_integer_targets_follow_the_predictions_dtype(name):
    loss = corenn.create("loss", name, "torch")
    Y = np.eye(3, dtype=np.int64)[[0, 2]]
    Y_hat = torch.full((2, 3), 1 / 3, dtype=torch.float32)
    assert isinstance(loss.forward(Y, Y_hat), float)
    assert loss.backward(Y, Y_hat).dtype == torch.float32


@pytest.mark.parametrize("name", LOSSES)
def test_finite_difference_check(name):
    errors = check_loss_gradients(
        NumpyFacingLoss(corenn.create("loss", name, "torch")), *example_classification_batch(5, 4)
    )
    assert errors["Y_hat"] <= DEFAULT_TOLERANCE


@pytest.mark.parametrize("name", LOSSES)
def test_conformance(name):
    check_loss_conformance(NumpyFacingLoss(corenn.create("loss", name, "torch")))


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("Y_shape, Y_hat_shape", [((4, 3), (4, 2)), ((0, 3), (0, 3)), ((), ())])
def test_shape_errors_match_numpy(name, Y_shape, Y_hat_shape):
    messages = []
    for backend, convert in (("numpy", np.asarray), ("torch", torch.as_tensor)):
        with pytest.raises(ShapeError) as error:
            corenn.create("loss", name, backend).forward(convert(np.ones(Y_shape)), convert(np.ones(Y_hat_shape)))
        messages.append(str(error.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize(
    "torch_dtype, numpy_name", [(torch.float64, "float64"), (torch.float32, "float32"), (torch.bfloat16, "float32")]
)
def test_the_cross_entropy_ceiling_takes_torch_dtypes_and_their_names(torch_dtype, numpy_name):
    """The trainer's divergence check asks for the ceiling of the predictions' dtype; bfloat16 has
    float32's smallest normal number, so its ceiling is float32's."""
    loss = corenn.create("loss", "cross_entropy", "torch")
    expected = loss.ceiling(numpy_name)
    assert loss.ceiling(torch_dtype) == pytest.approx(expected, rel=1e-7)
    assert loss.ceiling(str(torch_dtype).removeprefix("torch.")) == pytest.approx(expected, rel=1e-7)
    assert loss.ceiling(torch_dtype) == pytest.approx(-np.log(float(torch.finfo(torch_dtype).tiny)), rel=1e-7)
