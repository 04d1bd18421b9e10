"""conv1d: a layer and its kernels in one module, checked the way corenn checks its own."""

import numpy as np
import pytest

import corenn
from corenn.errors import ConfigError, ShapeError
from corenn.kernels import reference_kernels
from corenn.plugins import get_plugins
from corenn.testing import check_layer_conformance, gradcheck

from corenn_example.conv1d import Conv1D, conv1d_backward, conv1d_forward


@pytest.mark.parametrize("options", [{}, {"stride": 2, "activation": "tanh"}, {"kernel_size": 1, "n_out": 1}])
def test_gradients_match_finite_differences(options):
    report = gradcheck("layer", "conv1d", {"n_out": 3, "kernel_size": 3} | options)
    assert report.passed, report.as_dict()


def test_follows_the_layer_protocol():
    check_layer_conformance(lambda: Conv1D(n_out=2, kernel_size=3), (3, 8, 2))


def test_the_forward_is_the_sum_its_docstring_writes():
    rng = np.random.default_rng(0)
    X, W, b = rng.standard_normal((2, 9, 3)), rng.standard_normal((4, 3, 5)), rng.standard_normal((1, 5))
    Z = conv1d_forward(X, W, b, 2)
    assert Z.shape == (2, 3, 5)
    for n, t, o in np.ndindex(Z.shape):
        expected = b[0, o] + sum(X[n, t * 2 + i, c] * W[i, c, o] for i in range(4) for c in range(3))
        assert Z[n, t, o] == pytest.approx(expected, rel=1e-12)


def test_its_kernels_are_declared_with_examples_and_numpy_runs_the_references():
    declared = {kernel.name: kernel for kernel in get_plugins().declared_kernels()}
    assert declared["conv1d_forward"] is conv1d_forward and declared["conv1d_backward"] is conv1d_backward
    assert conv1d_forward.examples is not None and conv1d_backward.examples is not None
    corenn.plugins.get_backend("numpy")
    assert conv1d_forward.implementation_for("numpy") is conv1d_forward.reference


def test_a_training_step_computes_the_same_with_the_references_alone():
    X = np.random.default_rng(1).standard_normal((4, 10, 2))
    results = []
    for references in (False, True):
        layer = Conv1D(n_out=3, kernel_size=3, stride=2)
        layer.rng = np.random.default_rng(0)
        with reference_kernels(references):
            Y = layer.forward(X)
            results.append((Y, layer.backward(np.ones_like(Y)), layer.gradients["W"]))
    for fast, reference in zip(*results, strict=True):
        np.testing.assert_array_equal(fast, reference)


@pytest.mark.parametrize(
    "options, shape, error, match",
    [
        ({"n_out": 0, "kernel_size": 3}, None, ConfigError, r"n_out must be a positive integer, got 0"),
        ({"n_out": 2, "kernel_size": 3, "stride": 1.5}, None, ConfigError, r"stride must be a positive integer"),
        (
            {"n_out": 2, "kernel_size": 4},
            (2, 3, 1),
            ShapeError,
            r"sequences \(m, L, C\) at least 4 long, got shape \(2, 3, 1\)",
        ),
    ],
)
def test_bad_options_and_inputs_are_one_line_errors(options, shape, error, match):
    with pytest.raises(error, match=match):
        layer = corenn.create("layer", "conv1d", **options)
        layer.forward(np.zeros(shape))
