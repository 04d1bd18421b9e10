"""patch_whitening on torch: the same filters as numpy from the same data, agreement of outputs
and gradients, finite differences, dtype, devices, errors, and a torch model's fit, save and load.
Also the dirac initializer against torch's own ``nn.init.dirac_``."""

import numpy as np
import pytest
import torch

import corenn
from corenn.errors import ConfigError, CorennError, ShapeError
from corenn.nn.model import Sequential
from corenn.run.config import ComponentConfig
from corenn.testing import DEFAULT_TOLERANCE, check_layer_gradients

from corenn_conv.whitening import patch_whitening_covariance
from corenn_torch.testing import NumpyFacingLayer
from torch_agreement import assert_agree

LABEL = "layer patch_whitening"
CUDA = torch.cuda.is_available()


def smooth_images(shape, seed=0):
    """Images whose neighbouring pixels and channels are strongly correlated (as in photos)."""
    rng = np.random.default_rng(seed)
    m, rows, cols, channels = shape
    noise = rng.standard_normal((m, rows, cols, 1)) + 0.3 * rng.standard_normal(shape)
    return np.cumsum(np.cumsum(noise, axis=1), axis=2) / np.sqrt(rows * cols) + 0.5


def layers(**options):
    return corenn.create("layer", "patch_whitening", "numpy", **options), corenn.create(
        "layer", "patch_whitening", "torch", **options
    )


@pytest.mark.parametrize("shape, k", [((6, 7, 8, 3), 2), ((3, 6, 6, 2), 3), ((2, 4, 5, 1), 1)])
def test_the_covariance_on_torch_is_numpys(shape, k):
    X = smooth_images(shape)
    torch_covariance = patch_whitening_covariance(torch.from_numpy(X), k)
    assert_agree(LABEL, "patch covariance", torch_covariance, patch_whitening_covariance(X, k))


@pytest.mark.parametrize("shape, options", [((16, 8, 8, 3), {}), ((5, 6, 7, 2), {"kernel_size": 3, "epsilon": 1e-2})])
@pytest.mark.parametrize("data", ["smooth", "noise"])
def test_torch_fits_the_same_filters_as_numpy(shape, options, data):
    X = smooth_images(shape) if data == "smooth" else np.random.default_rng(5).standard_normal(shape)
    numpy_layer, torch_layer = layers(**options)
    numpy_layer.fit(X)
    torch_layer.fit(torch.from_numpy(X))
    assert list(torch_layer.buffers) == ["W"] and list(torch_layer.parameters) == ["b"]
    assert_agree(LABEL, "fitted W", torch_layer.buffers["W"], numpy_layer.buffers["W"])
    assert torch_layer.buffers["W"].dtype == torch.float64
    assert (torch_layer.n_in, torch_layer.n_out) == (numpy_layer.n_in, numpy_layer.n_out)


@pytest.mark.parametrize("activation", ["linear", "relu", "tanh"])
@pytest.mark.parametrize("shape, kernel_size", [((4, 6, 7, 3), 2), ((3, 5, 5, 2), 3)])
def test_outputs_and_gradients_agree_with_numpy_for_the_same_filters(activation, shape, kernel_size):
    X = smooth_images(shape, seed=1)
    numpy_layer, torch_layer = layers(kernel_size=kernel_size, activation=activation)
    numpy_layer.fit(X)
    torch_layer.allocate(torch.from_numpy(X[:1]))
    torch_layer.buffers["W"].copy_(torch.from_numpy(numpy_layer.buffers["W"]))
    bias = np.random.default_rng(2).normal(scale=0.3, size=numpy_layer.parameters["b"].shape)
    numpy_layer.parameters["b"][...] = bias
    torch_layer.parameters["b"].copy_(torch.from_numpy(bias))
    X_test = np.random.default_rng(3).standard_normal(shape)
    Y_numpy = numpy_layer.forward(X_test)
    assert_agree(LABEL, "output", torch_layer.forward(torch.from_numpy(X_test)), Y_numpy)
    G = np.random.default_rng(4).standard_normal(Y_numpy.shape)
    assert_agree(LABEL, "dL/dX", torch_layer.backward(torch.from_numpy(G)), numpy_layer.backward(G))
    assert list(torch_layer.gradients) == list(numpy_layer.gradients) == ["b"]
    assert_agree(LABEL, "dL/db", torch_layer.gradients["b"], numpy_layer.gradients["b"])


def test_gradients_match_finite_differences():
    X = smooth_images((2, 5, 5, 2))
    layer = corenn.create("layer", "patch_whitening", "torch", activation="tanh").fit(torch.from_numpy(X))
    layer.parameters["b"].copy_(torch.from_numpy(np.random.default_rng(0).normal(scale=0.1, size=(1, 16))))
    errors = check_layer_gradients(NumpyFacingLayer(layer), np.random.default_rng(1).standard_normal(X.shape))
    assert set(errors) == {"X", "b"} and max(errors.values()) <= DEFAULT_TOLERANCE, errors


def test_skipping_the_input_gradient_still_fills_the_bias_gradient():
    X = torch.from_numpy(smooth_images((2, 5, 5, 3)))
    layer = corenn.create("layer", "patch_whitening", "torch").fit(X)
    G = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 4, 4, 24)))
    layer.forward(X)
    dX = layer.backward(G)
    expected = layer.gradients["b"].clone()
    layer.needs_input_gradient = False
    layer.forward(X)
    assert layer.backward(G) is None and dX.shape == X.shape
    torch.testing.assert_close(layer.gradients["b"], expected)


def test_float32_data_gives_float32_filters_and_outputs():
    X = torch.from_numpy(smooth_images((3, 6, 6, 3)).astype(np.float32))
    layer = corenn.create("layer", "patch_whitening", "torch").fit(X)
    assert layer.buffers["W"].dtype == torch.float32 and layer.parameters["b"].dtype == torch.float32
    Y = layer.forward(X)
    assert Y.dtype == torch.float32 and layer.backward(torch.ones_like(Y)).dtype == torch.float32


def test_forward_before_fit_is_an_error_and_allocate_does_not_fit():
    layer = corenn.create("layer", "patch_whitening", "torch")
    X = torch.from_numpy(smooth_images((2, 5, 5, 3)))
    with pytest.raises(CorennError, match=r"must be fitted.*fit_to_data"):
        layer.forward(X)
    Y = layer.allocate(torch.zeros((1, 5, 5, 3)))
    assert Y.shape == (1, 4, 4, 24) and not Y.any() and not layer.fitted
    with pytest.raises(CorennError, match="must be fitted"):
        layer.forward(X)
    with pytest.raises(ShapeError, match="made for 3 input channels"):
        layer.fit(torch.zeros((2, 5, 5, 2)))


@pytest.mark.parametrize(
    "options", [{"kernel_size": 0}, {"kernel_size": 2.5}, {"epsilon": 0}, {"epsilon": float("nan")}, {"n_out": 4}]
)
def test_bad_options_give_the_numpy_backends_config_error(options):
    with pytest.raises(ConfigError) as numpy_error:
        corenn.create("layer", "patch_whitening", "numpy", **options)
    with pytest.raises(ConfigError) as torch_error:
        corenn.create("layer", "patch_whitening", "torch", **options)
    assert str(torch_error.value) == str(numpy_error.value)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_fits_and_runs_on_the_gpu_like_on_the_cpu():
    X = torch.from_numpy(smooth_images((32, 8, 8, 3)))
    cpu_layer = corenn.create("layer", "patch_whitening", "torch").fit(X)
    gpu_layer = corenn.create("layer", "patch_whitening", "torch").fit(X.cuda())
    assert gpu_layer.buffers["W"].device.type == "cuda" and gpu_layer.parameters["b"].device.type == "cuda"
    assert_agree(LABEL + " (cuda vs cpu)", "fitted W", gpu_layer.buffers["W"], cpu_layer.buffers["W"])
    assert_agree(LABEL + " (cuda vs cpu)", "output", gpu_layer.forward(X.cuda()), cpu_layer.forward(X))
    moved = cpu_layer.to("cuda")
    assert moved.buffers["W"].device.type == "cuda"


def torch_network(seed=0):
    configs = [
        ComponentConfig("patch_whitening", {"activation": "relu"}),
        ComponentConfig("conv2d", {"n_out": 4, "kernel_shape": 3}),
        ComponentConfig("flatten", {}),
        ComponentConfig("fully_connected", {"n_out": "auto", "activation": "softmax"}),
    ]
    return Sequential.from_config(configs, n_classes=3, backend="torch", seed=seed).initialize((6, 6, 3), "float64")


def test_a_torch_model_fits_saves_and_loads_its_filters(tmp_path):
    X = smooth_images((8, 6, 6, 3))
    model = torch_network(seed=0)
    assert not model.layers[0].fitted
    model.fit_to_data(torch.from_numpy(X))
    numpy_filters = corenn.create("layer", "patch_whitening").fit(X).buffers["W"]
    assert_agree(LABEL, "fitted W in a model", model.layers[0].buffers["W"], numpy_filters)
    path = tmp_path / "params.npz"
    model.save_parameters(path)
    restored = torch_network(seed=1).load_parameters(path)
    assert restored.layers[0].fitted
    np.testing.assert_array_equal(restored.predict_proba(torch.from_numpy(X)), model.predict_proba(torch.from_numpy(X)))


# --- dirac -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 3, 4, 6), (3, 3, 6, 4), (2, 2, 3, 3), (5, 4)])
def test_dirac_is_torchs_default_conv_weight_with_dirac_on_the_first_filters(shape):
    drawn = corenn.create("initializer", "dirac", "torch")(shape, np.random.default_rng(0))
    # the one initializer of every backend draws numpy arrays; a torch layer makes them tensors
    assert isinstance(drawn, np.ndarray) and drawn.dtype == np.float64
    np.testing.assert_array_equal(drawn, corenn.create("initializer", "dirac")(shape, np.random.default_rng(0)))
    weight = torch.from_numpy(drawn)
    kernel = weight.reshape(1, 1, *shape) if len(shape) == 2 else weight
    torch_layout = kernel.permute(3, 2, 0, 1).clone()  # (C_out, C_in, kh, kw)
    expected = torch_layout.clone()
    with torch.no_grad():
        torch.nn.init.dirac_(expected[: expected.size(1)])  # airbench's line
    torch.testing.assert_close(torch_layout, expected, rtol=0, atol=0)


def test_the_covariance_of_many_patches_keeps_float64_accuracy():
    """One product over a chunk's 2**18 patch rows summed them in one long run: 1e-13 off the
    exact matrix (numpy's: 5e-15), and the filters fitted from it 1e-9 off numpy's."""
    from corenn.plugins import get_backend

    get_backend("torch")  # installs torch's override
    X = np.random.default_rng(3).uniform(0.5, 1.0, size=(300, 32, 32, 3))  # 288,300 patches, two chunks
    windows = np.lib.stride_tricks.sliding_window_view(X, (2, 2), axis=(1, 2)).transpose(0, 1, 2, 4, 5, 3)
    rows = windows.reshape(-1, 12).astype(np.longdouble)
    exact = rows.T @ rows / len(rows)
    torch_covariance = patch_whitening_covariance(torch.from_numpy(X), 2).numpy()
    assert float(np.abs(torch_covariance - exact).max() / np.abs(exact).max()) < 2e-15  # one product: 3.6e-14
