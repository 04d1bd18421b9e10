"""Declared kernels and their overrides, as plugins register them: which implementation a call
runs, and every mistake an override can make refused in one line naming the plugin.

The plugins here are in memory: their modules are made in ``sys.modules`` under a package name
of their own (``corenn_test_ops``, ...), so that who declares a kernel, who owns a backend and
who overrides what are told apart by distribution, as for installed packages.
"""

import sys
import types

import numpy as np
import pytest

import corenn
from corenn.errors import ConfigError, PluginError
from corenn.kernels import kernel, override, reference_kernels
from corenn.numpy_backend import NumpyBackend
from corenn.plugins import PluginInfo, PluginSystem
from corenn.testing import plugins_in_use


@pytest.fixture
def modules():
    """``modules(name, **attributes)`` makes an importable module; all are forgotten afterwards."""
    made = []

    def make(name, **attributes):
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        for value in attributes.values():
            if isinstance(value, types.FunctionType) and value.__module__ == __name__:
                value.__module__ = name  # defined in a test: as if defined in that module
                value.__qualname__ = value.__name__
        sys.modules[name] = module
        made.append(name)
        return module

    yield make
    for name in made:
        sys.modules.pop(name, None)


def system_with(*plugins, strict=False):
    """The installed plugins plus ``(name, distribution, module, hooks)`` plugins, loaded as a
    third party's would be."""
    system = PluginSystem(strict=strict).load()
    for name, distribution, module, hooks in plugins:
        system._add(PluginInfo(name, distribution, "1.0", module), lambda hooks=hooks: hooks)
    return system


def registering(*calls):
    """A plugin object whose registration hook makes ``register(*args, **kwargs)`` calls."""

    class Plugin:
        @corenn.hookimpl
        def corenn_register_components(self, register):
            for args, kwargs in calls:
                register(*args, **kwargs)

    return Plugin()


def declare_triple(module_name="corenn_test_ops.ops"):
    """A kernel ``triple(X, *, shift=0)`` declared in ``module_name``, its reference ``3 X + shift``."""

    def triple(X, *, shift=0):
        """``3 X + shift``."""
        return 3 * X + shift

    triple.__module__, triple.__qualname__ = module_name, "triple"
    return kernel(triple)


class MirrorBackend(NumpyBackend):
    """numpy's arrays under another backend's name, claiming no array type of its own."""

    name = "mirror"
    array_module = None


def test_a_call_runs_the_override_of_the_backend_of_its_first_argument(modules):
    triple = declare_triple()
    modules("corenn_test_ops.ops", triple=triple)

    @override(triple)
    def triple_fast(X, *, shift=0):
        return X * 3.0 + shift + 1000  # told apart from the reference by its result

    modules("corenn_test_ops.fast", triple_fast=triple_fast)
    plugin = registering((("kernels", "corenn_test_ops.fast"), {"backend": "numpy"}))
    system = system_with(("ops", "corenn-test-ops", "corenn_test_ops.plugin", plugin))
    with plugins_in_use(system):
        system.backend("numpy")
        assert triple(np.ones(2))[0] == 1003.0
        assert triple.implementation_for("numpy") is triple_fast
        with reference_kernels():
            assert triple(np.ones(2))[0] == 3.0
        assert triple(np.ones(2))[0] == 1003.0
        assert triple(2.0) == 6.0  # not an array of any backend: the reference


def test_an_override_of_something_not_declared_is_refused_in_one_line(modules):
    modules("corenn_test_ops.ops", triple=declare_triple())

    @override("corenn_test_ops.ops:tripel")
    def tripel(X, *, shift=0):
        return X

    modules("corenn_test_ops.fast", tripel=tripel)
    plugin = registering((("kernels", "corenn_test_ops.fast"), {"backend": "numpy"}))
    system = system_with(("ops", "corenn-test-ops", "corenn_test_ops.plugin", plugin))
    system.backend("numpy")
    (failed,) = system.failures()
    assert failed.name == "ops"
    assert failed.error == (
        "override of corenn_test_ops.ops:tripel: corenn_test_ops.ops declares no kernel 'tripel'; it declares triple"
    )


def test_an_override_with_other_parameters_is_refused_naming_both_signatures(modules):
    triple = declare_triple()
    modules("corenn_test_ops.ops", triple=triple)

    @override(triple)
    def triple_fast(X, shift=0):
        return 3 * X + shift

    modules("corenn_test_ops.fast", triple_fast=triple_fast)
    plugin = registering((("kernels", "corenn_test_ops.fast"), {"backend": "numpy"}))
    system = system_with(("ops", "corenn-test-ops", "corenn_test_ops.plugin", plugin))
    system.backend("numpy")
    (failed,) = system.failures()
    assert failed.error == (
        "corenn-test-ops (corenn_test_ops.fast): corenn_test_ops.fast.triple_fast(X, shift=0) does not take the "
        "parameters of the kernel it overrides, corenn_test_ops.ops:triple(X, *, shift=0)"
    )
    assert triple.implementation_for("numpy") is triple.reference  # nothing of the plugin was installed


def test_a_third_party_may_not_override_another_packages_kernel_on_a_backend_it_does_not_own(modules):
    from corenn_fc.fully_connected import fully_connected_forward

    @override(fully_connected_forward)
    def faster(X, W, b, *, compute_dtype=None):
        return X @ W + b

    modules("corenn_test_sneaky.fast", faster=faster)
    plugin = registering(
        (("kernels", "corenn_test_sneaky.fast"), {"backend": "numpy"}), (("activation", "cube", Cube), {})
    )
    system = system_with(("sneaky", "corenn-test-sneaky", "corenn_test_sneaky.plugin", plugin))
    system.backend("numpy")
    (failed,) = system.failures()
    assert failed.error == (
        "corenn-test-sneaky may not override kernel corenn_fc.fully_connected:fully_connected_forward for backend "
        "numpy (corenn_test_sneaky.fast.faster): only corenn-fc, which declares it, and corenn, whose backend it "
        "is, may"
    )
    assert "cube" not in corenn.plugins.PluginSystem.__dict__  # sanity: nothing global was touched
    assert ("activation", "cube", "numpy") not in {entry.key for entry in system.registry.entries()}


def test_a_backends_own_package_may_override_any_declared_kernel_for_it(modules):
    from corenn_fc.fully_connected import fully_connected_forward

    calls = []

    @override("corenn_fc.fully_connected:fully_connected_forward")
    def mirrored(X, W, b, *, compute_dtype=None):
        calls.append(X.shape)
        return X @ W + b

    modules("corenn_test_mirror.kernels", mirrored=mirrored, MirrorBackend=MirrorBackend)
    plugin = registering(
        (("backend", "mirror", MirrorBackend), {}),
        (("kernels", "corenn_test_mirror.kernels"), {"backend": "mirror"}),
    )
    system = system_with(("mirror", "corenn-test-mirror", "corenn_test_mirror.plugin", plugin))
    with plugins_in_use(system):
        assert system.backend("mirror") is system.backend("mirror")
        assert system.failures() == []
        assert fully_connected_forward.implementation_for("mirror") is mirrored
        layer = corenn.create("layer", "fully_connected", "mirror", n_out=2)
        assert layer.backend.name == "mirror"
        layer.forward(np.ones((3, 4)))
    # mirror claims no array type, so its numpy arrays ran numpy's implementation (the reference)
    assert calls == []


def test_the_declaring_package_may_override_its_kernel_on_any_backend(modules):
    triple = declare_triple()

    @override(triple)
    def triple_fast(X, *, shift=0):
        return X * 3.0 + shift

    modules("corenn_test_ops.ops", triple=triple)
    modules("corenn_test_ops.fast", triple_fast=triple_fast)
    plugin = registering((("kernels", "corenn_test_ops.fast"), {"backend": "numpy"}))
    system = system_with(("ops", "corenn-test-ops", "corenn_test_ops.plugin", plugin))
    system.backend("numpy")
    assert system.failures() == []
    assert triple.implementation_for("numpy") is triple_fast


def test_two_overrides_of_one_kernel_for_one_backend_are_refused_naming_both(modules):
    triple = declare_triple()

    @override(triple)
    def first(X, *, shift=0):
        return 3 * X + shift

    @override(triple)
    def second(X, *, shift=0):
        return 3 * X + shift

    modules("corenn_test_ops.ops", triple=triple)
    modules("corenn_test_ops.fast", first=first)
    modules("corenn_test_ops.faster", second=second)
    plugin = registering(
        (("kernels", "corenn_test_ops.fast"), {"backend": "numpy"}),
        (("kernels", "corenn_test_ops.faster"), {"backend": "numpy"}),
    )
    system = system_with(("ops", "corenn-test-ops", "corenn_test_ops.plugin", plugin))
    system.backend("numpy")
    (failed,) = system.failures()
    assert failed.error == (
        "kernel corenn_test_ops.ops:triple is overridden twice for backend numpy: by corenn-test-ops "
        "(corenn_test_ops.fast.first) and by corenn-test-ops (corenn_test_ops.faster.second)"
    )


def test_an_override_of_a_kernel_whose_package_is_not_installed_is_skipped(modules):
    @override("corenn_test_not_installed.ops:triple")
    def triple(X, *, shift=0):
        return 3 * X + shift

    modules("corenn_test_ops.fast", triple=triple)
    plugin = registering((("kernels", "corenn_test_ops.fast"), {"backend": "numpy"}))
    system = system_with(("ops", "corenn-test-ops", "corenn_test_ops.plugin", plugin))
    system.backend("numpy")
    assert system.failures() == []


def test_strict_mode_makes_a_refused_override_an_error(modules):
    modules("corenn_test_ops.ops", triple=declare_triple())

    @override("corenn_test_ops.ops:tripel")
    def tripel(X, *, shift=0):
        return X

    modules("corenn_test_ops.fast", tripel=tripel)
    plugin = registering((("kernels", "corenn_test_ops.fast"), {"backend": "numpy"}))
    system = system_with(("ops", "corenn-test-ops", "corenn_test_ops.plugin", plugin), strict=True)
    with pytest.raises(
        PluginError, match=r"^plugin 'ops' \(corenn-test-ops 1\.0\) failed: .*declares no kernel 'tripel'"
    ):
        system.backend("numpy")


def test_a_module_of_overrides_that_cannot_be_imported_fails_its_plugin():
    plugin = registering((("kernels", "corenn_test_nowhere.fast"), {"backend": "numpy"}))
    system = system_with(("nowhere", "corenn-test-nowhere", "corenn_test_nowhere.plugin", plugin))
    system.backend("numpy")
    (failed,) = system.failures()
    assert failed.error.startswith(
        "kernels 'corenn_test_nowhere.fast' (numpy) from corenn-test-nowhere: cannot import corenn_test_nowhere.fast"
    )


def test_an_unknown_backend_is_named_with_the_installed_ones():
    system = PluginSystem().load()
    with pytest.raises(ConfigError, match=r"^unknown backend 'jax'; installed backends: numpy"):
        system.backend("jax")


def test_a_backend_is_registered_for_itself_and_listed_by_name(modules):
    modules("corenn_test_mirror.backend", MirrorBackend=MirrorBackend)
    plugin = registering((("backend", "mirror", "corenn_test_mirror.backend:MirrorBackend"), {}))
    system = system_with(("mirror", "corenn-test-mirror", "corenn_test_mirror.plugin", plugin))
    assert "mirror" in system.registry.backends()
    info = next(info for info in system.plugins if info.name == "mirror")
    assert info.as_dict()["components"] == {"backend": ["mirror"]}
    assert system.backend("mirror").on("cpu").device == "cpu"


class Cube:
    def forward(self, Z):
        return Z**3

    def backward(self, Z, dY):
        return 3 * Z**2 * dY
