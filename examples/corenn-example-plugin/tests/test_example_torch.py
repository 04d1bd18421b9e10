"""The plugin's components on the torch backend: one class each, registered for backend "any",
agreeing with numpy array for array and in training.

Skipped where torch or corenn-torch is not installed (``nox -s example`` installs numpy alone;
``nox -s torch`` runs this file too).
"""

from pathlib import Path

import numpy as np
import pytest

import corenn
from corenn.plugins import get_backend, get_registry
from corenn.run.config import load_config
from corenn.run.train import train
from corenn.testing import check_across_backends

from corenn_example.scale_shift import ScaleShift
from corenn_example.swish import Swish

pytest.importorskip("torch", reason="the torch backend needs torch (pip install plugins/nn-torch)")
if "torch" not in get_registry().backends():
    pytest.skip("the torch backend is not installed (pip install plugins/nn-torch)", allow_module_level=True)

CONFIG = Path(__file__).resolve().parents[1] / "iris-swish.toml"


def test_the_same_classes_serve_the_torch_backend():
    swish = corenn.create("activation", "swish", "torch", beta=2.0)
    layer = corenn.create("layer", "scale_shift", "torch", activation="swish")
    assert type(swish) is Swish and swish.backend.name == "torch"
    assert type(layer) is ScaleShift and layer.backend.name == "torch" and type(layer.activation) is Swish
    assert layer.activation.backend.name == "torch"


@pytest.mark.parametrize("beta", [1.0, 2.0, 0.0, -1.5])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_swish_agrees_with_numpy(beta, dtype):
    Z = np.random.default_rng(0).normal(scale=4.0, size=(6, 5))  # saturating both ways
    report = check_across_backends("activation", "swish", {"beta": beta}, Z, dtype=dtype)
    assert report.passed, report


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"activation": "swish"},
        {"activation": {"name": "swish", "beta": 2.0}, "weight_init": "normal"},
        {"activation": "tanh", "weight_init": {"name": "uniform", "low": -2.0, "high": 2.0}},
    ],
    ids=repr,
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_scale_shift_agrees_with_numpy(options, dtype):
    report = check_across_backends("layer", "scale_shift", options, dtype=dtype)
    assert report.passed, report
    assert set(report.errors["torch"]) == {"W (initial)", "b (initial)", "output", "dL/dX", "dL/dW", "dL/db"}


def trained(backend, epochs=5):
    """The example config (swish hidden layer, scale_shift, softmax) trained on ``backend``: its
    result, every epoch's metrics and the final parameters as numpy arrays."""
    history, parameters = [], {}

    class Keep:
        @corenn.hookimpl
        def corenn_epoch_end(self, run, epoch, metrics):
            history.append({key: value for key, value in metrics.items() if key != "seconds"})

        @corenn.hookimpl
        def corenn_train_end(self, run, metrics):
            to_numpy = get_backend(backend).to_numpy
            parameters.update({name: to_numpy(value) for name, value in run.model.named_parameters().items()})

    config = load_config(CONFIG).to_dict() | {"backend": backend, "epochs": epochs}
    result = train(config, record=False, verbose=False, callbacks=[Keep()])
    return result, history, parameters


def test_training_with_swish_and_scale_shift_on_torch_matches_numpy():
    numpy_result, numpy_history, numpy_parameters = trained("numpy")
    torch_result, torch_history, torch_parameters = trained("torch")
    assert torch_result["backend"] == "torch"
    for numpy_row, torch_row in zip(numpy_history, torch_history, strict=True):
        for key, value in numpy_row.items():
            assert torch_row[key] == pytest.approx(value, rel=1e-10, abs=1e-12), key
    assert list(torch_parameters) == list(numpy_parameters)
    assert any(name.startswith("1.") for name in numpy_parameters)  # scale_shift's W and b trained too
    for name, value in numpy_parameters.items():
        np.testing.assert_allclose(torch_parameters[name], value, rtol=1e-10, atol=1e-12, err_msg=name)
    assert torch_result["test_accuracy"] == numpy_result["test_accuracy"]


def test_conv1d_forward_runs_torchs_override_and_it_gives_the_reference():
    from corenn.testing import check_kernel

    from corenn_example.conv1d import conv1d_backward, conv1d_forward
    from corenn_example.torch_kernels import conv1d_forward_torch

    get_backend("torch")
    assert conv1d_forward.implementation_for("torch") is conv1d_forward_torch
    assert conv1d_backward.implementation_for("torch") is conv1d_backward.reference  # torch has no faster one
    report = check_kernel(conv1d_forward, "torch")
    assert report.passed, report


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_conv1d_agrees_with_numpy(dtype):
    options = {"n_out": 4, "kernel_size": 3, "stride": 2, "activation": "swish"}
    report = check_across_backends("layer", "conv1d", options, input_shape=(3, 11, 2), dtype=dtype)
    assert report.passed, report


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("delta", [1.0, 0.2])
def test_huber_agrees_with_numpy(dtype, delta):
    rng = np.random.default_rng(0)
    pair = (rng.normal(size=(6, 4)), rng.normal(scale=2.0, size=(6, 4)))
    report = check_across_backends("loss", "huber", {"delta": delta}, pair, dtype=dtype)
    assert report.passed, report


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rmsprop_agrees_with_numpy_step_for_step(dtype):
    report = check_across_backends("optimizer", "rmsprop", {"lr": 0.05, "alpha": 0.9}, dtype=dtype)
    assert report.passed, report
    assert {"0.W after step 3", "state square_avg/0.W"} <= set(report.errors["torch"])


def test_rmsprops_reference_runs_on_torch_as_on_numpy():
    from corenn.testing import check_kernel

    from corenn_example.rmsprop import rmsprop_step

    report = check_kernel(rmsprop_step, "torch", reference_on_backend=True)
    assert report.passed, report
