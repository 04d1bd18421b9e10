"""The plugin as corenn sees it: its entry point, its registrations, listing without torch."""

import importlib.metadata
import json
import subprocess
import sys

import pytest

import corenn
from corenn.errors import ConfigError
from corenn.plugins import get_plugins
from corenn.protocols import Activation, Layer, Loss, Optimizer, Scheduler

SHARED_KINDS = ("layer", "activation", "loss", "optimizer", "scheduler", "initializer")
# the numpy backend's own distributions (third-party plugins may add numpy-only components, or
# components for every backend, like the example plugin's)
NUMPY_BACKEND = ("corenn", "corenn-fc", "corenn-conv")
FIRST_PARTY = (*NUMPY_BACKEND, "corenn-torch")


def first_party_names(kind, backend):
    """The names of corenn's own components of ``kind`` that serve ``backend``."""
    return sorted(entry.name for entry in corenn.list_components(kind, backend) if entry.distribution in FIRST_PARTY)


def test_entry_point_names_the_hook_module():
    entry_points = importlib.metadata.entry_points(group="corenn.plugins", name="torch")
    assert [ep.value for ep in entry_points] == ["corenn_torch.plugin"]
    assert next(iter(entry_points)).dist.name == "corenn-torch"


def test_plugin_loads_and_registers_only_torch_components_as_import_strings():
    info = next(info for info in get_plugins().plugins if info.name == "torch")
    assert info.status == "ok", info.error
    assert info.distribution == "corenn-torch" and info.version == "0.1.0"
    assert {entry.backend for entry in info.components} == {"torch"}
    assert all(isinstance(entry.factory, str) for entry in info.components)


@pytest.mark.parametrize("kind", SHARED_KINDS)
def test_the_torch_backend_has_every_component_the_numpy_backend_has(kind):
    numpy_names = first_party_names(kind, "numpy")
    assert numpy_names, f"no numpy {kind}s registered: are corenn-fc and corenn-conv installed?"
    assert first_party_names(kind, "torch") == numpy_names


def test_the_full_course_set_is_there():
    assert first_party_names("layer", "torch") == [
        "batch_norm",
        "conv2d",
        "dropout",
        "flatten",
        "fully_connected",
        "patch_whitening",
        "pool2d",
        "residual",
        "scale",
    ]
    assert first_party_names("activation", "torch") == [
        "arctan",
        "gelu",
        "linear",
        "relu",
        "sigmoid",
        "softmax",
        "tanh",
    ]
    assert first_party_names("loss", "torch") == ["cross_entropy", "l2"]
    assert first_party_names("optimizer", "torch") == ["adam", "sgd"]
    assert first_party_names("scheduler", "torch") == ["constant", "cosine", "exponential", "one_cycle"]
    assert len(first_party_names("initializer", "torch")) == 12


def test_every_registered_factory_imports_and_takes_the_numpy_options():
    from corenn.registry import option_names

    registry = corenn.plugins.get_registry()
    for entry in corenn.list_components(backend="torch"):
        if entry.kind in ("backend", "kernels"):
            continue  # no options
        factory = entry.load()
        assert callable(factory), entry
        numpy_factory = registry.get(entry.kind, entry.name, "numpy").load()
        assert option_names(factory) == option_names(numpy_factory), entry


def test_listing_plugins_never_imports_torch():
    code = (
        "import sys, json, corenn; from corenn.plugins import get_plugins; "
        "system = get_plugins(); corenn.list_components(); "
        "print(json.dumps({'torch_loaded': 'torch' in sys.modules, "
        "'status': [p.status for p in system.plugins if p.name == 'torch'], "
        "'modules': sorted(m for m in sys.modules if m.startswith('corenn_torch'))}))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    result = json.loads(output)
    assert result["status"] == ["ok"]
    assert result["torch_loaded"] is False
    assert result["modules"] == ["corenn_torch", "corenn_torch.plugin"]


def test_the_cli_listing_never_imports_torch():
    code = (
        "import sys, contextlib, io; from corenn.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try: main(['plugins'])\n"
        "    except SystemExit: pass\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr


@pytest.mark.parametrize(
    "kind, name, options, protocol",
    [
        ("layer", "fully_connected", {"n_out": 3, "activation": "relu"}, Layer),
        ("layer", "conv2d", {"n_out": 2, "kernel_shape": 3}, Layer),
        ("layer", "pool2d", {"kernel_shape": 2}, Layer),
        ("layer", "flatten", {}, Layer),
        ("activation", "softmax", {}, Activation),
        ("loss", "cross_entropy", {}, Loss),
        ("optimizer", "adam", {"lr": 0.01}, Optimizer),
        ("scheduler", "exponential", {"initial_lr": 0.1}, Scheduler),
    ],
)
def test_create_builds_components_that_follow_the_protocols(kind, name, options, protocol):
    assert isinstance(corenn.create(kind, name, "torch", **options), protocol)


def test_an_initializer_draws_numpy_weights_that_torch_layers_turn_into_tensors():
    import numpy as np
    import torch

    init = corenn.create("initializer", "he_normal", "torch", activation="relu")
    weights = init((3, 4), np.random.default_rng(0))
    assert isinstance(weights, np.ndarray) and weights.dtype == np.float64 and weights.shape == (3, 4)
    layer = corenn.create("layer", "fully_connected", "torch", n_out=4, activation="relu", weight_init="he_normal")
    layer.rng = np.random.default_rng(0)
    layer.forward(torch.zeros((2, 3), dtype=torch.float64))
    W = layer.parameters["W"]
    assert torch.is_tensor(W) and W.dtype == torch.float64 and tuple(W.shape) == (3, 4)
    np.testing.assert_array_equal(W.numpy(), weights)


def test_layers_build_their_activation_on_the_torch_backend():
    import numpy as np
    import torch

    layer = corenn.create("layer", "fully_connected", "torch", n_out=2, activation="tanh")
    assert layer.backend.name == "torch" and layer.activation.backend.name == "torch"
    assert torch.is_tensor(layer.forward(np.ones((1, 3))))


@pytest.mark.parametrize(
    "kind, name, options",
    [
        ("layer", "fully_connected", {"n_out": 0}),
        ("layer", "conv2d", {"n_out": 2, "kernel_shape": (3, 0)}),
        ("layer", "conv2d", {"n_out": 2, "kernel_shape": 3, "pad": "full"}),
        ("layer", "conv2d", {"n_out": 2, "kernel_shape": 3, "stride": -1}),
        ("layer", "conv2d", {"n_out": 2, "kernel_shape": 3, "dilation": 2}),
        ("layer", "pool2d", {"kernel_shape": 2, "mode": "median"}),
        ("layer", "pool2d", {"kernel_shape": 2, "pad": (1, 2, 3)}),
        ("optimizer", "sgd", {"momentum": 1.5}),
        ("optimizer", "adam", {"lr": -1}),
        ("optimizer", "sgd", {"clip_norm": 0}),
        ("scheduler", "exponential", {"initial_lr": 0.1, "decay": 2}),
        ("initializer", "uniform", {"low": 1.0, "high": 0.0}),
        ("initializer", "normal", {"scale": 1.0}),
    ],
)
def test_bad_options_give_the_numpy_backends_config_error(kind, name, options):
    with pytest.raises(ConfigError) as numpy_error:
        corenn.create(kind, name, "numpy", **options)
    with pytest.raises(ConfigError) as torch_error:
        corenn.create(kind, name, "torch", **options)
    assert str(torch_error.value) == str(numpy_error.value)


@pytest.mark.parametrize("option, kind", [("activation", "activation"), ("weight_init", "initializer")])
def test_an_unknown_component_name_in_a_layer_is_looked_up_on_the_torch_backend(option, kind):
    from corenn.errors import UnknownComponentError

    with pytest.raises(UnknownComponentError, match=f"unknown {kind} 'no_such_thing' for backend torch"):
        corenn.create("layer", "fully_connected", "torch", n_out=2, **{option: "no_such_thing"})
