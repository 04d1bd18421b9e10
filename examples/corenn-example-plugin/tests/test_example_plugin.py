"""The installed plugin, seen from corenn: found by its entry point, built by name, checked by gradcheck.

These tests need the distribution installed (``pip install examples/corenn-example-plugin``),
since corenn reads entry points from installed metadata.
"""

import subprocess
import sys

import pytest

import corenn
from corenn.plugins import get_plugins
from corenn.testing import gradcheck

from corenn_example.scale_shift import ScaleShift
from corenn_example.swish import Swish


def test_listed_by_corenn_with_its_components():
    info = {plugin.name: plugin for plugin in get_plugins().plugins}["example"]
    assert (info.distribution, info.status, info.error) == ("corenn-example-plugin", "ok", None)
    assert info.as_dict()["components"] == {
        "activation": ["swish [any]"],
        "layer": ["scale_shift [any]", "conv1d [any]"],
        "loss": ["huber [any]"],
        "optimizer": ["rmsprop [any]"],
        "scheduler": ["step_decay [any]"],
        "initializer": ["orthogonal [any]"],
        "dataset": ["spirals"],
        "kernels": ["corenn_example.torch_kernels [torch]"],
    }
    assert info.hooks == ["corenn_check_config", "corenn_epoch_end", "corenn_register_components"]


def test_created_by_name_with_options():
    swish = corenn.create("activation", "swish", beta=2.0)
    assert isinstance(swish, Swish) and swish.beta == 2.0
    layer = corenn.create("layer", "scale_shift", activation="swish")
    assert isinstance(layer, ScaleShift) and isinstance(layer.activation, Swish)


def test_unknown_option_names_the_allowed_ones():
    with pytest.raises(
        corenn.errors.ConfigError, match="activation 'swish' has no option 'alpha'; its options are: beta"
    ):
        corenn.create("activation", "swish", alpha=1.0)


@pytest.mark.parametrize(
    "kind, name, options",
    [
        ("activation", "swish", {}),
        ("activation", "swish", {"beta": 3.0}),
        ("layer", "scale_shift", {"activation": "swish"}),
        ("layer", "scale_shift", {"weight_init": "normal"}),
        ("layer", "conv1d", {}),  # its example_options: n_out, kernel_size and stride
        ("layer", "conv1d", {"n_out": 2, "kernel_size": 3, "weight_init": "orthogonal"}),
        ("loss", "huber", {}),
        ("loss", "huber", {"delta": 0.1}),
    ],
)
def test_gradcheck_of_the_registered_components(kind, name, options):
    report = gradcheck(kind, name, options)
    assert report.passed, report.as_dict()
    assert report.max_error <= 1e-6


def test_listing_plugins_imports_no_component_module():
    # A fresh interpreter: this test process has imported the components already.
    code = (
        "import sys, corenn.plugins as p; p.get_plugins(); "
        "print(sorted(m for m in sys.modules if m.startswith('corenn_example')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "['corenn_example', 'corenn_example.plugin', 'corenn_example.target_accuracy']"
