"""The plugin as corenn sees it: found through its entry point, listed without imports."""

import importlib.metadata
import json
import subprocess
import sys

import pytest

import corenn
from corenn.plugins import get_plugins
from corenn.protocols import Activation, Layer
from corenn.testing import gradcheck

ACTIVATIONS = ("linear", "sigmoid", "tanh", "arctan", "relu", "gelu", "softmax")
LAYERS = ("fully_connected", "batch_norm", "dropout", "residual", "scale")
KERNELS = (
    "fully_connected_forward",
    "sigmoid_forward",
    "relu_forward",
    "relu_backward",
    "gelu_forward",
    "gelu_backward",
    "softmax_forward",
    "batch_norm_forward",
    "batch_norm_backward",
    "dropout_mask",
)


def test_entry_point_names_the_hook_module():
    entry_points = importlib.metadata.entry_points(group="corenn.plugins", name="fc")
    assert [ep.value for ep in entry_points] == ["corenn_fc.plugin"]
    assert next(iter(entry_points)).dist.name == "corenn-fc"


def test_plugin_loads_and_registers_its_components_as_import_strings():
    """The layers and activations are written once (backend any); the kernels are numpy's."""
    info = next(info for info in get_plugins().plugins if info.name == "fc")
    assert info.status == "ok", info.error
    assert info.distribution == "corenn-fc" and info.version == "0.1.0"
    registered = {(entry.kind, entry.name, entry.backend) for entry in info.components}
    assert registered == (
        {("layer", name, "any") for name in LAYERS}
        | {("activation", name, "any") for name in ACTIVATIONS}
        | {("kernel", name, "numpy") for name in KERNELS}
    )
    assert all(isinstance(entry.factory, str) for entry in info.components)


def test_every_registered_factory_imports():
    for entry in corenn.list_components():
        if entry.distribution == "corenn-fc":
            assert callable(entry.load()), entry


def test_each_component_lists_the_kernels_it_calls_and_numpy_has_them_all():
    registry = get_plugins().registry
    listed = set()
    for entry in corenn.list_components():
        if entry.distribution == "corenn-fc" and entry.kind != "kernel":
            assert not registry.missing_kernels(entry, "numpy"), entry
            listed.update(entry.kernels)
    assert listed == set(KERNELS)


def test_listing_imports_none_of_the_component_modules():
    code = (
        "import sys, json, corenn; corenn.list_components(); "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('corenn_fc'))))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(output) == ["corenn_fc", "corenn_fc.plugin"]


def test_create_builds_a_working_layer_through_the_entry_point():
    layer = corenn.create("layer", "fully_connected", n_out=3, activation="relu")
    assert isinstance(layer, Layer)
    assert layer.n_out == 3 and isinstance(layer.activation, Activation)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_create_builds_each_activation(name):
    activation = corenn.create("activation", name)
    assert isinstance(activation, Activation) and activation.name == name


def test_gradcheck_uses_the_layer_example_input_shape():
    report = gradcheck("layer", "fully_connected", {"n_out": 2, "activation": "tanh"})
    assert report.input_shape == (4, 5)
    assert report.passed, report.errors
