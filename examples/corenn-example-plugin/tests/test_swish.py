"""The swish activation, checked with corenn's kit for plugin authors."""

import math

import numpy as np
import pytest

from corenn.errors import ConfigError
from corenn.testing import check_activation_conformance, check_activation_gradients

from corenn_example.swish import Swish


def test_values_by_hand():
    Y = Swish().forward(np.array([0.0, 1.0, -1.0, 2.0]))
    expected = [0.0, 1 / (1 + math.exp(-1)), -1 / (1 + math.exp(1)), 2 / (1 + math.exp(-2))]
    np.testing.assert_allclose(Y, expected, rtol=1e-15)


def test_beta_scales_the_gate():
    # beta = 2: 1 * sigmoid(2); beta = 0: Z / 2.
    np.testing.assert_allclose(Swish(beta=2.0).forward(np.array([1.0])), [1 / (1 + math.exp(-2))], rtol=1e-15)
    np.testing.assert_allclose(Swish(beta=0.0).forward(np.array([-3.0, 4.0])), [-1.5, 2.0], rtol=1e-15)


def test_derivative_by_hand():
    # d/dZ [Z sigmoid(Z)] at 0 is 1/2; at 1 it is s + s (1 - s) with s = sigmoid(1).
    s = 1 / (1 + math.exp(-1))
    dZ = Swish().backward(np.array([0.0, 1.0]), np.array([1.0, 2.0]))
    np.testing.assert_allclose(dZ, [0.5, 2 * (s + s * (1 - s))], rtol=1e-15)


@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0, 0.0, -1.0])
def test_gradients(beta):
    Z = np.random.default_rng(0).normal(scale=2.0, size=(6, 5))
    errors = check_activation_gradients(Swish(beta=beta), Z)
    assert errors["Z"] <= 1e-6


def test_conformance():
    check_activation_conformance(Swish())
    check_activation_conformance(Swish(beta=1.7), shape=(3, 2, 4))


def test_extreme_inputs_stay_finite():
    Z = np.array([-1000.0, -40.0, 40.0, 1000.0])
    swish = Swish()
    Y = swish.forward(Z)
    dZ = swish.backward(Z, np.ones_like(Z))
    assert np.all(np.isfinite(Y)) and np.all(np.isfinite(dZ))
    np.testing.assert_allclose(Y[2:], Z[2:])  # like ReLU for large positive Z
    np.testing.assert_allclose(dZ, [0.0, 0.0, 1.0, 1.0], atol=1e-15)


def test_float32_is_kept():
    Z = np.linspace(-3, 3, 12, dtype=np.float32).reshape(3, 4)
    assert Swish().forward(Z).dtype == np.float32
    assert Swish().backward(Z, np.ones_like(Z)).dtype == np.float32


@pytest.mark.parametrize("beta", ["1", True, float("nan"), float("inf"), None])
def test_bad_beta_is_a_config_error(beta):
    with pytest.raises(ConfigError, match="swish: beta must be a finite number"):
        Swish(beta=beta)
