"""torch's overrides of the optimizers' steps give exactly the bits of the references on
tensors (the whole-tensor formulas), write into the tensors they return, and agree with numpy's
blocked overrides.

torch's clipping takes the norm with its own ``vector_norm`` and decides on the device, so a
clipped gradient may differ from the reference's in its last bit: clipped runs are compared
within rounding."""

import numpy as np
import pytest
import torch

import corenn
from corenn.kernels import reference_kernels
from corenn.nn.optimizers import adam_step, clip_by_norm, sgd_step
from corenn.plugins import get_backend
from corenn.testing import check_kernel, relative_error

from torch_agreement import assert_agree

get_backend("torch")  # installs torch's overrides

SHAPES = {"0.W": (300, 250), "0.b": (1, 250), "1.W": (3, 3, 2, 4)}
OPTIONS = {
    "adam": {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6, "weight_decay": 0.05},
    "adam clipped": {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6, "weight_decay": 0.05, "clip_norm": 2.0},
    "sgd": {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.05},
    "sgd clipped": {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.05, "clip_norm": 2.0},
    "sgd nesterov": {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05},
    "sgd nesterov clipped": {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05, "clip_norm": 2.0},
}
LR_SCALES = {"0.W": 3.0, "1.W": 0.5}


def gradients(step, dtype):
    rng = np.random.default_rng(100 + step)
    scale = 5.0 if step % 2 else 0.01  # clip_norm both applies and does not
    return {name: (rng.standard_normal(shape) * scale).astype(dtype) for name, shape in SHAPES.items()}


def test_torch_overrides_every_optimizer_kernel():
    for declared in (sgd_step, adam_step, clip_by_norm):
        assert declared.override_for("torch").function.__module__ == "corenn_torch.kernels.optimizers"


@pytest.mark.parametrize("kernel", [sgd_step, adam_step], ids=lambda kernel: kernel.name)
def test_on_every_example_the_steps_give_the_references_bits(kernel):
    report = check_kernel(kernel, "torch")  # its floor is 1e-10; the steps hold to the bit
    assert report.passed and report.max_error == 0.0, report


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("setting", list(OPTIONS))
def test_torch_steps_match_the_references_and_numpy(dtype, setting):
    name, options = setting.split()[0], OPTIONS[setting]
    rng = np.random.default_rng(0)
    start = {name: rng.standard_normal(shape).astype(dtype) for name, shape in SHAPES.items()}
    numpy_params = {name: value.copy() for name, value in start.items()}
    torch_params = {name: torch.from_numpy(value.copy()) for name, value in start.items()}
    expected = {name: torch.from_numpy(value.copy()) for name, value in start.items()}
    numpy_optimizer = corenn.create("optimizer", name, "numpy", **options)
    torch_optimizer = corenn.create("optimizer", name, "torch", **options)
    reference = corenn.create("optimizer", name, "torch", **options)
    rounding = 1e-12 if dtype == np.float64 else 1e-6
    for step in range(5):
        lr = options["lr"] * 0.9**step
        numpy_optimizer.lr = torch_optimizer.lr = reference.lr = lr
        for key, grad in gradients(step, dtype).items():
            scale = LR_SCALES.get(key, 1.0)
            numpy_params[key] = numpy_optimizer.update(key, numpy_params[key], grad, lr_scale=scale)
            param = torch_params[key]
            assert torch_optimizer.update(key, param, torch.from_numpy(grad), lr_scale=scale) is param  # in place
            with reference_kernels():
                expected[key] = reference.update(key, expected[key], torch.from_numpy(grad), scale)
            assert param.dtype == expected[key].dtype
            if "clip_norm" in options:
                assert relative_error(param.numpy(), expected[key].numpy()) <= rounding, f"{key} at step {step}"
            else:
                assert torch.equal(param, expected[key]), f"{key} differs at step {step}"
            if dtype == np.float64:
                assert_agree(f"optimizer {setting} (kernel)", f"step {step} {key}", param, numpy_params[key])
            else:
                np.testing.assert_allclose(param.numpy(), numpy_params[key], rtol=1e-5, atol=1e-6)
    state, expected_state = torch_optimizer.state_dict(), reference.state_dict()
    assert state.keys() == expected_state.keys()
    for key, value in expected_state.items():
        if "clip_norm" in options:
            assert relative_error(state[key], value) <= rounding, key
        else:
            assert np.array_equal(state[key], value), key
