"""A whole network on both backends: the same weights from the same seed, the same outputs,
gradients and training steps, and parameter files that move between the backends."""

import types

import numpy as np
import pytest
import torch

import corenn
from corenn.files import load_arrays, save_arrays
from corenn.nn.model import Sequential

from torch_agreement import assert_agree

LAYERS = [
    ("conv2d", {"n_out": 4, "kernel_shape": 3, "activation": "relu", "weight_init": "he_normal"}),
    ("pool2d", {"kernel_shape": 2, "stride": 2}),
    ("conv2d", {"n_out": 6, "kernel_shape": (2, 3), "stride": 1, "pad": "valid", "activation": "tanh"}),
    ("pool2d", {"kernel_shape": 2, "stride": 1, "mode": "average"}),
    ("flatten", {}),
    ("fully_connected", {"n_out": 16, "activation": "sigmoid"}),
    ("fully_connected", {"n_out": "auto", "activation": "softmax"}),
]
INPUT_SHAPE = (12, 12, 3)
N_CLASSES = 5


def build(backend, seed=0):
    configs = [types.SimpleNamespace(name=name, options=options) for name, options in LAYERS]
    return Sequential.from_config(configs, n_classes=N_CLASSES, backend=backend, seed=seed)


def batch(seed=1, size=8):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((size, *INPUT_SHAPE)), np.eye(N_CLASSES)[rng.integers(0, N_CLASSES, size)]


def test_the_same_seed_gives_the_same_network_and_the_same_gradients():
    numpy_model, torch_model = build("numpy"), build("torch")
    X, Y = batch()
    loss_numpy, loss_torch = corenn.create("loss", "cross_entropy"), corenn.create("loss", "cross_entropy", "torch")
    Y_hat_numpy = numpy_model.forward(X)
    Y_hat_torch = torch_model.forward(torch.from_numpy(X))
    for name, value in numpy_model.named_parameters().items():
        np.testing.assert_array_equal(torch_model.named_parameters()[name].numpy(), value, err_msg=name)
    assert_agree("network", "output", Y_hat_torch, Y_hat_numpy)
    assert_agree("network", "loss", loss_torch.forward(Y, Y_hat_torch), loss_numpy.forward(Y, Y_hat_numpy))
    dX_numpy = numpy_model.backward(loss_numpy.backward(Y, Y_hat_numpy))
    dX_torch = torch_model.backward(loss_torch.backward(Y, Y_hat_torch))
    assert_agree("network", "dL/dX", dX_torch, dX_numpy)
    for name, value in numpy_model.named_gradients().items():
        assert_agree("network", f"dL/d{name}", torch_model.named_gradients()[name], value)


@pytest.mark.parametrize(
    "optimizer, options", [("sgd", {"lr": 0.1, "momentum": 0.9, "clip_norm": 1.0}), ("adam", {"lr": 0.01})]
)
def test_training_steps_agree(optimizer, options):
    models = {"numpy": build("numpy", seed=3), "torch": build("torch", seed=3)}
    optimizers = {backend: corenn.create("optimizer", optimizer, backend, **options) for backend in models}
    losses = {backend: corenn.create("loss", "cross_entropy", backend) for backend in models}
    for step in range(5):
        X, Y = batch(seed=10 + step)
        for backend, model in models.items():
            inputs = torch.from_numpy(X) if backend == "torch" else X
            Y_hat = model.forward(inputs)
            model.backward(losses[backend].backward(Y, Y_hat))
            gradients = model.named_gradients()
            for name, param in model.named_parameters().items():
                optimizers[backend].update(name, param, gradients[name])
    for name, value in models["numpy"].named_parameters().items():
        assert_agree(f"network ({optimizer}, 5 steps)", name, models["torch"].named_parameters()[name], value)


def test_parameters_saved_by_numpy_load_into_torch_and_back(tmp_path):
    numpy_model = build("numpy", seed=7).initialize(INPUT_SHAPE)
    numpy_model.save_parameters(tmp_path / "numpy.npz")

    torch_model = build("torch", seed=99).initialize(INPUT_SHAPE)  # other weights, to be replaced
    for name, array in load_arrays(tmp_path / "numpy.npz").items():
        current = torch_model.named_parameters()[name]
        assert tuple(current.shape) == array.shape
        torch_model.set_parameter(name, torch.from_numpy(array).to(current.dtype))
    X, _ = batch()
    assert_agree("network", "output after loading", torch_model.forward(torch.from_numpy(X)), numpy_model.forward(X))

    save_arrays(tmp_path / "torch.npz", {name: value.numpy() for name, value in torch_model.named_parameters().items()})
    back = build("numpy", seed=123).initialize(INPUT_SHAPE).load_parameters(tmp_path / "torch.npz")
    original, returned = load_arrays(tmp_path / "numpy.npz"), load_arrays(tmp_path / "torch.npz")
    assert list(returned) == list(original)
    for name, array in original.items():
        np.testing.assert_array_equal(returned[name], array)
        np.testing.assert_array_equal(back.named_parameters()[name], array)


def test_the_core_model_initialises_torch_layers_from_a_numpy_zero_batch():
    model = build("torch").initialize(INPUT_SHAPE, dtype="float32")
    assert all(torch.is_tensor(v) and v.dtype == torch.float32 for v in model.named_parameters().values())
    assert model.forward(torch.zeros(2, *INPUT_SHAPE)).shape == (2, N_CLASSES)
