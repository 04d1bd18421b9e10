"""The plugin as corenn sees it: entry point, registrations, lazy imports."""

import subprocess
import sys

import corenn
from corenn.plugins import get_registry


def test_registers_the_three_layers_on_numpy_from_this_distribution():
    entries = {entry.name: entry for entry in corenn.list_components("layer", backend="numpy")}
    for name, attr in (("conv2d", "Conv2D"), ("pool2d", "Pool2D"), ("flatten", "Flatten")):
        assert entries[name].distribution == "corenn-conv"
        assert entries[name].factory == f"corenn_conv.{name}:{attr}"


def test_the_layers_are_written_once_and_the_numpy_kernels_registered_here():
    registry = get_registry()
    kernels = {
        "conv2d": ("conv2d_forward", "conv2d_backward"),
        "pool2d": ("pool2d_forward", "pool2d_backward"),
        "flatten": (),
        "patch_whitening": ("conv2d_forward", "conv2d_backward", "patch_whitening_covariance"),
    }
    for name, needed in kernels.items():
        entry = registry.get("layer", name, "numpy")
        assert (entry.backend, entry.kernels) == ("any", needed), name
        for kernel in needed:
            registration = registry.get("kernel", kernel, "numpy")
            assert registration.distribution == "corenn-conv"
            assert registration.factory == f"corenn_conv.kernels:{kernel}"


def test_a_layer_is_built_for_the_backend_asked_for():
    layer = corenn.create("layer", "conv2d", "numpy", n_out=2, kernel_shape=3)
    assert layer.backend.name == "numpy" and layer.kernels.backend == "numpy"


def test_listing_plugins_imports_no_layer_code():
    code = (
        "import sys, corenn; corenn.list_components('layer'); "
        "print(sorted(m for m in sys.modules if m.startswith('corenn_conv.') and m != 'corenn_conv.plugin'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
