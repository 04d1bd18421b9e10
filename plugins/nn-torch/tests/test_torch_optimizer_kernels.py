"""torch's SGD and Adam kernels give exactly the bits of the whole-tensor expressions they
replaced, and agree with numpy's blocked kernels."""

import numpy as np
import pytest
import torch

import corenn
from corenn.testing import reference_optimizer_update

from torch_agreement import assert_agree

SHAPES = {"0.W": (300, 250), "0.b": (1, 250), "1.W": (3, 3, 2, 4)}
OPTIONS = {
    "adam": {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "epsilon": 1e-6, "weight_decay": 0.05, "clip_norm": 2.0},
    "sgd": {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.05, "clip_norm": 2.0},
    "sgd nesterov": {"lr": 0.01, "momentum": 0.9, "nesterov": True, "weight_decay": 0.05, "clip_norm": 2.0},
}
LR_SCALES = {"0.W": 3.0, "1.W": 0.5}


def gradients(step, dtype):
    rng = np.random.default_rng(100 + step)
    scale = 5.0 if step % 2 else 0.01  # clip_norm both applies and does not
    return {name: (rng.standard_normal(shape) * scale).astype(dtype) for name, shape in SHAPES.items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("setting", list(OPTIONS))
def test_torch_steps_match_the_whole_tensor_formulas_and_numpy(dtype, setting):
    name, options = setting.split()[0], OPTIONS[setting]
    rng = np.random.default_rng(0)
    start = {name: rng.standard_normal(shape).astype(dtype) for name, shape in SHAPES.items()}
    numpy_params = {name: value.copy() for name, value in start.items()}
    torch_params = {name: torch.from_numpy(value.copy()) for name, value in start.items()}
    expected = {name: torch.from_numpy(value.copy()) for name, value in start.items()}
    numpy_optimizer = corenn.create("optimizer", name, "numpy", **options)
    torch_optimizer = corenn.create("optimizer", name, "torch", **options)
    reference = corenn.create("optimizer", name, "torch", **options)
    for step in range(5):
        lr = options["lr"] * 0.9**step
        numpy_optimizer.lr = torch_optimizer.lr = reference.lr = lr
        for key, grad in gradients(step, dtype).items():
            scale = LR_SCALES.get(key, 1.0)
            numpy_optimizer.update(key, numpy_params[key], grad, lr_scale=scale)
            torch_optimizer.update(key, torch_params[key], torch.from_numpy(grad), lr_scale=scale)
            reference_optimizer_update(reference, key, expected[key], torch.from_numpy(grad), scale)
            assert torch_params[key].dtype == expected[key].dtype
            assert torch.equal(torch_params[key], expected[key]), f"{key} differs at step {step}"
            if dtype == np.float64:
                assert_agree(
                    f"optimizer {setting} (kernel)", f"step {step} {key}", torch_params[key], numpy_params[key]
                )
            else:
                np.testing.assert_allclose(torch_params[key].numpy(), numpy_params[key], rtol=1e-5, atol=1e-6)
