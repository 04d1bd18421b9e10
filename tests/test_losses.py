"""The built-in losses: hand-computed values, finite-difference gradients, edge cases."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import corenn
from corenn.errors import ShapeError
from corenn.nn.losses import L2, CrossEntropy
from corenn.protocols import Loss
from corenn.testing import check_loss_conformance, check_loss_gradients, example_classification_batch

Y_ONE_HOT = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
Y_HAT_PROBS = np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8]])


def test_cross_entropy_forward_matches_hand_computation():
    # sample 1: -log 0.5; sample 2: -log 0.8; mean of the two
    expected = (math.log(2.0) - math.log(0.8)) / 2
    assert CrossEntropy().forward(Y_ONE_HOT, Y_HAT_PROBS) == pytest.approx(expected, rel=1e-15)


def test_cross_entropy_backward_matches_hand_computation():
    expected = np.array([[-1 / 0.5 / 2, 0.0, 0.0], [0.0, 0.0, -1 / 0.8 / 2]])
    np.testing.assert_allclose(CrossEntropy().backward(Y_ONE_HOT, Y_HAT_PROBS), expected, rtol=1e-15)


def test_l2_forward_and_backward_match_hand_computation():
    Y = np.array([[1.0, 2.0], [0.0, -1.0]])
    Y_hat = np.array([[1.5, 1.0], [0.0, 1.0]])
    # errors: (0.5, -1) and (0, 2); halves of squared norms: 0.625 and 2; mean 1.3125
    assert L2().forward(Y, Y_hat) == pytest.approx(1.3125, rel=1e-15)
    np.testing.assert_allclose(L2().backward(Y, Y_hat), [[0.25, -0.5], [0.0, 1.0]], rtol=1e-15)


def test_soft_targets_weight_each_log_probability():
    Y = np.array([[0.25, 0.75]])
    Y_hat = np.array([[0.5, 0.5]])
    assert CrossEntropy().forward(Y, Y_hat) == pytest.approx(math.log(2.0), rel=1e-15)


@pytest.mark.parametrize("loss", [CrossEntropy(), L2()], ids=repr)
@pytest.mark.parametrize("shape", [(4, 3), (7, 10), (1, 2)])
def test_backward_matches_finite_differences(loss, shape):
    Y, Y_hat = example_classification_batch(*shape, seed=shape[1])
    errors = check_loss_gradients(loss, Y, Y_hat)
    print(f"{loss!r} {shape}: largest relative error {max(errors.values()):.2e}")
    assert max(errors.values()) <= 1e-6


def test_l2_gradient_check_on_regression_targets():
    rng = np.random.default_rng(3)
    errors = check_loss_gradients(L2(), rng.normal(size=(5, 4)), rng.normal(size=(5, 4)))
    assert errors["Y_hat"] <= 1e-6


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_stays_finite_when_the_true_class_gets_probability_zero(dtype):
    Y = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=dtype)
    Y_hat = np.array([[1.0, 0.0], [0.7, 0.3]], dtype=dtype)
    tiny = np.finfo(dtype).tiny
    value = CrossEntropy().forward(Y, Y_hat)
    grad = CrossEntropy().backward(Y, Y_hat)
    assert math.isfinite(value)
    # the floor is used in both passes: -log(tiny) in the loss, -1/tiny in the gradient
    assert value == pytest.approx((-math.log(tiny) - math.log(0.7)) / 2, rel=1e-6)
    assert np.all(np.isfinite(grad))
    assert grad[0, 1] == pytest.approx(-1.0 / float(tiny) / 2, rel=1e-6)
    assert grad[0, 0] == 0.0


@pytest.mark.parametrize("loss", [CrossEntropy(), L2()], ids=repr)
def test_float32_inputs_give_float32_gradients(loss):
    Y, Y_hat = example_classification_batch(5, 4)
    grad = loss.backward(Y.astype(np.float32), Y_hat.astype(np.float32))
    assert grad.dtype == np.float32
    # float64 targets with float32 predictions: the prediction's dtype wins
    assert loss.backward(Y, Y_hat.astype(np.float32)).dtype == np.float32
    value = loss.forward(Y.astype(np.float32), Y_hat.astype(np.float32))
    assert isinstance(value, np.float32)  # a numpy scalar, as the course's losses give


@pytest.mark.parametrize("loss", [CrossEntropy(), L2()], ids=repr)
def test_the_courses_loss_api_a_callable_giving_a_numpy_scalar(loss):
    Y, Y_hat = example_classification_batch(5, 4)
    value = loss(Y, Y_hat)
    assert isinstance(value, np.float64) and value == loss.forward(Y, Y_hat)
    assert value.copy() == value  # the course's gradient-check notebook copies it


@pytest.mark.parametrize(("loss", "name"), [(CrossEntropy(), "cross_entropy"), (L2(), "l2")], ids=repr)
@pytest.mark.parametrize("method", ["forward", "backward"])
def test_mismatched_shapes_name_the_loss_and_both_shapes(loss, name, method):
    with pytest.raises(ShapeError) as excinfo:
        getattr(loss, method)(np.zeros((4, 3)), np.full((4, 2), 0.5))
    message = str(excinfo.value)
    assert name in message and "(4, 3)" in message and "(4, 2)" in message


def test_empty_batch_is_a_shape_error():
    with pytest.raises(ShapeError, match="non-empty batch"):
        L2().forward(np.zeros((0, 3)), np.zeros((0, 3)))


def test_losses_work_on_image_shaped_outputs():
    rng = np.random.default_rng(0)
    Y, Y_hat = rng.normal(size=(2, 3, 3, 2)), rng.normal(size=(2, 3, 3, 2))
    assert L2().forward(Y, Y_hat) == pytest.approx(0.5 * np.sum((Y_hat - Y) ** 2) / 2)
    assert check_loss_gradients(L2(), Y, Y_hat)["Y_hat"] <= 1e-6


@pytest.mark.parametrize(("name", "cls"), [("cross_entropy", CrossEntropy), ("l2", L2)])
def test_created_through_the_registry(name, cls):
    loss = corenn.create("loss", name)
    assert isinstance(loss, cls)
    assert isinstance(loss, Loss)
    check_loss_conformance(loss)


@settings(max_examples=60, deadline=None)
@given(
    n_samples=st.integers(1, 6),
    n_classes=st.integers(2, 6),
    seed=st.integers(0, 2**32 - 1),
    zero_fraction=st.sampled_from([0.0, 0.3, 1.0]),
)
def test_losses_give_finite_gradients_of_the_prediction_shape(n_samples, n_classes, seed, zero_fraction):
    rng = np.random.default_rng(seed)
    Y = np.eye(n_classes)[rng.integers(0, n_classes, n_samples)]
    Y_hat = rng.dirichlet(np.ones(n_classes), size=n_samples)
    Y_hat[rng.random(Y_hat.shape) < zero_fraction] = 0.0  # some probabilities exactly 0
    for loss in (CrossEntropy(), L2()):
        value = loss.forward(Y, Y_hat)
        grad = loss.backward(Y, Y_hat)
        assert math.isfinite(value) and value >= 0.0
        assert grad.shape == Y_hat.shape and grad.dtype == np.float64
        assert np.all(np.isfinite(grad))


@settings(max_examples=25, deadline=None)
@given(n_samples=st.integers(1, 5), n_classes=st.integers(2, 5), seed=st.integers(0, 2**32 - 1))
def test_cross_entropy_gradient_check_holds_for_random_batches(n_samples, n_classes, seed):
    Y, Y_hat = example_classification_batch(n_samples, n_classes, seed=seed)
    assert check_loss_gradients(CrossEntropy(), Y, Y_hat)["Y_hat"] <= 1e-6
