"""The orthogonal initializer."""

import numpy as np
import pytest

import corenn
from corenn.testing import check_initializer_conformance

from corenn_example.orthogonal import orthogonal


@pytest.mark.parametrize("shape", [(6, 3), (3, 6), (2, 2, 3, 4)])
def test_columns_or_rows_are_orthonormal_times_the_gain(shape):
    W = orthogonal(gain=2.0)(shape, np.random.default_rng(0)).reshape(-1, shape[-1])
    gram = W.T @ W if W.shape[0] >= W.shape[1] else W @ W.T
    np.testing.assert_allclose(gram, 4.0 * np.eye(len(gram)), atol=1e-12)


def test_the_gain_follows_the_layers_activation():
    W = orthogonal(activation=corenn.create("activation", "tanh"))((4, 4), np.random.default_rng(0))
    np.testing.assert_allclose(W.T @ W, (5 / 3) ** 2 * np.eye(4), atol=1e-12)


def test_conforms():
    check_initializer_conformance(orthogonal)


def test_a_layer_takes_it_by_name():
    layer = corenn.create("layer", "fully_connected", n_out=3, weight_init="orthogonal")
    layer.rng = np.random.default_rng(0)
    layer.forward(np.zeros((2, 3)))
    W = layer.parameters["W"]
    np.testing.assert_allclose(W.T @ W, np.eye(3), atol=1e-12)  # linear: gain 1
