"""Nesterov momentum, per-parameter ``lr_scale`` and one_cycle's ``anneal = "linear"``: against
torch.optim (SGD with nesterov, parameter groups, AdamW, OneCycleLR) and between the backends."""

import numpy as np
import pytest
import torch

import corenn
from corenn.errors import ConfigError
from corenn.run.config import load_config, load_preset

from suite_helpers import trainer_for
from torch_agreement import assert_agree

SHAPES = {"0.W": (5, 3), "0.b": (1, 3), "1.W": (3, 2), "1.b": (1, 2)}
SCALES = {"0.b": 64.0, "1.W": 0.25}  # "0.W" and "1.b" keep factor 1


def starting_parameters(seed=0):
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape) for name, shape in SHAPES.items()}


def gradients(step):
    rng = np.random.default_rng(100 + step)
    return {name: rng.standard_normal(shape) * (0.01 if step % 2 else 3.0) for name, shape in SHAPES.items()}


def run_corenn(optimizer, params, steps, convert, scales=None, lr_for_step=None):
    """``steps`` updates of every parameter; a parameter in ``scales`` gets its lr_scale."""
    for step in steps:
        if lr_for_step is not None:
            optimizer.lr = lr_for_step(step)
        for name, grad in gradients(step).items():
            keywords = {"lr_scale": scales[name]} if scales and name in scales else {}
            params[name] = optimizer.update(name, params[name], convert(grad), **keywords)


def run_torch_optim(make_optimizer, lr, weight_decay, steps, scales=None):
    """torch.optim on the same gradients; a scaled parameter is in its own group with
    ``lr * scale`` and ``weight_decay / scale`` (airbench's way of keeping its decay per step)."""
    params = {name: torch.nn.Parameter(torch.from_numpy(value)) for name, value in starting_parameters().items()}
    groups = []
    for name, param in params.items():
        scale = (scales or {}).get(name, 1.0)
        groups.append({"params": [param], "lr": lr * scale, "weight_decay": weight_decay / scale})
    optimizer = make_optimizer(groups)
    for step in steps:
        for name, grad in gradients(step).items():
            params[name].grad = torch.from_numpy(grad)
        optimizer.step()
    return {name: param.detach() for name, param in params.items()}


def both_backends(name, options, steps, scales=None):
    """The corenn optimizer ``name`` run on numpy and on torch, from the same start."""
    numpy_params = starting_parameters()
    torch_params = {key: torch.from_numpy(value.copy()) for key, value in numpy_params.items()}
    run_corenn(corenn.create("optimizer", name, "numpy", **options), numpy_params, steps, np.asarray, scales)
    run_corenn(corenn.create("optimizer", name, "torch", **options), torch_params, steps, torch.from_numpy, scales)
    return numpy_params, torch_params


# Nesterov against torch.optim.SGD(nesterov=True), at a constant learning rate


@pytest.mark.parametrize(
    "options",
    [
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.01},
    ],
)
def test_nesterov_is_torch_sgd_nesterov(options):
    options = {**options, "nesterov": True}
    reference = run_torch_optim(
        lambda groups: torch.optim.SGD(groups, momentum=options["momentum"], nesterov=True),
        options["lr"],
        options.get("weight_decay", 0.0),
        range(8),
    )
    numpy_params, torch_params = both_backends("sgd", options, range(8))
    for key in SHAPES:
        assert_agree("sgd nesterov vs torch.optim", key, numpy_params[key], reference[key])
        assert_agree("sgd nesterov vs torch.optim", key, torch_params[key], reference[key])


def test_nesterov_on_torch_rejects_zero_momentum():
    with pytest.raises(ConfigError, match=r"'nesterov'.*momentum > 0"):
        corenn.create("optimizer", "sgd", "torch", lr=0.1, nesterov=True)


# lr_scale against torch.optim parameter groups (lr * scale, weight_decay / scale)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_lr_scale_is_a_torch_parameter_group(nesterov):
    options = {"lr": 0.02, "momentum": 0.9, "weight_decay": 0.005, "nesterov": nesterov}
    reference = run_torch_optim(
        lambda groups: torch.optim.SGD(groups, momentum=0.9, nesterov=nesterov), 0.02, 0.005, range(8), SCALES
    )
    numpy_params, torch_params = both_backends("sgd", options, range(8), SCALES)
    for key in SHAPES:
        assert_agree("sgd lr_scale vs torch.optim", key, numpy_params[key], reference[key])
        assert_agree("sgd lr_scale vs torch.optim", key, torch_params[key], reference[key])


def test_adam_lr_scale_is_a_torch_adamw_parameter_group():
    options = {"lr": 0.003, "weight_decay": 0.05}
    reference = run_torch_optim(lambda groups: torch.optim.AdamW(groups, eps=1e-8), 0.003, 0.05, range(8), SCALES)
    numpy_params, torch_params = both_backends("adam", options, range(8), SCALES)
    for key in SHAPES:
        assert_agree("adam lr_scale vs torch.optim", key, numpy_params[key], reference[key])
        assert_agree("adam lr_scale vs torch.optim", key, torch_params[key], reference[key])


@pytest.mark.parametrize(
    "name, options",
    [
        ("sgd", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "clip_norm": 0.5, "weight_decay": 0.01}),
        ("sgd", {"lr": 0.05, "clip_norm": 0.5}),
        ("adam", {"lr": 0.01, "clip_norm": 0.3, "weight_decay": 0.01}),
    ],
)
def test_backends_agree_with_lr_scale_nesterov_and_a_changing_rate(name, options):
    numpy_optimizer = corenn.create("optimizer", name, "numpy", **options)
    torch_optimizer = corenn.create("optimizer", name, "torch", **options)
    numpy_params = starting_parameters()
    torch_params = {key: torch.from_numpy(value.copy()) for key, value in numpy_params.items()}
    schedule = corenn.create(
        "scheduler", "one_cycle", "numpy", initial_lr=numpy_optimizer.lr, total_steps=8, pct_start=0.5, anneal="linear"
    )
    for step in range(8):
        run_corenn(numpy_optimizer, numpy_params, [step], np.asarray, SCALES, schedule)
        run_corenn(torch_optimizer, torch_params, [step], torch.from_numpy, SCALES, schedule)
        for key in SHAPES:
            assert_agree(f"optimizer {name} (lr_scale)", f"step {step} {key}", torch_params[key], numpy_params[key])
    numpy_state, torch_state = numpy_optimizer.state_dict(), torch_optimizer.state_dict()
    assert list(torch_state) == list(numpy_state)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_lr_scale_on_torch_keeps_float32_and_checks_the_factor(name):
    optimizer = corenn.create(
        "optimizer", name, "torch", lr=0.1, **({"momentum": 0.9, "nesterov": True} if name == "sgd" else {})
    )
    param = torch.ones(3, dtype=torch.float32)
    param = optimizer.update("0.b", param, torch.full((3,), 0.5, dtype=torch.float32), lr_scale=64.0)
    assert param.dtype == torch.float32
    assert all(value.dtype == np.float32 for value in optimizer.state_dict().values() if isinstance(value, np.ndarray))
    with pytest.raises(ConfigError, match=r"lr_scale must be a finite number > 0"):
        param = optimizer.update("0.b", param, torch.ones(3, dtype=torch.float32), lr_scale=-1.0)


def test_a_torch_run_with_every_factor_two_is_a_run_at_twice_the_rate(no_plots):
    """The trainer passes the model's factors to the torch optimizer too (doubling is exact)."""
    results = []
    for factor, lr in ((2.0, 0.02), (1.0, 0.04)):
        data = load_preset("iris-ffnn").to_dict() | {"backend": "torch", "epochs": 2}
        for layer in data["layers"]:
            layer["lr_scale"] = {"W": factor, "b": factor}
        data["optimizer"]["lr"] = lr
        trainer = trainer_for(load_config(data))
        trainer.fit()
        results.append(
            {key: value.detach().numpy().copy() for key, value in trainer.run.model.named_parameters().items()}
        )
    for key in results[0]:
        np.testing.assert_array_equal(results[0][key], results[1][key], err_msg=key)


# one_cycle with anneal = "linear" against torch's OneCycleLR(anneal_strategy="linear")


def torch_one_cycle_rates(total_steps, max_lr, **options):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=max_lr)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=max_lr, total_steps=total_steps, anneal_strategy="linear", cycle_momentum=False, **options
    )
    rates = []
    for step in range(total_steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if step < total_steps - 1:  # OneCycleLR refuses to step past its total
            scheduler.step()
    return rates


@pytest.mark.parametrize(
    "total_steps, options",
    [
        (100, {}),
        (37, {"pct_start": 0.25}),
        (10, {"pct_start": 0.5, "div_factor": 10.0}),
        (2000, {"pct_start": 0.15, "div_factor": 5.0, "final_div_factor": 100.0}),
    ],
)
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_one_cycle_linear_is_torchs_linear_one_cycle_lr(total_steps, options, backend):
    ours = corenn.create(
        "scheduler", "one_cycle", backend, initial_lr=0.4, total_steps=total_steps, anneal="linear", **options
    )
    reference = torch_one_cycle_rates(total_steps, 0.4, **options)
    assert [ours(step) for step in range(total_steps)] == pytest.approx(reference, rel=1e-12, abs=0)
