"""The plugin as corenn sees it: entry point, registrations, lazy imports."""

import subprocess
import sys

import corenn


def test_registers_the_three_layers_on_numpy_from_this_distribution():
    entries = {entry.name: entry for entry in corenn.list_components("layer", backend="numpy")}
    for name, attr in (("conv2d", "Conv2D"), ("pool2d", "Pool2D"), ("flatten", "Flatten")):
        assert entries[name].distribution == "corenn-conv"
        assert entries[name].factory == f"corenn_conv.{name}:{attr}"


def test_listing_plugins_imports_no_layer_code():
    code = (
        "import sys, corenn; corenn.list_components('layer'); "
        "print(sorted(m for m in sys.modules if m.startswith('corenn_conv.') and m != 'corenn_conv.plugin'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
