"""The course's utils over corenn's helpers."""

import numpy as np
import pytest

from corenn.course.utils import AttrDict, check_gradients, integers_to_one_hot, standardize
from corenn.errors import ConfigError


def test_attr_dict_keys_are_attributes():
    args = AttrDict({"name": "fully_connected", "n_out": 3})
    assert args.name == "fully_connected"
    args.n_out = 10
    assert args["n_out"] == 10 and dict(args) == {"name": "fully_connected", "n_out": 10}


def test_integers_to_one_hot():
    np.testing.assert_array_equal(integers_to_one_hot(np.array([[2], [0], [1]])), np.eye(3)[[2, 0, 1]])
    assert integers_to_one_hot([1, 1], max_val=4).shape == (2, 5)
    with pytest.raises(ConfigError, match="labels must lie in 0..1"):
        integers_to_one_hot([0, 3], max_val=1)
    with pytest.raises(ConfigError, match="integer labels"):
        integers_to_one_hot([0.5, 1.0])


def test_standardize_per_feature_in_place():
    X = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]])
    result = standardize(X)
    assert result is X
    np.testing.assert_allclose(X[:, 0], [-np.sqrt(1.5), 0.0, np.sqrt(1.5)])
    np.testing.assert_array_equal(X[:, 1], 0.0)  # a constant column is only centred


def test_standardize_per_channel_and_bad_axes():
    images = np.random.default_rng(0).normal(3.0, 2.0, size=(5, 4, 4, 2))
    standardized = standardize(images.copy(), axis=(0, 1, 2))
    np.testing.assert_allclose(standardized.mean(axis=(0, 1, 2)), 0.0, atol=1e-12)
    np.testing.assert_allclose(standardized.std(axis=(0, 1, 2)), 1.0)
    with pytest.raises(ConfigError, match="axis must be 0"):
        standardize(images, axis=1)


def test_check_gradients_is_the_courses_relative_error():
    x = np.array([1.0, 2.0, 3.0])
    dLdf = np.array([1.0, -1.0, 0.5])
    right = 2 * x * dLdf  # d/dx of sum(x**2 * dLdf)
    assert check_gradients(lambda v: v**2, right, x, dLdf) < 1e-8
    wrong = right + np.array([0.0, 0.0, 1.0])
    numeric = right  # the central difference of a square is exact up to rounding
    expected = np.linalg.norm(wrong - numeric) / np.linalg.norm(wrong + numeric)
    assert check_gradients(lambda v: v**2, wrong, x, dLdf) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])  # restored


def test_check_gradients_needs_a_float_array():
    with pytest.raises(ConfigError, match="float32 or float64"):
        check_gradients(lambda v: v, np.ones(2), np.array([1, 2]), np.ones(2))
