"""The cifar10-cnn preset's network: it builds on both backends, and they compute the same
function and the same gradients from the same seed (float64), whitening fitted to the same
images included."""

import numpy as np
import pytest
import torch

from corenn.nn.model import Sequential
from corenn.run.config import load_preset

from torch_agreement import assert_agree

IMAGE_SHAPE = (32, 32, 3)


def preset_model(backend):
    config = load_preset("cifar10-cnn")
    model = Sequential.from_config(config.layers, n_classes=10, backend=backend, seed=config.seed)
    to_device = (lambda array: torch.as_tensor(array)) if backend == "torch" else None
    model.initialize(IMAGE_SHAPE, "float64", to_device=to_device)
    return model


@pytest.fixture(scope="module")
def images():
    # smooth, correlated images (like photographs, unlike white noise) for the whitening fit
    rng = np.random.default_rng(3)
    noise = rng.standard_normal((64, 33, 33, 3))
    return (noise[:, 1:, 1:] + noise[:, :-1, :-1] + noise[:, 1:, :-1]) / 3


def test_the_preset_is_the_documented_network():
    model = preset_model("numpy")
    names = [layer.name for layer in model.layers]
    assert names[0] == "patch_whitening" and names[-3:] == ["flatten", "fully_connected", "scale"]
    assert names.count("conv2d") == 6 and names.count("batch_norm") == 6 and names.count("pool2d") == 4
    assert sorted({layer.n_out for layer in model.layers if layer.name == "conv2d"}) == [32, 128]
    shifts = {name: scale for name, scale in model.named_lr_scales().items()}
    assert len(shifts) == 6 and set(shifts.values()) == {64.0}
    assert all(model.layers[int(name.split(".")[0])].name == "batch_norm" for name in shifts)
    # only the shifts of batch norm: no learned scale
    assert not any(
        name.endswith(".W")
        for index, layer in enumerate(model.layers)
        if layer.name == "batch_norm"
        for name in model.named_parameters()
        if name.startswith(f"{index}.")
    )


def test_numpy_and_torch_agree_on_the_whole_preset_network(images):
    numpy_model, torch_model = preset_model("numpy"), preset_model("torch")
    numpy_model.fit_to_data(images)
    torch_model.fit_to_data(torch.as_tensor(images))
    assert_agree(
        "cifar10-cnn", "whitening filters", torch_model.layers[0].buffers["W"], numpy_model.layers[0].buffers["W"]
    )
    batch = images[:8]
    Y_numpy = numpy_model.forward(batch)
    Y_torch = torch_model.forward(torch.as_tensor(batch))
    assert Y_numpy.shape == (8, 10)
    np.testing.assert_allclose(Y_numpy.sum(axis=1), 1.0)
    assert_agree("cifar10-cnn", "outputs", Y_torch, Y_numpy)
    dY = np.random.default_rng(4).standard_normal(Y_numpy.shape)
    dX_numpy = numpy_model.backward(dY)
    dX_torch = torch_model.backward(torch.as_tensor(dY))
    assert_agree("cifar10-cnn", "dX", dX_torch, dX_numpy)
    torch_gradients = torch_model.named_gradients()
    numpy_gradients = numpy_model.named_gradients()
    assert set(torch_gradients) == set(numpy_gradients)
    for name, gradient in numpy_gradients.items():
        if np.linalg.norm(gradient) < 1e-9:
            # a conv bias right before batch norm: the normalisation subtracts it again, so its
            # gradient is zero up to rounding on both backends, and relative errors of rounding
            # mean nothing
            assert torch.linalg.vector_norm(torch_gradients[name]) < 1e-9, name
            continue
        assert_agree("cifar10-cnn", f"gradient {name}", torch_gradients[name], gradient)
