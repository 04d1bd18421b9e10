"""cross_entropy's label_smoothing option: the smoothed targets, its gradient, its checks."""

import numpy as np
import pytest

import corenn
from corenn.errors import ConfigError
from corenn.nn.losses import CrossEntropy
from corenn.testing import DEFAULT_TOLERANCE, check_loss_gradients, example_classification_batch


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.5, 0.95])
@pytest.mark.parametrize("n_samples, n_classes", [(4, 3), (7, 10), (1, 2)])
def test_gradient_matches_finite_differences(eps, n_samples, n_classes):
    Y, Y_hat = example_classification_batch(n_samples, n_classes, seed=n_classes)
    errors = check_loss_gradients(CrossEntropy(label_smoothing=eps), Y, Y_hat)
    assert errors["Y_hat"] <= DEFAULT_TOLERANCE, errors


def test_the_loss_is_plain_cross_entropy_against_the_smoothed_targets():
    Y, Y_hat = example_classification_batch(5, 4, seed=1)
    smoothed_targets = 0.8 * Y + 0.2 / 4
    plain = CrossEntropy()
    assert CrossEntropy(label_smoothing=0.2).forward(Y, Y_hat) == pytest.approx(
        plain.forward(smoothed_targets, Y_hat), rel=1e-14
    )
    np.testing.assert_allclose(
        CrossEntropy(label_smoothing=0.2).backward(Y, Y_hat), plain.backward(smoothed_targets, Y_hat), rtol=1e-14
    )


def test_smoothing_is_minimised_by_the_smoothed_distribution_not_by_one_hot():
    Y = np.eye(3)[[0]]
    loss = CrossEntropy(label_smoothing=0.3)
    target = np.array([[0.8, 0.1, 0.1]])
    confident = np.array([[1 - 2e-9, 1e-9, 1e-9]])
    assert loss.forward(Y, target) < loss.forward(Y, confident)
    assert loss.forward(Y, target) < loss.forward(Y, np.array([[0.7, 0.15, 0.15]]))


def test_zero_smoothing_is_the_default_and_changes_nothing():
    Y, Y_hat = example_classification_batch(6, 5, seed=2)
    assert CrossEntropy().label_smoothing == 0.0
    np.testing.assert_array_equal(CrossEntropy(label_smoothing=0).backward(Y, Y_hat), CrossEntropy().backward(Y, Y_hat))


def test_float32_stays_float32():
    Y, Y_hat = example_classification_batch(4, 3)
    assert CrossEntropy(label_smoothing=0.1).backward(Y, Y_hat.astype(np.float32)).dtype == np.float32


def test_the_option_is_reachable_through_create():
    loss = corenn.create("loss", "cross_entropy", label_smoothing=0.1)
    assert loss.label_smoothing == 0.1 and repr(loss) == "CrossEntropy(label_smoothing=0.1)"


@pytest.mark.parametrize("eps", [1.0, -0.1, 2, "0.1", True, float("nan")])
def test_bad_values_name_the_option_and_the_allowed_range(eps):
    with pytest.raises(
        ConfigError, match=r"loss 'cross_entropy': option 'label_smoothing' must be a number in \[0, 1\)"
    ):
        corenn.create("loss", "cross_entropy", label_smoothing=eps)
