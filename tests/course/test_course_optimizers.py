"""The course's SGD and schedules, checked against numbers worked out by hand."""

import numpy as np
import pytest

from corenn.course import optimizers, schedulers
from corenn.errors import ConfigError


def test_constant_schedule():
    schedule = schedulers.initialize_scheduler("constant", lr=0.3, decay=0.5, stage_length=2, staircase=True)
    assert [schedule(epoch) for epoch in range(3)] == [0.3, 0.3, 0.3]


def test_exponential_schedule_by_epoch():
    stairs = schedulers.Exponential(lr=0.1, decay=0.5, stage_length=2, staircase=True)
    assert [stairs(epoch) for epoch in range(5)] == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025])
    smooth = schedulers.initialize_scheduler("exponential", lr=0.1, decay=0.5, stage_length=2, staircase=None)
    assert smooth(1) == pytest.approx(0.1 * 0.5**0.5)
    assert smooth(4) == pytest.approx(0.025)


def test_scheduler_errors():
    with pytest.raises(ConfigError, match="the course's schedulers are: constant, exponential"):
        schedulers.initialize_scheduler("cosine", lr=0.1)
    with pytest.raises(ConfigError, match="stage_length"):
        schedulers.initialize_scheduler("exponential", lr=0.1, decay=0.5)


def test_sgd_returns_the_momentum_delta_and_leaves_the_parameter():
    sgd = optimizers.SGD(lr=0.1, lr_scheduler="constant", momentum=0.9)
    param = np.array([1.0, 1.0])
    first = sgd.update("W0", param, np.array([1.0, 2.0]), epoch=0)
    np.testing.assert_allclose(first, [0.1, 0.2])  # lr * g
    second = sgd.update("W0", param, np.array([0.5, -1.0]), epoch=0)
    np.testing.assert_allclose(second, [0.9 * 0.1 + 0.05, 0.9 * 0.2 - 0.1])  # momentum * delta + lr * g
    np.testing.assert_array_equal(param, [1.0, 1.0])
    np.testing.assert_allclose(sgd.cache["W0"], second)


def test_sgd_keeps_one_cache_per_name():
    sgd = optimizers.initialize_optimizer(name="SGD", lr=1.0, lr_scheduler="constant", momentum=0.5)
    sgd.update("W0", np.zeros(1), np.array([1.0]), 0)
    np.testing.assert_allclose(sgd.update("W1", np.zeros(1), np.array([1.0]), 0), [1.0])
    np.testing.assert_allclose(sgd.update("W0", np.zeros(1), np.array([1.0]), 0), [1.5])


def test_sgd_clips_the_gradient_norm_and_follows_the_schedule():
    sgd = optimizers.SGD(
        lr=0.1, lr_scheduler="exponential", clip_norm=1.0, lr_decay=0.5, stage_length=1, staircase=True
    )
    # |(3, 4)| = 5 is clipped to 1: (0.6, 0.8); epoch 2 has lr 0.1 * 0.5**2
    np.testing.assert_allclose(sgd.update("b0", np.zeros(2), np.array([3.0, 4.0]), epoch=2), [0.025 * 0.6, 0.025 * 0.8])
    np.testing.assert_allclose(sgd.update("b1", np.zeros(2), np.array([0.3, 0.4]), epoch=0), [0.03, 0.04])


def test_optimizer_errors():
    with pytest.raises(ConfigError, match="the course's optimizer is 'SGD'"):
        optimizers.initialize_optimizer(name="Adam", lr=0.1, lr_scheduler="constant")
    with pytest.raises(ConfigError, match="needs lr"):
        optimizers.initialize_optimizer(name="SGD", lr_scheduler="constant")
    with pytest.raises(ConfigError, match="momentum"):
        optimizers.SGD(lr=0.1, lr_scheduler="constant", momentum=1.5)
