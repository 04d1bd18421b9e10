"""The activations: values worked out by hand, conformance, dtypes and numerical stability, on
numpy's kernels and on the kernels' references alike."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import corenn
import corenn.errors
from corenn.kernels import reference_kernels
from corenn.testing import check_activation_conformance

ACTIVATIONS = ("linear", "sigmoid", "tanh", "arctan", "relu", "gelu", "softmax")


def activation(name):
    return corenn.create("activation", name)


@pytest.fixture(params=["numpy's kernels", "references"])
def kernels(request):
    """Run the test on numpy's kernels (its overrides where it has them) and on the references."""
    with reference_kernels(request.param == "references"):
        yield request.param


def strict_numerics():
    """Overflow, invalid operations and division by zero become errors, warnings too."""
    return np.errstate(over="raise", invalid="raise", divide="raise")


# Values worked out by hand: (name, Z, Y = f(Z), dY, dZ = dL/dZ).
LN2, LN3, LN5 = math.log(2), math.log(3), math.log(5)
HAND_COMPUTED = [
    ("linear", [[-2.0, 0.0, 3.5]], [[-2.0, 0.0, 3.5]], [[1.0, -2.0, 4.0]], [[1.0, -2.0, 4.0]]),
    # sigmoid(ln 3) = 1 / (1 + 1/3) = 3/4, sigmoid(-ln 3) = 1/4; derivative y(1-y) = 3/16 at both
    ("sigmoid", [[0.0, LN3, -LN3]], [[0.5, 0.75, 0.25]], [[1.0, 2.0, -4.0]], [[0.25, 0.375, -0.75]]),
    # tanh(ln 2) = (2 - 1/2) / (2 + 1/2) = 3/5; derivative 1 - 9/25 = 16/25
    ("tanh", [[0.0, LN2, -LN2]], [[0.0, 0.6, -0.6]], [[1.0, 1.0, 2.0]], [[1.0, 0.64, 1.28]]),
    # arctan(1) = pi/4, arctan(-sqrt 3) = -pi/3; derivative 1 / (1 + z^2) = 1/2, 1/4
    ("arctan", [[0.0, 1.0, -math.sqrt(3)]], [[0.0, math.pi / 4, -math.pi / 3]], [[3.0, 1.0, 1.0]], [[3.0, 0.5, 0.25]]),
    # the derivative at exactly 0 is taken as 0
    ("relu", [[-2.0, 0.0, 3.0]], [[0.0, 0.0, 3.0]], [[5.0, 6.0, 7.0]], [[0.0, 0.0, 7.0]]),
    # exp of (0, ln 2, ln 5) is (1, 2, 5): y = (1, 2, 5) / 8; with dY = e1, dZ = y * (e1 - y1)
    # = (1/8 * 7/8, 2/8 * -1/8, 5/8 * -1/8) = (7, -2, -5) / 64.
    # The second row has y = (1/2, 1/2) and dY = (1, 3): <dY, y> = 2, dZ = (-1/2, 1/2).
    ("softmax", [[0.0, LN2, LN5]], [[1 / 8, 2 / 8, 5 / 8]], [[1.0, 0.0, 0.0]], [[7 / 64, -2 / 64, -5 / 64]]),
    ("softmax", [[4.0, 4.0]], [[0.5, 0.5]], [[1.0, 3.0]], [[-0.5, 0.5]]),
]


# gelu's tanh approximation, values from torch.nn.functional.gelu(approximate="tanh") and its
# autograd in float64 (an independent implementation); at 0 the value is 0 and the slope 1/2.
GELU_BY_TORCH = (
    [[0.0, 1.0, -1.0, 2.0, -3.0, 0.5]],
    [[0.0, 0.8411919906082768, -0.15880800939172324, 1.954597694087775, -0.0036373920817729943, 0.34571400982514394]],
    [[0.5, 1.0829640838457826, -0.08296408384578252, 1.0860992566236183, -0.011584166630969648, 0.8673699035346424]],
)


@pytest.mark.parametrize(("name", "Z", "Y", "dY", "dZ"), HAND_COMPUTED)
def test_values_worked_out_by_hand(name, Z, Y, dY, dZ, kernels):
    act = activation(name)
    np.testing.assert_allclose(act.forward(np.array(Z)), Y, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(act.backward(np.array(Z), np.array(dY)), dZ, rtol=1e-12, atol=1e-15)


def test_gelu_matches_torchs_tanh_approximation(kernels):
    Z, Y, slope = (np.array(rows) for rows in GELU_BY_TORCH)
    gelu = activation("gelu")
    np.testing.assert_allclose(gelu.forward(Z), Y, rtol=1e-13)
    np.testing.assert_allclose(gelu.backward(Z, np.ones_like(Z)), slope, rtol=1e-13)
    np.testing.assert_allclose(gelu.backward(Z, 3 * np.ones_like(Z)), 3 * slope, rtol=1e-13)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gelu_is_the_identity_or_zero_far_from_0_without_overflow(dtype, kernels):
    gelu = activation("gelu")
    big = np.finfo(dtype).max
    Z = np.array([-big, -1e30, -50.0, 50.0, 1e30, big], dtype=dtype)
    with strict_numerics(), warnings.catch_warnings():
        warnings.simplefilter("error")
        Y = gelu.forward(Z)
        dZ = gelu.backward(Z, np.ones_like(Z))
    np.testing.assert_array_equal(Y, np.where(Z > 0, Z, 0))
    np.testing.assert_array_equal(dZ, [0, 0, 0, 1, 1, 1])


@settings(max_examples=200, deadline=None)
@given(hnp.arrays(np.float64, hnp.array_shapes(max_dims=3, max_side=6), elements=st.floats(-1e6, 1e6)))
def test_gelu_minus_its_mirror_image_is_the_input(Z):
    """``gelu(z) - gelu(-z) = z`` (since ``tanh`` is odd), so the slopes at ``z`` and ``-z`` add to
    1: on numpy's kernels and on the references (whose slope has ``1 - t**2``, not factored)."""
    gelu = activation("gelu")
    ones = np.ones_like(Z)
    for references in (False, True):
        with reference_kernels(references):
            np.testing.assert_allclose(gelu.forward(Z) - gelu.forward(-Z), Z, rtol=1e-12, atol=1e-15)
            slopes = gelu.backward(Z, ones) + gelu.backward(-Z, ones)
            np.testing.assert_allclose(slopes, 1.0, rtol=1e-12, atol=1e-12)


def test_softmax_backward_equals_the_full_jacobian_product(kernels):
    """The batched formula against J^T dY with J = diag(y) - y y^T built row by row."""
    rng = np.random.default_rng(3)
    Z, dY = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    softmax = activation("softmax")
    Y = softmax.forward(Z)
    expected = np.stack([(np.diag(y) - np.outer(y, y)).T @ g for y, g in zip(Y, dY, strict=True)])
    np.testing.assert_allclose(softmax.backward(Z, dY), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(4, 5), (1, 1), (3, 7)])
def test_conformance(name, shape):
    check_activation_conformance(activation(name), shape)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_backward_refuses_a_gradient_of_another_shape(name):
    """Called on its own (the course's activations are these), an activation's backward once
    broadcast a wrong dY, or (linear) returned it as it was."""
    act = activation(name)
    with pytest.raises(corenn.errors.ShapeError) as info:
        act.backward(np.ones((4, 3)), np.ones((4, 2)))
    assert str(info.value) == f"{name}: the gradient for backward must have the output's shape (4, 3), got shape (4, 2)"


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_float32_stays_float32_in_forward_and_backward(name, kernels):
    act = activation(name)
    Z = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    dY = np.ones_like(Z)
    assert act.forward(Z).dtype == np.float32
    assert act.backward(Z, dY).dtype == np.float32


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_integer_input_is_computed_in_float64(name):
    Z = np.array([[-2, 0, 3]])
    assert activation(name).forward(Z).dtype == np.float64
    assert activation(name).backward(Z, np.ones_like(Z)).dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_is_stable_for_huge_logits(dtype, kernels):
    softmax = activation("softmax")
    huge = np.finfo(dtype).max / 2
    Z = np.array([[1000.0, 1000.0, -1000.0], [huge, 0.0, -huge], [-huge, -huge, -huge]], dtype=dtype)
    with strict_numerics(), warnings.catch_warnings():
        warnings.simplefilter("error")
        Y = softmax.forward(Z)
        dZ = softmax.backward(Z, np.ones_like(Z))
    np.testing.assert_allclose(Y, [[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
    assert np.all(np.isfinite(dZ))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_does_not_overflow_for_large_inputs(dtype, kernels):
    sigmoid = activation("sigmoid")
    big = np.finfo(dtype).max
    Z = np.array([-big, -1e4, -800.0, 800.0, 1e4, big], dtype=dtype)
    with strict_numerics(), warnings.catch_warnings():
        warnings.simplefilter("error")
        Y = sigmoid.forward(Z)
        dZ = sigmoid.backward(Z, np.ones_like(Z))
    np.testing.assert_array_equal(Y, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(dZ, 0)


def test_sigmoid_keeps_tiny_probabilities_accurate(kernels):
    """For very negative Z the result is exp(Z) to full relative precision, not rounded to 0."""
    Z = np.array([-30.0, -300.0, -700.0])
    np.testing.assert_allclose(activation("sigmoid").forward(Z), np.exp(Z) / (1 + np.exp(Z)), rtol=1e-14)


def test_arctan_backward_does_not_warn_for_huge_inputs():
    Z = np.array([np.finfo(np.float32).max, -1e30], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(activation("arctan").backward(Z, np.ones_like(Z)), 0)


finite_rows = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=8),
    elements=st.floats(-1e300, 1e300, allow_nan=False),
)


@settings(max_examples=200, deadline=None)
@given(finite_rows)
def test_softmax_rows_are_probabilities_for_any_finite_logits(Z):
    with strict_numerics():
        Y = activation("softmax").forward(Z)
    assert Y.shape == Z.shape
    assert np.all((Y >= 0) & (Y <= 1))
    np.testing.assert_allclose(Y.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(Y[np.arange(len(Z)), Z.argmax(axis=1)] == Y.max(axis=1))


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(np.float64, (3, 4), elements=st.floats(-50, 50)),
    hnp.arrays(np.float64, (3, 1), elements=st.floats(-1e3, 1e3)),
)
def test_softmax_ignores_a_constant_added_to_a_row(Z, shift):
    softmax = activation("softmax")
    np.testing.assert_allclose(softmax.forward(Z + shift), softmax.forward(Z), rtol=1e-9, atol=1e-15)


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        np.float64, hnp.array_shapes(max_dims=3, max_side=6), elements=st.floats(allow_nan=False, allow_infinity=False)
    )
)
def test_sigmoid_is_a_symmetric_probability_for_any_finite_input(Z):
    sigmoid = activation("sigmoid")
    with strict_numerics():
        Y = sigmoid.forward(Z)
        Y_mirrored = sigmoid.forward(-Z)
    assert np.all((Y >= 0) & (Y <= 1))
    np.testing.assert_allclose(Y + Y_mirrored, 1.0, rtol=1e-15)
