"""Finite-difference checks of every activation and of fully_connected with every activation.

Run as a script to print the largest relative error found for each component::

    python plugins/nn-fc/tests/test_gradients.py
"""

import numpy as np
import pytest

import corenn
from corenn.testing import DEFAULT_TOLERANCE, check_activation_gradients, check_layer_gradients

ACTIVATIONS = ("linear", "sigmoid", "tanh", "arctan", "relu", "gelu", "softmax")
ACTIVATION_SHAPES = ((4, 5), (1, 3), (7, 2), (6,))
LAYER_CASES = (((4, 5), 3), ((1, 1), 1), ((6, 2), 7), ((3, 8), 2))
SEEDS = (0, 1, 2)


def largest_activation_error(name):
    """The largest relative error of ``name``'s backward over several shapes and seeds."""
    activation = corenn.create("activation", name)
    errors = []
    for shape in ACTIVATION_SHAPES:
        for seed in SEEDS:
            Z = np.random.default_rng(seed).standard_normal(shape) * 3
            errors.append(check_activation_gradients(activation, Z, seed=seed)["Z"])
    return max(errors)


def largest_layer_errors(activation):
    """The largest relative error of dL/dX, dL/dW and dL/db of fully_connected with ``activation``."""
    largest = {"X": 0.0, "W": 0.0, "b": 0.0}
    for input_shape, n_out in LAYER_CASES:
        for seed in SEEDS:
            layer = corenn.create("layer", "fully_connected", n_out=n_out, activation=activation)
            layer.rng = np.random.default_rng(seed)
            X = np.random.default_rng(100 + seed).standard_normal(input_shape)
            for key, error in check_layer_gradients(layer, X, seed=seed).items():
                largest[key] = max(largest[key], error)
    return largest


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_gradient_matches_finite_differences(name):
    assert largest_activation_error(name) <= DEFAULT_TOLERANCE


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_fully_connected_gradients_match_finite_differences(activation):
    errors = largest_layer_errors(activation)
    assert set(errors) == {"X", "W", "b"}
    assert max(errors.values()) <= DEFAULT_TOLERANCE, errors


def test_a_wrong_backward_is_caught_by_the_check():
    """The check itself must be able to fail: a sigmoid whose backward forgets (1 - Y)."""

    class BrokenSigmoid:
        name = "sigmoid"

        def forward(self, Z):
            return 1 / (1 + np.exp(-Z))

        def backward(self, Z, dY):
            return dY * self.forward(Z)

    Z = np.random.default_rng(0).standard_normal((4, 5))
    assert check_activation_gradients(BrokenSigmoid(), Z)["Z"] > 1e-2


def gradient_report():
    """Lines ``component  largest relative error`` for every component of this plugin."""
    lines = [f"{'component':<34} largest relative error (float64, step 1e-6)"]
    for name in ACTIVATIONS:
        lines.append(f"{'activation ' + name:<34} {largest_activation_error(name):.2e}")
    for name in ACTIVATIONS:
        errors = largest_layer_errors(name)
        detail = "  ".join(f"{key}={value:.2e}" for key, value in errors.items())
        lines.append(f"{'fully_connected + ' + name:<34} {max(errors.values()):.2e}  ({detail})")
    return "\n".join(lines)


def test_gradient_report_lists_every_component(capsys):
    report = gradient_report()
    print(report)
    rows = report.splitlines()[1:]
    assert len(rows) == 2 * len(ACTIVATIONS)
    assert all(float(row[34:].split()[0]) <= DEFAULT_TOLERANCE for row in rows)


if __name__ == "__main__":
    print(gradient_report())
