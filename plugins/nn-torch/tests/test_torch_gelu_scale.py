"""airbench's small pieces on torch: gelu, the scale layer and batch_norm without a scale.

Each agrees with the numpy backend (float64, same weights and inputs) and with torch's own
kernels where torch has one (``gelu(approximate="tanh")``, ``batch_norm`` without a weight),
passes the finite-difference check, gives the numpy backend's errors, and a model holding them
moves its parameter file between the backends. Where torch sees a GPU, the GPU agrees with the
CPU. (gelu is also in test_torch_activations.py's list: agreement, dtype, conformance.)
"""

import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import corenn
from corenn.errors import ConfigError, CorennError, ShapeError
from corenn.nn.model import Sequential
from corenn.testing import DEFAULT_TOLERANCE, check_layer_conformance, check_layer_gradients

from corenn_torch.testing import NumpyFacingLayer
from torch_agreement import assert_agree, compare_layer, layer_pair

SHAPES = [(6, 4), (3, 5, 4, 2), (2, 3, 3, 1), (8, 1)]
SCALE_SHAPES = [(4, 5), (7,), (2, 3, 3, 4)]


# --- gelu -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(4, 5), (3, 4, 4, 2)])
def test_gelu_matches_torchs_tanh_approximation_and_its_autograd(shape):
    Z = np.random.default_rng(0).standard_normal(shape) * 4
    Z.reshape(-1)[:5] = [800.0, -800.0, 0.0, 1e-12, -1e30]
    G = torch.from_numpy(np.random.default_rng(1).standard_normal(shape))
    gelu = corenn.create("activation", "gelu", "torch")
    Z_ref = torch.from_numpy(Z).requires_grad_(True)
    Y_ref = F.gelu(Z_ref, approximate="tanh")
    Y_ref.backward(G)
    label = "activation gelu (vs torch)"
    assert_agree(label, "forward", gelu.forward(torch.from_numpy(Z)), Y_ref.detach())
    assert_agree(label, "backward", gelu.backward(torch.from_numpy(Z), G), Z_ref.grad)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gelu_of_huge_finite_inputs_is_the_input_or_zero_and_its_slope_one_or_zero(dtype):
    big = torch.finfo(dtype).max
    Z = torch.tensor([-big, -1e30, -50.0, 50.0, 1e30, big], dtype=dtype)
    gelu = corenn.create("activation", "gelu", "torch")
    Y, dZ = gelu.forward(Z), gelu.backward(Z, torch.ones_like(Z))
    torch.testing.assert_close(Y, torch.where(Z > 0, Z, 0.0), rtol=0, atol=0)
    torch.testing.assert_close(dZ, (Z > 0).to(dtype), rtol=0, atol=0)


# --- scale ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SCALE_SHAPES)
@pytest.mark.parametrize("activation", ["linear", "softmax", "gelu"])
@pytest.mark.parametrize("factor", [1 / 9, -3.0])
def test_scale_agrees_with_numpy(shape, activation, factor):
    numpy_layer, torch_layer = layer_pair("scale", factor=factor, activation=activation)
    # factor * X of order 1: a saturated softmax has gradients made of rounding errors alone
    X = np.random.default_rng(2).standard_normal(shape) * 2 / abs(factor)
    compare_layer(f"layer scale ({activation})", numpy_layer, torch_layer, X)


@pytest.mark.parametrize("shape", SCALE_SHAPES)
@pytest.mark.parametrize("activation", ["linear", "softmax"])
def test_scale_passes_the_finite_difference_check(shape, activation):
    X = np.random.default_rng(3).standard_normal(shape) * 9  # factor * X of order 1
    layer = NumpyFacingLayer(corenn.create("layer", "scale", "torch", factor=1 / 9, activation=activation))
    errors = check_layer_gradients(layer, X)
    assert set(errors) == {"X"} and errors["X"] <= DEFAULT_TOLERANCE, errors


@pytest.mark.parametrize("input_shape", [(4, 5), (2, 3, 3, 2), (6,)])
def test_scale_conformance(input_shape):
    check_layer_conformance(
        lambda: NumpyFacingLayer(corenn.create("layer", "scale", "torch", factor=0.5, activation="gelu")), input_shape
    )


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_scale_keeps_dtype_and_device(dtype):
    layer = corenn.create("layer", "scale", "torch", factor=1 / 9)
    Y = layer.forward(torch.ones(2, 3, dtype=dtype))
    assert Y.dtype == dtype and layer.backward(torch.ones(2, 3, dtype=dtype)).dtype == dtype
    Y = layer.forward(torch.ones(2, 3, dtype=dtype, device="meta"))
    assert (
        Y.device.type == "meta" and layer.backward(torch.ones(2, 3, dtype=dtype, device="meta")).device.type == "meta"
    )
    with pytest.raises(CorennError, match="scale backward: the input is on cpu but the layer works on meta"):
        layer.backward(torch.ones(2, 3, dtype=dtype))


@pytest.mark.parametrize(
    "options",
    [{"factor": 0}, {"factor": float("inf")}, {"factor": float("nan")}, {"factor": True}, {"factor": "1/9"}, {}],
)
def test_scale_option_errors_are_the_numpy_backends(options):
    with pytest.raises(ConfigError) as numpy_error:
        corenn.create("layer", "scale", "numpy", **options)
    with pytest.raises(ConfigError) as torch_error:
        corenn.create("layer", "scale", "torch", **options)
    assert str(torch_error.value) == str(numpy_error.value)
    assert "a finite number other than 0" in str(torch_error.value)


def test_scale_shape_errors_are_the_numpy_backends():
    messages = []
    for backend, convert in (("numpy", np.asarray), ("torch", torch.as_tensor)):
        layer = corenn.create("layer", "scale", backend, factor=2.0)
        with pytest.raises(CorennError) as early:
            layer.backward(convert(np.ones((2, 3))))
        with pytest.raises(ShapeError) as scalar:
            layer.forward(convert(np.float64(1.0)))
        layer.forward(convert(np.ones((2, 3))))
        with pytest.raises(ShapeError) as gradient:
            layer.backward(convert(np.ones((3, 2))))
        messages.append((str(early.value), str(scalar.value), str(gradient.value)))
    assert messages[0] == messages[1]


# --- batch_norm without a scale ---------------------------------------------------------------


def scramble_shift_and_statistics(numpy_layer, torch_layer, seed=1):
    """The same random beta and running statistics in both layers (they have no gamma)."""
    rng = np.random.default_rng(seed)
    shape = numpy_layer.parameters["b"].shape
    values = {
        "b": rng.standard_normal(shape),
        "running_mean": rng.standard_normal(shape),
        "running_var": rng.uniform(0.5, 2.0, shape),
    }
    for key, value in values.items():
        table = "parameters" if key == "b" else "buffers"
        getattr(numpy_layer, table)[key][...] = value
        getattr(torch_layer, table)[key].copy_(torch.from_numpy(value))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("activation", ["linear", "gelu", "relu"])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_without_scale_agrees_with_numpy(shape, activation, training):
    label = "layer batch_norm (scale=false)"
    numpy_layer, torch_layer = layer_pair("batch_norm", activation=activation, momentum=0.3, epsilon=1e-12, scale=False)
    X = np.random.default_rng(10).standard_normal(shape) * 2 + 0.5
    compare_layer(label, numpy_layer, torch_layer, X)
    assert list(torch_layer.parameters) == ["b"]
    scramble_shift_and_statistics(numpy_layer, torch_layer)
    numpy_layer.training = torch_layer.training = training
    for batch in range(3):
        X = np.random.default_rng(20 + batch).standard_normal(shape) * 3 - 1
        assert_agree(label, "output", torch_layer.forward(torch.from_numpy(X)), numpy_layer.forward(X))
        G = np.random.default_rng(batch).standard_normal(X.shape)
        assert_agree(label, "dL/dX", torch_layer.backward(torch.from_numpy(G)), numpy_layer.backward(G))
        assert list(torch_layer.gradients) == ["b"]
        assert_agree(label, "dL/db", torch_layer.gradients["b"], numpy_layer.gradients["b"])
        for key in ("running_mean", "running_var"):
            assert_agree(label, key, torch_layer.buffers[key], numpy_layer.buffers[key])


@pytest.mark.parametrize("shape", [(6, 4), (3, 5, 4, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_without_scale_matches_torchs_batch_norm_without_weight(shape, training):
    rng = np.random.default_rng(3)
    X = torch.from_numpy(rng.standard_normal(shape) * 2 + 1)
    G = torch.from_numpy(rng.standard_normal(shape))
    layer = corenn.create("layer", "batch_norm", "torch", momentum=0.2, epsilon=1e-12, scale=False)
    layer.forward(X)
    beta = torch.from_numpy(rng.standard_normal(shape[-1]))
    running_mean = torch.from_numpy(rng.standard_normal(shape[-1]))
    running_var = torch.from_numpy(rng.uniform(0.5, 2, shape[-1]))
    layer.parameters["b"][0] = beta
    layer.buffers["running_mean"][0], layer.buffers["running_var"][0] = running_mean, running_var
    layer.training = training

    Y = layer.forward(X)
    dX = layer.backward(G)

    channels_first = (0, X.ndim - 1, *range(1, X.ndim - 1))  # NHWC -> NCHW, (m, n) unchanged
    X_ref = X.permute(channels_first).clone().requires_grad_(True)
    beta_ref = beta.clone().requires_grad_(True)
    Y_ref = F.batch_norm(X_ref, running_mean, running_var, None, beta_ref, training=training, momentum=0.2, eps=1e-12)
    Y_ref.backward(G.permute(channels_first))
    back = (0, *range(2, X.ndim), 1)
    label = "layer batch_norm (scale=false, vs torch)"
    assert_agree(label, "output", Y, Y_ref.detach().permute(back))
    assert_agree(label, "dL/dX", dX, X_ref.grad.permute(back))
    assert_agree(label, "dL/db", layer.gradients["b"][0], beta_ref.grad)
    assert_agree(label, "running_mean", layer.buffers["running_mean"][0], running_mean)
    assert_agree(label, "running_var", layer.buffers["running_var"][0], running_var)


@pytest.mark.parametrize("shape", SHAPES[:3])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_without_scale_passes_the_finite_difference_check(shape, training):
    X = np.random.default_rng(10).standard_normal(shape) * 3 + 1
    numpy_layer, layer = layer_pair("batch_norm", activation="gelu", scale=False)
    numpy_layer.forward(X)
    layer.forward(torch.from_numpy(X))
    scramble_shift_and_statistics(numpy_layer, layer)
    layer.training = training
    errors = check_layer_gradients(NumpyFacingLayer(layer), X)
    assert set(errors) == {"X", "b"}
    assert max(errors.values()) <= DEFAULT_TOLERANCE, errors


@pytest.mark.parametrize("input_shape", [(4, 5), (2, 3, 3, 2)])
def test_batch_norm_without_scale_conformance(input_shape):
    check_layer_conformance(
        lambda: NumpyFacingLayer(corenn.create("layer", "batch_norm", "torch", scale=False)), input_shape
    )


def test_batch_norm_without_scale_keeps_float32():
    layer = corenn.create("layer", "batch_norm", "torch", scale=False)
    Y = layer.forward(torch.randn(4, 3, 3, 2, dtype=torch.float32))
    assert Y.dtype == torch.float32 and layer.parameters["b"].dtype == torch.float32
    assert layer.backward(torch.ones_like(Y)).dtype == torch.float32
    assert layer.gradients["b"].dtype == torch.float32


def test_an_epsilon_of_1e_minus_12_is_allowed_and_used_on_torch():
    X = torch.tensor([[0.0], [2e-6]], dtype=torch.float64)  # variance 1e-12: epsilon 1e-12 halves 1 / var
    layer = corenn.create("layer", "batch_norm", "torch", epsilon=1e-12, momentum=0.5, scale=False)
    assert layer.epsilon == 1e-12 and layer.momentum == 0.5
    torch.testing.assert_close(
        layer.forward(X), torch.tensor([[-(0.5**0.5)], [0.5**0.5]], dtype=torch.float64), rtol=1e-9, atol=0
    )


@pytest.mark.parametrize(
    "options", [{"scale": "no"}, {"scale": 1}, {"scale": None}, {"epsilon": -1e-12}, {"momentum": -0.1}]
)
def test_batch_norm_option_errors_are_the_numpy_backends(options):
    with pytest.raises(ConfigError) as numpy_error:
        corenn.create("layer", "batch_norm", "numpy", **options)
    with pytest.raises(ConfigError) as torch_error:
        corenn.create("layer", "batch_norm", "torch", **options)
    assert str(torch_error.value) == str(numpy_error.value)


# --- a model holding them, and its parameter file --------------------------------------------

MODEL_LAYERS = [
    ("fully_connected", {"n_out": 6, "weight_init": "he_normal"}),
    ("batch_norm", {"scale": False, "activation": "gelu", "epsilon": 1e-12, "momentum": 0.4}),
    ("fully_connected", {"n_out": "auto"}),
    ("scale", {"factor": 1 / 9, "activation": "softmax"}),
]
N_FEATURES, N_CLASSES = 5, 3


def build(backend, seed=0):
    configs = [types.SimpleNamespace(name=name, options=options) for name, options in MODEL_LAYERS]
    return Sequential.from_config(configs, n_classes=N_CLASSES, backend=backend, seed=seed).initialize((N_FEATURES,))


def test_a_model_trained_on_numpy_loads_into_torch_and_back(tmp_path):
    numpy_model = build("numpy", seed=4)
    rng = np.random.default_rng(5)
    numpy_model.layers[1].parameters["b"][...] = rng.standard_normal((1, 6))
    for _ in range(3):
        numpy_model.forward(rng.standard_normal((8, N_FEATURES)) * 2 + 1)  # the statistics move
    numpy_model.save_parameters(tmp_path / "numpy.npz")

    torch_model = build("torch", seed=99).load_parameters(tmp_path / "numpy.npz")
    assert "1.W" not in torch_model.named_parameters()
    X = rng.standard_normal((7, N_FEATURES))
    numpy_model.eval(), torch_model.eval()
    Y_torch, Y_numpy = torch_model.forward(torch.from_numpy(X)), numpy_model.forward(X)
    assert_agree("network (scale=false)", "output after loading", Y_torch, Y_numpy)

    torch_model.save_parameters(tmp_path / "torch.npz")
    back = build("numpy", seed=123).load_parameters(tmp_path / "torch.npz")
    for name, value in numpy_model.parameter_arrays().items():
        np.testing.assert_array_equal(back.parameter_arrays()[name], value, err_msg=name)


def test_a_training_step_agrees_between_the_backends():
    models = {"numpy": build("numpy", seed=6), "torch": build("torch", seed=6)}
    X = np.random.default_rng(7).standard_normal((8, N_FEATURES))
    Y = np.eye(N_CLASSES)[np.random.default_rng(8).integers(0, N_CLASSES, 8)]
    for backend, model in models.items():
        loss = corenn.create("loss", "cross_entropy", backend)
        Y_hat = model.forward(torch.from_numpy(X) if backend == "torch" else X)
        model.backward(loss.backward(Y, Y_hat))
    gradients = {backend: model.named_gradients() for backend, model in models.items()}
    # The bias just before a training-mode batch norm is subtracted out again with the mean:
    # its gradient is 0 up to rounding on both backends, and rounding errors do not agree.
    for backend in models:
        np.testing.assert_allclose(np.asarray(gradients[backend].pop("0.b")), 0.0, atol=1e-14)
    assert set(gradients["numpy"]) == {"0.W", "1.b", "2.W", "2.b"}
    for name, gradient in gradients["numpy"].items():
        assert_agree("network (scale=false)", f"dL/d{name}", gradients["torch"][name], gradient)


# --- on a GPU ---------------------------------------------------------------------------------

CUDA_CASES = [
    ("scale", {"factor": 1 / 9, "activation": "softmax"}, (6, 10)),
    ("batch_norm", {"scale": False, "activation": "gelu"}, (4, 5, 5, 3)),
]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name, options, shape", CUDA_CASES)
def test_on_the_gpu_the_layers_agree_with_the_cpu(name, options, shape):
    cpu_layer = corenn.create("layer", name, "torch", **options)
    gpu_layer = corenn.create("layer", name, "torch", **options)
    X = torch.from_numpy(np.random.default_rng(1).standard_normal(shape))
    Y_cpu, Y_gpu = cpu_layer.forward(X), gpu_layer.forward(X.to("cuda"))
    assert Y_gpu.device.type == "cuda"
    assert_agree(f"cuda vs cpu {name}", "output", Y_gpu, Y_cpu)
    G = torch.from_numpy(np.random.default_rng(2).standard_normal(shape))
    assert_agree(f"cuda vs cpu {name}", "dL/dX", gpu_layer.backward(G.to("cuda")), cpu_layer.backward(G))
    for key, value in cpu_layer.gradients.items():
        assert_agree(f"cuda vs cpu {name}", f"dL/d{key}", gpu_layer.gradients[key], value)
