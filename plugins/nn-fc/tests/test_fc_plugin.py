"""The plugin as corenn sees it: found through its entry point, listed without imports."""

import importlib
import importlib.metadata
import json
import subprocess
import sys
import types

import pytest

import corenn
from corenn.kernels import declared_kernels
from corenn.plugins import get_backend, get_plugins
from corenn.protocols import Activation, Layer
from corenn.testing import gradcheck

ACTIVATIONS = ("linear", "sigmoid", "tanh", "arctan", "relu", "gelu", "softmax")
LAYERS = ("fully_connected", "batch_norm", "dropout", "residual", "scale")
# The kernels each module declares (beside the component that calls them), and those numpy overrides.
DECLARED_KERNELS = {
    "corenn_fc.fully_connected": ("fully_connected_forward", "fully_connected_backward"),
    "corenn_fc.activations": (
        "sigmoid_forward",
        "relu_forward",
        "relu_backward",
        "gelu_forward",
        "gelu_backward",
        "softmax_forward",
    ),
    "corenn_fc.normalization": (
        "batch_norm_forward",
        "batch_norm_backward",
        "sync_batch_norm_forward",
        "sync_batch_norm_backward",
    ),
    "corenn_fc.dropout": ("dropout_mask",),
}
NUMPY_OVERRIDES = ("relu_backward", "gelu_forward", "gelu_backward", "batch_norm_forward", "batch_norm_backward")


def test_entry_point_names_the_hook_module():
    entry_points = importlib.metadata.entry_points(group="corenn.plugins", name="fc")
    assert [ep.value for ep in entry_points] == ["corenn_fc.plugin"]
    assert next(iter(entry_points)).dist.name == "corenn-fc"


def test_plugin_loads_and_registers_its_components_as_import_strings():
    """The layers and activations are written once (backend any); numpy's overrides of their
    kernels are one module."""
    info = next(info for info in get_plugins().plugins if info.name == "fc")
    assert info.status == "ok", info.error
    assert info.distribution == "corenn-fc" and info.version == "0.1.0"
    registered = {(entry.kind, entry.name, entry.backend) for entry in info.components}
    assert registered == (
        {("layer", name, "any") for name in LAYERS}
        | {("activation", name, "any") for name in ACTIVATIONS}
        | {("kernels", "corenn_fc.fast", "numpy")}
    )
    assert all(isinstance(entry.factory, str) for entry in info.components)


def test_every_registered_factory_imports():
    for entry in corenn.list_components():
        if entry.distribution == "corenn-fc":
            loaded = entry.load()
            assert isinstance(loaded, types.ModuleType) if entry.kind == "kernels" else callable(loaded), entry


def test_the_kernels_are_declared_beside_their_components_and_numpy_overrides_some_in_fast():
    get_backend("numpy")  # installs numpy's overrides
    for module in DECLARED_KERNELS:
        importlib.import_module(module)
    declared = {
        kernel.qualified_name: kernel for kernel in declared_kernels() if kernel.qualified_name.startswith("corenn_fc.")
    }
    assert set(declared) == {f"{module}:{name}" for module, names in DECLARED_KERNELS.items() for name in names}
    overridden = {kernel.name: kernel.override_for("numpy") for kernel in declared.values()}
    assert {name for name, found in overridden.items() if found is not None} == set(NUMPY_OVERRIDES)
    assert {overridden[name].origin.rpartition(".")[0] for name in NUMPY_OVERRIDES} == {"corenn_fc.fast"}


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
