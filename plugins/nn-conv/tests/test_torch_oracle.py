"""Agreement with PyTorch, an independent implementation, used here as a test-only oracle.

Forward outputs and dL/dX, dL/dW, dL/db are compared in float64 for the course's own test
configurations and for random ones drawn by hypothesis. corenn is NHWC with W (kh, kw, C, n_out);
torch is NCHW with weight (n_out, C, kh, kw), so arrays are permuted on the way in and out.
Padding is given to torch explicitly with ``F.pad`` (zeros), which pins down corenn's
uneven four-int padding; "same" is also checked against torch's own
``padding=((kh - 1) // 2, (kw - 1) // 2)``; average pooling with an int pad is also checked against torch's own
``padding=`` with ``count_include_pad=True``.

Torch is installed by the ``conv`` nox session.
"""

import hypothesis.strategies as st
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings

from corenn_conv.conv2d import Conv2D
from corenn_conv.pool2d import Pool2D

RTOL = ATOL = 1e-10


def to_torch(X):
    """NHWC numpy -> NCHW torch tensor that records gradients."""
    return torch.tensor(np.ascontiguousarray(X.transpose(0, 3, 1, 2)), dtype=torch.float64, requires_grad=True)


def to_numpy(tensor):
    """NCHW torch -> NHWC numpy."""
    return tensor.detach().numpy().transpose(0, 2, 3, 1)


def padded_for_torch(X_torch, padding):
    top, bottom, left, right = padding
    return F.pad(X_torch, (left, right, top, bottom))  # F.pad lists the last axis first


def check_conv_against_torch(n_out, kernel, stride, pad, input_shape, activation="linear", seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal(input_shape)
    layer = Conv2D(n_out, kernel, activation=activation, stride=stride, pad=pad)
    layer.rng = rng
    Y = layer.forward(X)
    layer.parameters["b"][...] = rng.standard_normal(layer.parameters["b"].shape)  # non-zero bias
    Y = layer.forward(X)
    G = rng.standard_normal(Y.shape)
    dX = layer.backward(G)
    padding = layer.cache["geometry"].padding

    X_t = to_torch(X)
    W_t = torch.tensor(layer.parameters["W"].transpose(3, 2, 0, 1).copy(), requires_grad=True)
    b_t = torch.tensor(layer.parameters["b"][0].copy(), requires_grad=True)
    Y_t = F.conv2d(padded_for_torch(X_t, padding), W_t, b_t, stride=layer.stride)
    if activation == "relu":
        Y_t = torch.relu(Y_t)
    (Y_t * torch.tensor(G.transpose(0, 3, 1, 2))).sum().backward()

    np.testing.assert_allclose(Y, to_numpy(Y_t), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(dX, to_numpy(X_t.grad), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(layer.gradients["W"], W_t.grad.numpy().transpose(2, 3, 1, 0), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(layer.gradients["b"][0], b_t.grad.numpy(), rtol=RTOL, atol=ATOL)


def check_pool_against_torch(kernel, stride, mode, pad, input_shape, X=None, seed=0, native_padding=False):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal(input_shape) if X is None else X
    layer = Pool2D(kernel, mode=mode, stride=stride, pad=pad)
    Y = layer.forward(X)
    G = rng.standard_normal(Y.shape)
    dX = layer.backward(G)
    padding = layer.cache["geometry"].padding

    X_t = to_torch(X)
    if mode == "max":
        Y_t = F.max_pool2d(padded_for_torch(X_t, padding), layer.kernel_shape, layer.stride)
    elif native_padding:
        Y_t = F.avg_pool2d(X_t, layer.kernel_shape, layer.stride, padding=pad, count_include_pad=True)
    else:
        Y_t = F.avg_pool2d(padded_for_torch(X_t, padding), layer.kernel_shape, layer.stride)
    (Y_t * torch.tensor(G.transpose(0, 3, 1, 2))).sum().backward()

    np.testing.assert_allclose(Y, to_numpy(Y_t), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(dX, to_numpy(X_t.grad), rtol=RTOL, atol=ATOL)


# The course's configurations: conv (n_out, kernel, stride) with pad "same" on batches of 16
# inputs of 16x16x3 and 32x24x21; pool (kernel, stride, mode, pad) on batches of 24 inputs of
# 12x12x8 and 44x48x4.
COURSE_CONVS = [(32, (3, 3), 1), (32, (3, 5), 1), (7, (5, 5), 1), (7, (5, 5), 2), (18, (3, 3), 3)]
COURSE_CONV_INPUTS = [(16, 16, 16, 3), (16, 32, 24, 21)]
COURSE_POOLS = [
    ((3, 3), 2, "max", 0),
    ((2, 2), 2, "max", 0),
    ((2, 2), 1, "average", 0),
    ((3, 5), 4, "max", "valid"),
    ((5, 5), 1, "average", 2),
]
COURSE_POOL_INPUTS = [(24, 12, 12, 8), (24, 44, 48, 4)]


@pytest.mark.parametrize("input_shape", COURSE_CONV_INPUTS)
@pytest.mark.parametrize("n_out, kernel, stride", COURSE_CONVS)
def test_course_conv_configurations(n_out, kernel, stride, input_shape):
    check_conv_against_torch(n_out, kernel, stride, "same", input_shape)


@pytest.mark.parametrize("input_shape", COURSE_POOL_INPUTS)
@pytest.mark.parametrize("kernel, stride, mode, pad", COURSE_POOLS)
def test_course_pool_configurations(kernel, stride, mode, pad, input_shape):
    check_pool_against_torch(kernel, stride, mode, pad, input_shape)


def test_average_pool_padding_is_torchs_count_include_pad():
    check_pool_against_torch((5, 5), 1, "average", 2, (4, 12, 12, 3), native_padding=True)
    check_pool_against_torch((3, 3), 2, "average", 1, (4, 9, 10, 2), native_padding=True)


def test_lenet_layers():
    check_conv_against_torch(6, (5, 5), 1, "same", (8, 28, 28, 1), activation="relu")
    check_pool_against_torch((2, 2), 2, "max", 0, (8, 28, 28, 6))
    check_conv_against_torch(16, (5, 5), 1, "valid", (8, 14, 14, 6), activation="relu")


@pytest.mark.parametrize("stride", [1, 2])
def test_max_pool_ties_go_where_torch_sends_them(stride):
    X = np.random.default_rng(1).integers(0, 3, size=(4, 7, 7, 3)).astype(np.float64)  # many ties
    check_pool_against_torch((3, 3), stride, "max", 0, X.shape, X=X)


# "same" against torch's own padding argument, padding=((kh - 1) // 2, (kw - 1) // 2): strides 1,
# 2 and 3 with odd, even and non-square kernels, with the output shapes the course gives.
SAME_CASES = [
    ((2, 16, 16, 3), (5, 5), 2, (8, 8)),
    ((2, 16, 16, 3), (3, 3), 3, (6, 6)),
    ((2, 16, 16, 3), (4, 2), 1, (15, 15)),
    ((2, 16, 16, 3), (3, 3), 1, (16, 16)),
    ((2, 9, 8, 2), (4, 4), 2, (4, 4)),
    ((2, 7, 6, 2), (2, 4), 1, (6, 5)),
    ((2, 11, 10, 2), (3, 5), 3, (4, 4)),
    ((2, 12, 13, 2), (2, 3), 2, (6, 7)),
]


@pytest.mark.parametrize("input_shape, kernel, stride, output_hw", SAME_CASES)
def test_same_is_torchs_half_kernel_padding(input_shape, kernel, stride, output_hw):
    rng = np.random.default_rng(5)
    X = rng.standard_normal(input_shape)
    layer = Conv2D(4, kernel, stride=stride, pad="same")
    layer.rng = rng
    layer.forward(X)
    layer.parameters["b"][...] = rng.standard_normal(layer.parameters["b"].shape)
    Y = layer.forward(X)
    assert Y.shape == (input_shape[0], *output_hw, 4)
    G = rng.standard_normal(Y.shape)
    dX = layer.backward(G)

    X_t = to_torch(X)
    W_t = torch.tensor(layer.parameters["W"].transpose(3, 2, 0, 1).copy(), requires_grad=True)
    b_t = torch.tensor(layer.parameters["b"][0].copy(), requires_grad=True)
    padding = ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2)
    Y_t = F.conv2d(X_t, W_t, b_t, stride=stride, padding=padding)
    (Y_t * torch.tensor(G.transpose(0, 3, 1, 2))).sum().backward()
    np.testing.assert_allclose(Y, to_numpy(Y_t), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(dX, to_numpy(X_t.grad), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(layer.gradients["W"], W_t.grad.numpy().transpose(2, 3, 1, 0), rtol=RTOL, atol=ATOL)

    pool = Pool2D(kernel, mode="average", stride=stride, pad="same")
    Y = pool.forward(X)
    assert Y.shape == (input_shape[0], *output_hw, input_shape[3])
    X_t = to_torch(X)
    Y_t = F.avg_pool2d(X_t, kernel, stride, padding=padding, count_include_pad=True)
    Y_t.sum().backward()
    np.testing.assert_allclose(Y, to_numpy(Y_t), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(pool.backward(np.ones_like(Y)), to_numpy(X_t.grad), rtol=RTOL, atol=ATOL)


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 3),
    rows=st.integers(1, 10),
    cols=st.integers(1, 10),
    channels=st.integers(1, 4),
    n_out=st.integers(1, 4),
    kh=st.integers(1, 5),
    kw=st.integers(1, 5),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    pad=st.one_of(st.sampled_from(["same", "valid"]), st.integers(0, 3), st.tuples(*[st.integers(0, 2)] * 4)),
    seed=st.integers(0, 2**16),
)
def test_random_convolutions(m, rows, cols, channels, n_out, kh, kw, sh, sw, pad, seed):
    padded = _padded_size(rows, cols, (kh, kw), (sh, sw), pad)
    if padded[0] < kh or padded[1] < kw:
        return  # refused with a ShapeError (tested elsewhere)
    check_conv_against_torch(n_out, (kh, kw), (sh, sw), pad, (m, rows, cols, channels), seed=seed)


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(1, 3),
    rows=st.integers(1, 10),
    cols=st.integers(1, 10),
    channels=st.integers(1, 3),
    kh=st.integers(1, 4),
    kw=st.integers(1, 4),
    sh=st.integers(1, 3),
    sw=st.integers(1, 3),
    mode=st.sampled_from(["max", "average"]),
    pad=st.one_of(st.sampled_from(["same", "valid"]), st.integers(0, 2)),
    seed=st.integers(0, 2**16),
)
def test_random_poolings(m, rows, cols, channels, kh, kw, sh, sw, mode, pad, seed):
    padded = _padded_size(rows, cols, (kh, kw), (sh, sw), pad)
    if padded[0] < kh or padded[1] < kw:
        return
    check_pool_against_torch((kh, kw), (sh, sw), mode, pad, (m, rows, cols, channels), seed=seed)


def _padded_size(rows, cols, kernel, stride, pad):
    from corenn.nn.geometry import checked_pad, same_padding

    pad = checked_pad(pad, "test")
    if pad == "same":
        pad = same_padding(kernel)
    top, bottom, left, right = (0, 0, 0, 0) if pad == "valid" else pad
    return rows + top + bottom, cols + left + right
