"""The huber loss: its value, its gradient, and the protocol."""

import numpy as np
import pytest

from corenn.errors import ConfigError, ShapeError
from corenn.testing import check_loss_conformance, check_loss_gradients

from corenn_example.huber import Huber


def test_quadratic_near_the_target_linear_far_from_it():
    Y = np.zeros((2, 2))
    Y_hat = np.array([[0.5, -0.5], [3.0, -2.0]])  # two errors inside delta = 1, two outside
    expected = (0.125 + 0.125 + (3.0 - 0.5) + (2.0 - 0.5)) / 2  # summed per sample, averaged over 2
    assert Huber().forward(Y, Y_hat) == pytest.approx(expected, rel=1e-15)
    np.testing.assert_allclose(Huber().backward(Y, Y_hat), [[0.25, -0.25], [0.5, -0.5]], rtol=1e-15)


def test_with_a_large_delta_it_is_the_l2_loss():
    from corenn.nn.losses import L2

    rng = np.random.default_rng(0)
    Y, Y_hat = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    assert Huber(delta=100.0).forward(Y, Y_hat) == pytest.approx(L2().forward(Y, Y_hat), rel=1e-14)


@pytest.mark.parametrize("delta", [1.0, 0.1, 5.0])
def test_gradient_against_finite_differences(delta):
    rng = np.random.default_rng(1)
    errors = check_loss_gradients(Huber(delta=delta), rng.normal(size=(6, 4)), rng.normal(scale=2.0, size=(6, 4)))
    assert errors["Y_hat"] <= 1e-6


def test_follows_the_loss_protocol_and_its_gradient_is_right_on_every_backend():
    check_loss_conformance(Huber(delta=0.3))


def test_float32_stays_float32():
    value = Huber().forward(np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32))
    assert value.dtype == np.float32


@pytest.mark.parametrize("delta", [0, -1.0, float("inf"), True, "1"])
def test_delta_must_be_a_positive_number(delta):
    with pytest.raises(ConfigError, match="delta must be a finite number > 0"):
        Huber(delta=delta)


def test_targets_of_another_shape_name_the_loss():
    with pytest.raises(ShapeError, match="huber: targets Y of shape \\(4, 3\\)"):
        Huber().forward(np.zeros((4, 3)), np.zeros((4, 2)))
