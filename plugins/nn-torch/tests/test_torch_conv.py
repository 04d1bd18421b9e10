"""conv2d and pool2d on torch: agreement with numpy over many geometries, gradient checks,
conformance, dtype, errors."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import corenn
from corenn.errors import CorennError, ShapeError
from corenn.testing import DEFAULT_TOLERANCE, check_layer_conformance, check_layer_gradients, relative_error

from corenn_torch.testing import NumpyFacingLayer
from torch_agreement import compare_layer, layer_pair

SIZES = st.integers(1, 3)
PADS = st.one_of(
    st.sampled_from(["same", "valid"]),
    st.integers(0, 2),
    st.tuples(st.integers(0, 2), st.integers(0, 2)),
    st.tuples(st.integers(0, 2), st.integers(0, 2), st.integers(0, 2), st.integers(0, 2)),
)


def pair_or_int(values):
    return st.one_of(values, st.tuples(values, values))


@st.composite
def geometries(draw):
    """An NHWC input shape, kernel, stride and pad: often valid, sometimes too small a input."""
    shape = (draw(SIZES), draw(st.integers(1, 7)), draw(st.integers(1, 7)), draw(SIZES))
    return shape, draw(pair_or_int(st.integers(1, 4))), draw(pair_or_int(st.integers(1, 3))), draw(PADS)


def both_raise_the_same_shape_error(numpy_layer, torch_layer, X):
    with pytest.raises(ShapeError) as numpy_error:
        numpy_layer.forward(X)
    with pytest.raises(ShapeError) as torch_error:
        torch_layer.forward(torch.from_numpy(X))
    assert str(torch_error.value) == str(numpy_error.value)


def kernel_fits(shape, kernel, pad):
    """Whether ``kernel`` fits the padded input (else both backends must refuse it)."""
    kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
    if pad == "same":
        pad = ((kernel[0] - 1) // 2, (kernel[1] - 1) // 2)
    if pad == "valid":
        pad = (0, 0, 0, 0)
    elif isinstance(pad, int):
        pad = (pad,) * 4
    elif len(pad) == 2:
        pad = (pad[0], pad[0], pad[1], pad[1])
    return shape[1] + pad[0] + pad[1] >= kernel[0] and shape[2] + pad[2] + pad[3] >= kernel[1]


@settings(max_examples=60, deadline=None)
@given(
    geometry=geometries(),
    n_out=SIZES,
    activation=st.sampled_from(["linear", "relu", "tanh"]),
    seed=st.integers(0, 2**16),
)
def test_conv2d_agrees_with_numpy_on_any_geometry(geometry, n_out, activation, seed):
    shape, kernel, stride, pad = geometry
    numpy_layer, torch_layer = layer_pair(
        "conv2d", seed=seed, n_out=n_out, kernel_shape=kernel, stride=stride, pad=pad, activation=activation
    )
    X = np.random.default_rng(seed).standard_normal(shape)
    if not kernel_fits(shape, kernel, pad):
        both_raise_the_same_shape_error(numpy_layer, torch_layer, X)
        return
    compare_layer("layer conv2d", numpy_layer, torch_layer, X, seed=seed)


@settings(max_examples=80, deadline=None)
@given(geometry=geometries(), mode=st.sampled_from(["max", "average"]), ties=st.booleans(), seed=st.integers(0, 2**16))
def test_pool2d_agrees_with_numpy_on_any_geometry(geometry, mode, ties, seed):
    shape, kernel, stride, pad = geometry
    numpy_layer, torch_layer = layer_pair("pool2d", kernel_shape=kernel, mode=mode, stride=stride, pad=pad)
    rng = np.random.default_rng(seed)
    # small integers tie within windows (and with the zero padding): the first maximum must win on both
    X = rng.integers(-2, 3, shape).astype(np.float64) if ties else rng.standard_normal(shape)
    if not kernel_fits(shape, kernel, pad):
        both_raise_the_same_shape_error(numpy_layer, torch_layer, X)
        return
    compare_layer(f"layer pool2d ({mode})", numpy_layer, torch_layer, X, seed=seed)


@pytest.mark.parametrize(
    "shape, options",
    [
        ((8, 32, 32, 3), {"n_out": 16, "kernel_shape": 5, "activation": "relu"}),
        (
            (4, 16, 16, 16),
            {"n_out": 8, "kernel_shape": 3, "stride": 2, "activation": "relu", "weight_init": "he_normal"},
        ),
        ((4, 28, 28, 1), {"n_out": 6, "kernel_shape": (5, 5), "pad": "valid", "activation": "tanh"}),
        ((2, 9, 11, 4), {"n_out": 5, "kernel_shape": (2, 4), "stride": (2, 3), "pad": "same", "activation": "sigmoid"}),
        ((2, 6, 6, 2), {"n_out": 3, "kernel_shape": 3, "pad": (0, 2, 1, 0), "activation": "arctan"}),
    ],
)
def test_conv2d_agrees_with_numpy_on_network_sized_inputs(shape, options):
    numpy_layer, torch_layer = layer_pair("conv2d", seed=5, **options)
    compare_layer("layer conv2d", numpy_layer, torch_layer, np.random.default_rng(6).standard_normal(shape))


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize(
    "shape, options",
    [
        ((8, 32, 32, 16), {"kernel_shape": 2, "stride": 2}),
        ((4, 15, 15, 3), {"kernel_shape": 3, "stride": 2, "pad": 1}),
        ((2, 7, 7, 4), {"kernel_shape": 3, "stride": 1, "pad": "same"}),
    ],
)
def test_pool2d_agrees_with_numpy_after_a_relu(shape, options, mode):
    numpy_layer, torch_layer = layer_pair("pool2d", mode=mode, **options)
    X = np.maximum(np.random.default_rng(7).standard_normal(shape), 0)  # half zeros: ties everywhere
    compare_layer(f"layer pool2d ({mode})", numpy_layer, torch_layer, X)


@pytest.mark.parametrize(
    "name, options",
    [
        ("conv2d", {"n_out": 3, "kernel_shape": 3, "activation": "tanh"}),
        ("conv2d", {"n_out": 2, "kernel_shape": (2, 3), "stride": 2, "pad": "same", "activation": "sigmoid"}),
        ("conv2d", {"n_out": 2, "kernel_shape": 3, "pad": (1, 0, 2, 1)}),
        ("pool2d", {"kernel_shape": 2, "mode": "max", "stride": 2}),
        ("pool2d", {"kernel_shape": 3, "mode": "max", "stride": 1, "pad": 1}),
        ("pool2d", {"kernel_shape": 3, "mode": "average", "stride": 2, "pad": "same"}),
    ],
)
def test_passes_the_finite_difference_check(name, options):
    layer = corenn.create("layer", name, "torch", **options)
    layer.rng = np.random.default_rng(0)
    errors = check_layer_gradients(NumpyFacingLayer(layer), np.random.default_rng(1).standard_normal((2, 6, 7, 3)))
    assert max(errors.values()) <= DEFAULT_TOLERANCE, errors


@pytest.mark.parametrize(
    "name, options",
    [("conv2d", {"n_out": 4, "kernel_shape": 3, "activation": "relu"}), ("pool2d", {"kernel_shape": 2, "stride": 2})],
)
def test_conformance(name, options):
    check_layer_conformance(lambda: NumpyFacingLayer(corenn.create("layer", name, "torch", **options)), (2, 6, 6, 3))


@pytest.mark.parametrize(
    "name, options", [("conv2d", {"n_out": 4, "kernel_shape": 3}), ("pool2d", {"kernel_shape": 2, "mode": "average"})]
)
def test_float32_stays_float32_and_stays_close_to_numpy(name, options):
    numpy_layer, torch_layer = layer_pair(name, **options)
    X = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype(np.float32)
    Y_torch = torch_layer.forward(torch.from_numpy(X))
    Y_numpy = numpy_layer.forward(X)
    assert Y_torch.dtype == torch.float32 and Y_numpy.dtype == np.float32
    assert all(p.dtype == torch.float32 for p in torch_layer.parameters.values())
    dX = torch_layer.backward(torch.ones_like(Y_torch))
    assert dX.dtype == torch.float32
    assert relative_error(Y_torch.numpy(), Y_numpy) < 1e-5
    assert relative_error(dX.numpy(), numpy_layer.backward(np.ones_like(Y_numpy))) < 1e-5


def test_conv2d_loaded_parameters_decide_n_in_and_a_channel_mismatch_is_the_numpy_error():
    numpy_layer, torch_layer = layer_pair("conv2d", n_out=2, kernel_shape=3)
    W = np.random.default_rng(0).standard_normal((3, 3, 4, 2))
    numpy_layer.parameters.update(W=W, b=np.zeros((1, 2)))
    torch_layer.parameters.update(W=torch.from_numpy(W.copy()), b=torch.zeros(1, 2, dtype=torch.float64))
    both_raise_the_same_shape_error(numpy_layer, torch_layer, np.ones((1, 5, 5, 3)))
    compare_layer("layer conv2d", numpy_layer, torch_layer, np.random.default_rng(1).standard_normal((2, 5, 5, 4)))


@pytest.mark.parametrize(
    "name, options", [("conv2d", {"n_out": 2, "kernel_shape": 3}), ("pool2d", {"kernel_shape": 2})]
)
@pytest.mark.parametrize("shape", [(5, 5, 3), (1, 0, 4, 3), (2, 1, 1, 1, 1)])
def test_bad_inputs_give_the_numpy_layers_shape_error(name, options, shape):
    numpy_layer, torch_layer = layer_pair(name, pad="valid", **options)
    both_raise_the_same_shape_error(numpy_layer, torch_layer, np.ones(shape))


@pytest.mark.parametrize(
    "name, options", [("conv2d", {"n_out": 2, "kernel_shape": 3}), ("pool2d", {"kernel_shape": 2})]
)
def test_backward_errors_match_the_numpy_layers(name, options):
    numpy_layer, torch_layer = layer_pair(name, **options)
    messages = []
    for layer, convert in ((numpy_layer, np.asarray), (torch_layer, torch.as_tensor)):
        with pytest.raises(CorennError) as before:
            layer.backward(convert(np.ones((1, 4, 4, 2))))
        layer.forward(convert(np.ones((1, 4, 4, 3))))
        with pytest.raises(ShapeError) as wrong:
            layer.backward(convert(np.ones((1, 4, 4, 1))))
        messages.append((str(before.value), str(wrong.value)))
    assert messages[0] == messages[1]


def test_conv2d_forward_needs_no_autograd():
    layer = corenn.create("layer", "conv2d", "torch", n_out=2, kernel_shape=3, activation="relu")
    with torch.no_grad():
        Y = layer.forward(torch.randn(2, 5, 5, 3, dtype=torch.float64))
        dX = layer.backward(torch.ones_like(Y))
    assert dX.shape == (2, 5, 5, 3) and layer.gradients["W"].shape == (3, 3, 3, 2)
    assert not Y.requires_grad and not layer.gradients["W"].requires_grad


def test_conv2d_skips_the_input_gradient_of_a_first_layer_and_gives_the_same_parameter_gradients():
    X = torch.from_numpy(np.random.default_rng(5).standard_normal((2, 6, 6, 2)))
    full = corenn.create("layer", "conv2d", "torch", n_out=3, kernel_shape=3, pad=(1, 0, 2, 1))
    first = corenn.create("layer", "conv2d", "torch", n_out=3, kernel_shape=3, pad=(1, 0, 2, 1))
    full.rng, first.rng = np.random.default_rng(0), np.random.default_rng(0)
    first.needs_input_gradient = False
    G = torch.from_numpy(np.random.default_rng(6).standard_normal(tuple(full.forward(X).shape)))
    first.forward(X)
    assert full.backward(G).shape == X.shape
    assert first.backward(G) is None
    for key in ("W", "b"):
        torch.testing.assert_close(first.gradients[key], full.gradients[key], rtol=0, atol=0)


@pytest.mark.parametrize(
    "input_shape, kernel, stride, output_hw",
    [
        ((2, 16, 16, 3), (5, 5), 2, (8, 8)),
        ((2, 16, 16, 3), (3, 3), 3, (6, 6)),
        ((2, 16, 16, 3), (4, 2), 1, (15, 15)),
        ((2, 9, 8, 2), (4, 4), 2, (4, 4)),
        ((2, 11, 10, 2), (3, 5), 3, (4, 4)),
    ],
)
def test_same_is_the_courses_padding_on_torch_too(input_shape, kernel, stride, output_hw):
    """The torch backend's "same" is torch's own padding=((kh - 1) // 2, (kw - 1) // 2)."""
    X = torch.from_numpy(np.random.default_rng(2).standard_normal(input_shape))
    layer = corenn.create("layer", "conv2d", "torch", n_out=3, kernel_shape=kernel, stride=stride, pad="same")
    layer.rng = np.random.default_rng(0)
    Y = layer.forward(X)
    assert tuple(Y.shape) == (input_shape[0], *output_hw, 3)
    W, b = layer.parameters["W"], layer.parameters["b"]
    expected = torch.nn.functional.conv2d(
        X.permute(0, 3, 1, 2),
        W.permute(3, 2, 0, 1),
        b.reshape(-1),
        stride=stride,
        padding=((kernel[0] - 1) // 2, (kernel[1] - 1) // 2),
    ).permute(0, 2, 3, 1)
    assert torch.allclose(Y, expected, rtol=1e-12, atol=1e-12)
    pool = corenn.create("layer", "pool2d", "torch", kernel_shape=kernel, mode="average", stride=stride, pad="same")
    assert tuple(pool.forward(X).shape) == (input_shape[0], *output_hw, input_shape[3])
