"""Pool2D: gradients, ties, zero padding (numpy's kernels and the references), the protocol and errors."""

import numpy as np
import pytest

import corenn
from corenn.errors import ConfigError, CorennError, ShapeError
from corenn.kernels import reference_kernels
from corenn.testing import check_layer_conformance, check_layer_gradients, gradcheck

from corenn_conv.pool2d import Pool2D

TOLERANCE = 1e-6


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize(
    "kernel, stride, pad, input_shape",
    [
        ((2, 2), 2, 0, (2, 6, 6, 3)),  # non-overlapping
        ((3, 3), 2, 0, (2, 7, 7, 2)),  # overlapping
        ((3, 3), 1, 1, (2, 5, 6, 2)),
        ((3, 5), 4, "valid", (2, 12, 12, 2)),
        ((2, 3), (1, 2), "same", (2, 5, 7, 1)),
        ((5, 5), 1, 2, (1, 6, 6, 2)),
    ],
)
@pytest.mark.parametrize("references", [False, True], ids=["numpy", "references"])
def test_gradients_match_finite_differences(mode, kernel, stride, pad, input_shape, references):
    # distinct non-zero values of both signs: no window holds a tie (padding zeros included)
    # that finite differences would step across
    n = int(np.prod(input_shape))
    X = (np.random.default_rng(0).permutation(n) - n / 2 + 0.5).reshape(input_shape) / 7.0
    with reference_kernels(references):
        errors = check_layer_gradients(Pool2D(kernel, mode=mode, stride=stride, pad=pad), X, step=1e-5)
    assert set(errors) == {"X"}
    assert errors["X"] <= TOLERANCE, errors


@pytest.mark.parametrize("mode", ["max", "average"])
def test_gradcheck_by_name(mode):
    report = gradcheck("layer", "pool2d", {"kernel_shape": [2, 2], "mode": mode, "stride": 2})
    assert report.input_shape == Pool2D.example_input_shape
    assert report.passed, report.errors


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("stride, pad", [(2, 0), (1, "same")])
def test_conformance(mode, stride, pad):
    check_layer_conformance(lambda: Pool2D((2, 2), mode=mode, stride=stride, pad=pad), (2, 6, 5, 3))


def test_created_through_the_registry():
    layer = corenn.create("layer", "pool2d", kernel_shape=[2, 2], mode="max", stride=2)
    assert isinstance(layer, Pool2D)
    assert not layer.parameters
    layer.forward(np.zeros((1, 4, 4, 3)))
    assert layer.n_in == layer.n_out == 3


def test_max_and_average_on_a_hand_checked_example():
    X = np.array([[1.0, 2.0, 5.0, 0.0], [3.0, 4.0, 1.0, 1.0], [0.0, -1.0, 2.0, 2.0], [-2.0, -3.0, 2.0, 9.0]])
    X = X.reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(Pool2D(2, stride=2).forward(X)[0, :, :, 0], [[4.0, 5.0], [0.0, 9.0]])
    np.testing.assert_array_equal(
        Pool2D(2, mode="average", stride=2).forward(X)[0, :, :, 0], [[2.5, 1.75], [-1.5, 3.75]]
    )


def test_average_counts_the_zero_padding():
    X = np.ones((1, 2, 2, 1))
    Y = Pool2D(3, mode="average", stride=1, pad=1).forward(X)[0, :, :, 0]
    np.testing.assert_allclose(Y, np.full((2, 2), 4 / 9))  # each 3x3 window holds four ones


def test_max_pooling_pads_with_zeros():
    X = -np.ones((1, 2, 2, 1))
    assert Pool2D(2, stride=1, pad=1).forward(X).max() == 0.0


@pytest.mark.parametrize("references", [False, True], ids=["numpy", "references"])
@pytest.mark.parametrize("stride", [1, 2])
def test_max_gradient_goes_to_the_first_maximum_of_a_tie(stride, references):
    X = np.zeros((1, 2, 3, 1))  # every window is all ties
    layer = Pool2D(2, stride=stride)
    with reference_kernels(references):
        Y = layer.forward(X)
        dX = layer.backward(np.ones_like(Y))[0, :, :, 0]
    if stride == 2:  # one window, top-left corner wins
        np.testing.assert_array_equal(dX, [[1, 0, 0], [0, 0, 0]])
    else:  # two overlapping windows, each gives its top-left entry
        np.testing.assert_array_equal(dX, [[1, 1, 0], [0, 0, 0]])


def test_max_gradient_goes_only_to_the_maximum():
    X = np.array([[1.0, 7.0], [3.0, 2.0]]).reshape(1, 2, 2, 1)
    layer = Pool2D(2, stride=2)
    layer.forward(X)
    dX = layer.backward(np.full((1, 1, 1, 1), 5.0))
    np.testing.assert_array_equal(dX[0, :, :, 0], [[0, 5.0], [0, 0]])


@pytest.mark.parametrize("references", [False, True], ids=["numpy", "references"])
def test_overlapping_windows_add_their_gradients(references):
    X = np.array([[0.0, 0.0, 0.0], [0.0, 9.0, 0.0], [0.0, 0.0, 0.0]]).reshape(1, 3, 3, 1)
    layer = Pool2D(2, stride=1)
    with reference_kernels(references):
        layer.forward(X)
        dX = layer.backward(np.ones((1, 2, 2, 1)))
    assert dX[0, 1, 1, 0] == 4.0  # the centre is the maximum of all four windows
    assert dX.sum() == 4.0


def test_big_kernels_use_a_wider_argmax():
    X = np.random.default_rng(2).permutation(17 * 17).reshape(1, 17, 17, 1).astype(np.float64)
    layer = Pool2D(17)
    layer.forward(X)
    dX = layer.backward(np.ones((1, 1, 1, 1)))
    assert dX[0, 16, 16, 0] == 0 or X.max() == X[0, 16, 16, 0]
    assert dX.reshape(-1)[np.argmax(X)] == 1.0 and dX.sum() == 1.0


def test_float32_stays_float32():
    layer = Pool2D(2, mode="average", stride=2)
    Y = layer.forward(np.ones((1, 4, 4, 2), dtype=np.float32))
    assert Y.dtype == np.float32
    assert layer.backward(np.ones_like(Y)).dtype == np.float32


@pytest.mark.parametrize(
    "options, fragment",
    [
        (dict(kernel_shape=2, mode="min"), "mode"),
        (dict(kernel_shape=0), "kernel_shape"),
        (dict(kernel_shape=2, stride=0), "stride"),
        (dict(kernel_shape=2, stride=-2), "stride"),
        (dict(kernel_shape=2, pad="full"), "pad"),
    ],
)
def test_bad_options_are_config_errors(options, fragment):
    with pytest.raises(ConfigError, match=fragment):
        corenn.create("layer", "pool2d", **options)


def test_shape_errors_name_the_layer_and_the_shapes():
    with pytest.raises(ShapeError, match=r"pool2d.*4-d NHWC.*\(4, 4\)"):
        Pool2D(2).forward(np.zeros((4, 4)))
    with pytest.raises(ShapeError, match=r"pool2d \(max, kernel 3x5.*larger than the padded input 4x4.*\(2, 4, 4, 1\)"):
        Pool2D((3, 5), stride=2).forward(np.zeros((2, 4, 4, 1)))
    layer = Pool2D(2, stride=2)
    with pytest.raises(CorennError, match="before any forward"):
        layer.backward(np.zeros((1, 2, 2, 1)))
    layer.forward(np.zeros((1, 4, 4, 1)))
    with pytest.raises(ShapeError, match=r"\(1, 2, 2, 1\).*\(1, 2, 2, 3\)"):
        layer.backward(np.zeros((1, 2, 2, 3)))


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize(
    "kernel, stride, pad, input_shape",
    [
        ((2, 2), (2, 2), "valid", (7, 6, 6, 3)),  # tiling the image: the gradient is written, not zeroed
        ((2, 2), (2, 2), "valid", (7, 7, 5, 3)),  # a row and a column no window covers
        ((1, 1), (2, 2), "valid", (7, 6, 6, 2)),  # gaps between the windows
        ((3, 3), (2, 2), (1, 1, 1, 1), (7, 7, 7, 2)),  # overlapping, padded
    ],
)
def test_blocks_of_samples_give_the_references_bits(mode, kernel, stride, pad, input_shape, monkeypatch):
    """numpy's pooling runs block of samples by block; with blocks of three samples (the last
    one shorter) it gives the references' values, ties broken the same way (exactly for max
    pooling; averages multiply by 1 / (kh * kw) where the reference divides)."""
    from corenn.nn.geometry import window_geometry

    from corenn_conv import fast
    from corenn_conv.pool2d import pool2d_backward, pool2d_forward

    rng = np.random.default_rng(11)
    X = rng.integers(-2, 3, input_shape).astype(np.float64)  # ties within windows
    geometry = window_geometry(input_shape, kernel, stride, pad, "test")
    windows_bytes = kernel[0] * kernel[1] * np.prod(geometry.output_size) * input_shape[3] * X.itemsize
    monkeypatch.setattr(fast, "POOL_BLOCK_BYTES", 3 * max(X[0].nbytes, windows_bytes))
    assert len(fast.pooling_blocks(X, geometry)) == 3
    Y, saved = fast.pool2d_forward_in_place(X, geometry, mode)
    Y_reference, saved_reference = pool2d_forward.reference(X, geometry, mode)
    tolerance = 0 if mode == "max" else 1e-15
    np.testing.assert_allclose(Y, Y_reference, rtol=tolerance, atol=tolerance)
    dY = rng.standard_normal(Y.shape)
    dX = fast.pool2d_backward_in_place(dY, saved)
    np.testing.assert_allclose(dX, pool2d_backward.reference(dY, saved_reference), rtol=tolerance, atol=tolerance)
