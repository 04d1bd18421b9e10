"""The torch backend on a CUDA GPU: the same results as on the CPU, parameters and state on
the device, checkpoints back as numpy. Skipped where torch sees no GPU."""

import numpy as np
import pytest
import torch

import corenn
from corenn.errors import CorennError
from corenn.nn.model import Sequential
from corenn.run.config import ComponentConfig
from corenn.testing import relative_error

from torch_agreement import assert_agree

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
DEVICE = "cuda"

LAYER_CASES = [
    ("fully_connected", {"n_out": 7, "activation": "softmax"}, (6, 9)),
    ("conv2d", {"n_out": 5, "kernel_shape": 3, "activation": "relu"}, (4, 10, 10, 3)),
    ("conv2d", {"n_out": 4, "kernel_shape": (2, 4), "stride": 2, "pad": "same", "activation": "tanh"}, (3, 9, 8, 2)),
    ("pool2d", {"kernel_shape": 3, "stride": 2, "pad": 1, "mode": "max"}, (4, 9, 9, 3)),
    ("pool2d", {"kernel_shape": 2, "stride": 1, "pad": "same", "mode": "average"}, (4, 7, 7, 3)),
    ("flatten", {}, (4, 3, 3, 2)),
]


def pair(name, options):
    layers = []
    for _ in range(2):
        layer = corenn.create("layer", name, "torch", **options)
        layer.rng = np.random.default_rng(0)
        layers.append(layer)
    return layers


@pytest.mark.parametrize("name, options, shape", LAYER_CASES)
def test_a_layer_on_the_gpu_agrees_with_the_cpu(name, options, shape):
    cpu_layer, gpu_layer = pair(name, options)
    X = torch.from_numpy(np.random.default_rng(1).standard_normal(shape))
    Y_cpu = cpu_layer.forward(X)
    Y_gpu = gpu_layer.forward(X.to(DEVICE))
    assert Y_gpu.device.type == "cuda"
    for key, value in cpu_layer.parameters.items():
        assert gpu_layer.parameters[key].device.type == "cuda"
        torch.testing.assert_close(gpu_layer.parameters[key].cpu(), value, rtol=0, atol=0)
    assert_agree(f"cuda vs cpu {name}", "output", Y_gpu, Y_cpu)
    G = torch.from_numpy(np.random.default_rng(2).standard_normal(tuple(Y_cpu.shape)))
    dX_cpu, dX_gpu = cpu_layer.backward(G), gpu_layer.backward(G.to(DEVICE))
    assert dX_gpu.device.type == "cuda"
    assert_agree(f"cuda vs cpu {name}", "dL/dX", dX_gpu, dX_cpu)
    for key, value in cpu_layer.gradients.items():
        assert gpu_layer.gradients[key].device.type == "cuda"
        assert_agree(f"cuda vs cpu {name}", f"dL/d{key}", gpu_layer.gradients[key], value)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_layer_moved_with_to_takes_numpy_batches_onto_its_device(dtype):
    layer = corenn.create("layer", "conv2d", "torch", n_out=3, kernel_shape=3)
    layer.forward(np.zeros((1, 6, 6, 2), dtype=np.float32 if dtype == torch.float32 else np.float64))
    layer.to(DEVICE)
    Y = layer.forward(np.ones((2, 6, 6, 2), dtype=np.float32 if dtype == torch.float32 else np.float64))
    assert Y.device.type == "cuda" and Y.dtype == dtype
    with pytest.raises(CorennError, match="the input is on cpu"):
        layer.forward(torch.ones(2, 6, 6, 2, dtype=dtype))


def test_losses_take_cpu_targets_for_gpu_predictions():
    Y = np.eye(4)[[0, 3, 1]]
    Y_hat = torch.softmax(torch.randn(3, 4, dtype=torch.float64), dim=1)
    for name in ("cross_entropy", "l2"):
        loss = corenn.create("loss", name, "torch")
        assert loss.forward(Y, Y_hat.to(DEVICE)) == pytest.approx(loss.forward(Y, Y_hat), rel=1e-12)
        gradient = loss.backward(Y, Y_hat.to(DEVICE))
        assert gradient.device.type == "cuda"
        assert_agree(f"cuda vs cpu loss {name}", "backward", gradient, loss.backward(Y, Y_hat))


@pytest.mark.parametrize(
    "name, options", [("sgd", {"lr": 0.1, "momentum": 0.9, "clip_norm": 1.0}), ("adam", {"lr": 0.01, "clip_norm": 0.5})]
)
def test_optimizers_update_on_the_gpu_and_checkpoint_as_numpy(name, options):
    rng = np.random.default_rng(0)
    start = rng.standard_normal((5, 3))
    grads = [rng.standard_normal((5, 3)) * 2 for _ in range(6)]
    cpu_param, gpu_param = torch.from_numpy(start.copy()), torch.from_numpy(start.copy()).to(DEVICE)
    cpu_optimizer = corenn.create("optimizer", name, "torch", **options)
    gpu_optimizer = corenn.create("optimizer", name, "torch", **options)
    for grad in grads[:3]:
        cpu_optimizer.update("0.W", cpu_param, torch.from_numpy(grad))
        gpu_optimizer.update("0.W", gpu_param, torch.from_numpy(grad).to(DEVICE))
    state = gpu_optimizer.state_dict()
    assert all(not torch.is_tensor(value) for value in state.values())
    resumed = corenn.create("optimizer", name, "torch", **options)
    resumed.load_state_dict(state)
    for grad in grads[3:]:
        cpu_optimizer.update("0.W", cpu_param, torch.from_numpy(grad))
        resumed.update("0.W", gpu_param, torch.from_numpy(grad).to(DEVICE))
    assert gpu_param.device.type == "cuda"
    assert all(
        value.device.type == "cuda"
        for table in resumed.state.values()
        for value in table.values()
        if torch.is_tensor(value)
    )
    assert_agree(f"cuda vs cpu optimizer {name}", "6 steps", gpu_param, cpu_param)


# Mixed precision: bfloat16 products on the GPU, what it is meant for

MIXED_NETWORK = [
    ComponentConfig("patch_whitening", {"kernel_size": 2, "activation": "gelu"}),
    # no batch norm: it would cancel the conv's bias, whose gradient would then be rounding noise
    ComponentConfig("conv2d", {"n_out": 16, "kernel_shape": 3, "activation": "gelu"}),
    ComponentConfig("pool2d", {"kernel_shape": 2, "stride": 2}),
    ComponentConfig("flatten"),
    ComponentConfig("fully_connected", {"n_out": 10, "activation": "softmax"}),
]


def one_step_on_the_gpu(compute_dtype, X, Y):
    """A model of MIXED_NETWORK on the GPU after one SGD step on ``(X, Y)``, and its outputs
    and gradients of that step."""
    model = Sequential.from_config(MIXED_NETWORK, n_classes=10, backend="torch", seed=0)
    if compute_dtype is not None:
        model.set_compute_dtype(compute_dtype)
    model.skip_input_gradient()
    model.initialize(X.shape[1:], "float32", to_device=lambda array: torch.from_numpy(array).to(DEVICE))
    X = torch.from_numpy(X).to(DEVICE)
    model.fit_to_data(X)
    loss = corenn.create("loss", "cross_entropy", "torch")
    optimizer = corenn.create("optimizer", "sgd", "torch", lr=0.1, momentum=0.9, nesterov=True)
    Y_hat = model.forward(X)
    model.backward(loss.backward(Y, Y_hat))
    gradients = {name: value.clone() for name, value in model.named_gradients().items()}
    for name, value in model.named_parameters().items():
        optimizer.update(name, value, gradients[name])
    return model, Y_hat, gradients


def test_one_mixed_precision_step_on_the_gpu_agrees_with_float32():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((32, 16, 16, 3)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 32)]
    full, Y_full, gradients_full = one_step_on_the_gpu(None, X, Y)
    mixed, Y_mixed, gradients_mixed = one_step_on_the_gpu("bfloat16", X, Y)
    assert mixed.layers[1].cache["convolution"].X_nchw.dtype == torch.bfloat16  # half the memory kept for backward
    assert Y_mixed.dtype == torch.float32 and Y_mixed.device.type == "cuda"
    error = relative_error(Y_mixed.cpu().double().numpy(), Y_full.cpu().double().numpy())
    assert 1e-5 <= error <= 2e-2, f"outputs: relative error {error:.3g}"
    for name, value in gradients_full.items():
        assert gradients_mixed[name].dtype == torch.float32 and gradients_mixed[name].device.type == "cuda", name
        error = relative_error(gradients_mixed[name].cpu().double().numpy(), value.cpu().double().numpy())
        # a gradient sums many rounded products that largely cancel: ~3e-2 measured on the CPU
        assert error <= 5e-2, f"gradient {name}: relative error {error:.3g}"
    for name, value in full.named_parameters().items():
        after = mixed.named_parameters()[name]
        assert after.dtype == torch.float32 and after.device.type == "cuda", name
        # biases start at zero: after one step they are their gradients, to the same precision
        error = relative_error(after.cpu().double().numpy(), value.cpu().double().numpy())
        assert error <= 5e-2, f"parameter {name} after the step: relative error {error:.3g}"
