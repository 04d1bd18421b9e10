"""The plugin as corenn sees it: entry point, registrations, lazy imports."""

import subprocess
import sys

import corenn
from corenn.plugins import get_backend, get_registry

from corenn_conv import conv2d, pool2d, whitening


def test_registers_the_three_layers_on_numpy_from_this_distribution():
    entries = {entry.name: entry for entry in corenn.list_components("layer", backend="numpy")}
    for name, attr in (("conv2d", "Conv2D"), ("pool2d", "Pool2D"), ("flatten", "Flatten")):
        assert entries[name].distribution == "corenn-conv"
        assert entries[name].factory == f"corenn_conv.{name}:{attr}"


def test_the_layers_are_written_once_and_numpys_faster_kernels_registered_here():
    registry = get_registry()
    for name in ("conv2d", "pool2d", "flatten", "patch_whitening"):
        entry = registry.get("layer", name, "numpy")
        assert entry.backend == "any", name
    overrides = registry.get("kernels", "corenn_conv.fast", "numpy")
    assert (overrides.distribution, overrides.factory) == ("corenn-conv", "corenn_conv.fast")


def test_numpy_runs_the_fast_versions_of_the_kernels_declared_with_the_layers():
    get_backend("numpy")
    fast = {
        (conv2d, "conv2d_forward"): "conv2d_forward_im2col",
        (conv2d, "conv2d_backward"): "conv2d_backward_im2col",
        (pool2d, "pool2d_forward"): "pool2d_forward_in_place",
        (pool2d, "pool2d_backward"): "pool2d_backward_in_place",
        (whitening, "patch_whitening_covariance"): "patch_whitening_covariance_chunked",
    }
    for (module, name), override in fast.items():
        kernel = getattr(module, name)
        assert kernel.qualified_name == f"{module.__name__}:{name}"
        installed = kernel.override_for("numpy")
        assert (installed.distribution, installed.origin) == ("corenn-conv", f"corenn_conv.fast.{override}")


def test_a_layer_is_built_for_the_backend_asked_for():
    layer = corenn.create("layer", "conv2d", "numpy", n_out=2, kernel_shape=3)
    assert layer.backend.name == "numpy"


def test_listing_plugins_imports_no_layer_code():
    code = (
        "import sys, corenn; corenn.list_components('layer'); "
        "print(sorted(m for m in sys.modules if m.startswith('corenn_conv.') and m != 'corenn_conv.plugin'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
