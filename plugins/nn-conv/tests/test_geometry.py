"""Window geometry: the course's "same" padding and output sizes, as properties."""

import hypothesis.strategies as st
import numpy as np
import pytest
from hypothesis import given, settings

from corenn.errors import ShapeError
from corenn.nn.geometry import window_geometry, zero_padded

from corenn_conv.conv2d import Conv2D
from corenn_conv.pool2d import Pool2D

sizes = st.integers(1, 12)
kernels = st.integers(1, 5)
strides = st.integers(1, 4)


@given(rows=sizes, cols=sizes, kh=kernels, kw=kernels, sh=strides, sw=strides)
def test_same_pads_half_the_kernel_less_one_on_each_side_at_every_stride(rows, cols, kh, kw, sh, sw):
    p_rows, p_cols = (kh - 1) // 2, (kw - 1) // 2
    if rows + 2 * p_rows < kh or cols + 2 * p_cols < kw:
        return  # refused: see the error tests
    geometry = window_geometry((1, rows, cols, 1), (kh, kw), (sh, sw), "same", "test")
    assert geometry.padding == (p_rows, p_rows, p_cols, p_cols)
    assert geometry.output_size == ((rows + 2 * p_rows - kh) // sh + 1, (cols + 2 * p_cols - kw) // sw + 1)
    if sh == sw == 1 and kh % 2 and kw % 2:
        assert geometry.output_size == (rows, cols)  # odd kernel, stride 1: the size is kept


@pytest.mark.parametrize(
    "input_hw, kernel, stride, padding, output_hw",
    [
        ((16, 16), (5, 5), 2, (2, 2, 2, 2), (8, 8)),  # the course's numbers
        ((16, 16), (3, 3), 3, (1, 1, 1, 1), (6, 6)),
        ((16, 16), (4, 2), 1, (1, 1, 0, 0), (15, 15)),
        ((16, 16), (3, 3), 1, (1, 1, 1, 1), (16, 16)),
        ((28, 28), (5, 5), 1, (2, 2, 2, 2), (28, 28)),
        ((32, 24), (3, 5), 2, (1, 1, 2, 2), (16, 12)),
    ],
)
def test_same_is_the_courses_padding(input_hw, kernel, stride, padding, output_hw):
    geometry = window_geometry((1, *input_hw, 1), kernel, (stride, stride), "same", "test")
    assert geometry.padding == padding
    assert geometry.output_size == output_hw


def test_same_on_an_input_smaller_than_the_kernel_is_refused():
    with pytest.raises(ShapeError, match="larger than the padded input"):
        window_geometry((1, 1, 1, 1), (4, 4), (1, 1), "same", "conv2d")  # 1 + 2 * 1 < 4


def test_zero_padded_surrounds_each_image_with_zeros_in_a_new_array():
    X = np.arange(1.0, 25.0).reshape(2, 3, 2, 2)
    Xp = zero_padded(X, (1, 2, 0, 3))
    assert Xp.shape == (2, 6, 5, 2) and Xp.dtype == X.dtype
    geometry = window_geometry(X.shape, (1, 1), (1, 1), (1, 2, 0, 3), "test")
    rows, cols = geometry.interior()
    np.testing.assert_array_equal(Xp[:, rows, cols, :], X)
    assert Xp.sum() == X.sum()  # the rest is zeros
    Xp[...] = 0
    assert X.min() == 1.0  # a new array, not a view of X


@given(rows=sizes, cols=sizes, kh=kernels, kw=kernels, sh=strides, sw=strides, pad=st.integers(0, 3))
def test_output_size_is_floor_of_padded_minus_kernel_over_stride_plus_one(rows, cols, kh, kw, sh, sw, pad):
    if rows + 2 * pad < kh or cols + 2 * pad < kw:
        return  # refused: see the error tests
    geometry = window_geometry((1, rows, cols, 1), (kh, kw), (sh, sw), (pad,) * 4, "test")
    assert geometry.output_size == ((rows + 2 * pad - kh) // sh + 1, (cols + 2 * pad - kw) // sw + 1)


@settings(max_examples=30, deadline=None)
@given(
    m=st.integers(1, 3),
    rows=sizes,
    cols=sizes,
    channels=st.integers(1, 3),
    kh=kernels,
    kw=kernels,
    sh=strides,
    sw=strides,
    pad=st.sampled_from(["same", "valid", 0, 1, 2]),
)
def test_layers_output_the_geometry_shape(m, rows, cols, channels, kh, kw, sh, sw, pad):
    X = np.zeros((m, rows, cols, channels))
    try:
        geometry = window_geometry(X.shape, (kh, kw), (sh, sw), (pad,) * 4 if isinstance(pad, int) else pad, "test")
    except ValueError as refusal:  # ShapeError: the layers must refuse it too
        for layer in (Conv2D(2, (kh, kw), stride=(sh, sw), pad=pad), Pool2D((kh, kw), stride=(sh, sw), pad=pad)):
            try:
                layer.forward(X)
            except ValueError:
                continue
            raise AssertionError(f"{layer!r} accepted {X.shape}") from refusal
        return
    conv = Conv2D(2, (kh, kw), stride=(sh, sw), pad=pad)
    conv.rng = np.random.default_rng(0)
    Y = conv.forward(X)
    assert Y.shape == (m, *geometry.output_size, 2)
    assert conv.backward(np.ones_like(Y)).shape == X.shape
    pool = Pool2D((kh, kw), stride=(sh, sw), pad=pad)
    Y = pool.forward(X)
    assert Y.shape == (m, *geometry.output_size, channels)
    assert pool.backward(np.ones_like(Y)).shape == X.shape
