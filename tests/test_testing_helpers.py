"""corenn.testing's helpers: in-memory plugins, Ctrl-C at an epoch's end, a bare trainer, and the
comparison of one component across backends."""

import subprocess
import sys
import types
import unittest

import numpy as np
import pytest

import corenn
from corenn.backend import array_namespace, device_of
from corenn.errors import ConfigError, PluginError, UnknownComponentError
from corenn.nn.layers import Activation, Layer, build_initializer
from corenn.numpy_backend import NumpyBackend
from corenn.plugins import get_plugins
from corenn.run.config import config_from_dict, load_preset
from corenn.testing import (
    DEFAULT_STEP,
    BackendNotInstalled,
    InterruptAtEpochEnd,
    check_across_backends,
    numerical_gradient,
    plugin_system_from,
    plugins_in_use,
)

from suite_helpers import trainer_for


class Doubling:
    def forward(self, Z):
        return 2 * Z

    def backward(self, Z, dY):
        return 2 * dY


class DoublingPlugin:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("activation", "doubling", Doubling)


def by_name(system):
    return {info.name: info for info in system.plugins}


def test_an_in_memory_plugin_joins_the_installed_ones():
    system = plugin_system_from(DoublingPlugin)
    assert set(system.registry.names("activation")) >= {"doubling", "tanh"}
    assert set(system.registry.names("loss")) >= {"cross_entropy"}  # a built-in
    assert np.array_equal(system.registry.create("activation", "doubling").forward(np.ones(2)), [2.0, 2.0])
    info = by_name(system)["DoublingPlugin"]
    assert (info.status, info.distribution, info.version, info.warnings) == ("ok", "DoublingPlugin", "0", [])
    assert info.module == f"{__name__}:DoublingPlugin"
    assert [(entry.kind, entry.name) for entry in info.components] == [("activation", "doubling")]


def test_an_in_memory_plugin_may_name_its_distribution_and_version():
    info = by_name(plugin_system_from(DoublingPlugin, distribution="corenn-doubling", version="2.1"))["DoublingPlugin"]
    assert (info.distribution, info.version) == ("corenn-doubling", "2.1")
    assert info.as_dict()["components"] == {"activation": ["doubling"]}


def test_a_module_and_an_instance_are_plugins_too():
    module = types.ModuleType("doubling_module")

    @corenn.hookimpl
    def corenn_register_components(register):
        register("activation", "module_doubling", Doubling)

    module.corenn_register_components = corenn_register_components
    system = plugin_system_from(module, DoublingPlugin())
    assert by_name(system)["doubling_module"].module == "doubling_module"
    assert set(system.registry.names("activation")) >= {"module_doubling", "doubling"}


class MisspelledPlugin:
    @corenn.hookimpl
    def corenn_register_component(self, register):
        register("activation", "never_registered", Doubling)


def test_a_misspelled_hook_is_a_warning_and_an_error_when_strict():
    info = by_name(plugin_system_from(MisspelledPlugin))["MisspelledPlugin"]
    assert info.status == "ok" and len(info.warnings) == 1
    assert "corenn_register_component is marked with @corenn.hookimpl but is not a corenn hook" in info.warnings[0]
    assert "did you mean corenn_register_components?" in info.warnings[0]
    with pytest.raises(PluginError, match=r"plugin 'MisspelledPlugin' .*corenn_register_component is marked"):
        plugin_system_from(MisspelledPlugin, strict=True)


class TanhAgainPlugin:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("activation", "tanh", Doubling)


def test_a_name_already_registered_fails_the_in_memory_plugin_and_is_an_error_when_strict():
    system = plugin_system_from(TanhAgainPlugin)
    info = by_name(system)["TanhAgainPlugin"]
    assert info.status == "failed" and "tanh" in info.error
    assert not isinstance(system.registry.create("activation", "tanh"), Doubling)
    with pytest.raises(PluginError, match=r"plugin 'TanhAgainPlugin' .* failed"):
        plugin_system_from(TanhAgainPlugin, strict=True)


def test_plugins_in_use_serve_corenn_create_for_the_block_only():
    before = get_plugins()
    with plugins_in_use(plugin_system_from(DoublingPlugin)) as system:
        assert get_plugins() is system
        assert isinstance(corenn.create("activation", "doubling"), Doubling)
    assert get_plugins() is before
    with pytest.raises(UnknownComponentError, match="doubling"):
        corenn.create("activation", "doubling")


def test_plugins_in_use_are_put_back_when_the_block_fails():
    before = get_plugins()
    with pytest.raises(RuntimeError, match="the test's own failure"):
        with plugins_in_use(plugin_system_from(DoublingPlugin)):
            raise RuntimeError("the test's own failure")
    assert get_plugins() is before


def test_interrupt_at_epoch_end_presses_ctrl_c_at_that_epoch_only():
    callback = InterruptAtEpochEnd(2)
    callback.corenn_epoch_end(run=None, epoch=1, metrics={})
    with pytest.raises(KeyboardInterrupt):
        callback.corenn_epoch_end(run=None, epoch=2, metrics={})
    callback.corenn_epoch_end(run=None, epoch=3, metrics={})


def test_trainer_for_trains_as_a_run_does_and_records_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = config_from_dict(load_preset("iris-ffnn").to_dict() | {"epochs": 2})
    trainer = trainer_for(config)
    trainer.fit()
    assert trainer.run.run_dir is None and trainer.run.epoch == 2 and len(trainer.run.history) == 2
    assert trainer.run.step == len(trainer.run.step_losses) > 0
    assert list(tmp_path.iterdir()) == []


def test_numerical_gradient_perturbs_copies_and_leaves_the_function_at_x():
    x = np.array([1.0, -2.0, 0.5])
    x.flags.writeable = False  # never written
    given = []

    def f(value):
        given.append(value)
        return np.sum(value**3)

    np.testing.assert_allclose(numerical_gradient(f, x), 3 * x**2, rtol=1e-8)
    assert len(given) == 2 * x.size + 1 and all(value is not x for value in given[:-1])
    assert given[-1] is x  # a function that keeps its argument (forward_with_param) ends at x
    assert np.array_equal(given[0], [1.0 + DEFAULT_STEP, -2.0, 0.5])


# check_across_backends: one component on several backends. The core's test session has numpy
# alone, so a second backend is made here from numpy's own arrays and math ("mirror"), and a
# third that hands back a slightly wrong loss value ("skewed"), which the check must catch.


class Shift(Layer):
    """``Y = X * W + b``, written once (any backend), weights drawn by the Layer base."""

    name = "shift"

    def forward(self, X):
        X = self.as_input(X)
        if "W" not in self.parameters:
            init = build_initializer("normal", None)
            self.init_weights((1, X.shape[1]), init, "normal", X.dtype, device_of(X))
        self.cache["X"] = X
        return X * self.parameters["W"] + self.parameters["b"]

    def backward(self, dLdY):
        X = self.cache["X"]
        dLdY = self.as_gradient(dLdY, device_of(X))
        xp = array_namespace(X)
        self.gradients["W"] = xp.sum(dLdY * X, axis=0, keepdims=True)
        self.gradients["b"] = xp.sum(dLdY, axis=0, keepdims=True)
        return dLdY * self.parameters["W"]


class Cube(Activation):
    name = "cube"

    def forward(self, Z):
        return self.backend.as_float_array(Z) ** 3

    def backward(self, Z, dY):
        return 3 * self.backend.as_float_array(Z) ** 2 * dY


class MirrorBackend(NumpyBackend):
    """numpy's arrays and math under another name (claiming no array type: numpy's kernels run)."""

    name = "mirror"
    array_module = None


class SkewedBackend(MirrorBackend):
    """numpy's, but the loss value it hands back is one part in a million too large."""

    name = "skewed"

    def loss_value(self, mean):
        return mean.dtype.type(mean * (1 + 1e-6))


class TwoMoreBackends:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        for backend in (MirrorBackend, SkewedBackend):
            register("backend", backend.name, backend)
        register("layer", "shift", Shift, backend="any")
        register("activation", "cube", Cube, backend="any")


@pytest.fixture
def two_more_backends():
    with plugins_in_use(plugin_system_from(TwoMoreBackends)) as system:
        yield system


@pytest.mark.parametrize(
    "kind, name, options",
    [
        ("layer", "shift", {}),
        ("activation", "cube", {}),
        ("loss", "cross_entropy", {"label_smoothing": 0.1}),
        ("loss", "l2", {}),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_the_same_kernels_on_two_backends_agree_exactly(two_more_backends, kind, name, options, dtype):
    report = check_across_backends(kind, name, options, backends=("numpy", "mirror"), dtype=dtype)
    assert report.passed, report
    assert report.max_error == 0.0 and report.reference == "numpy" and report.dtype == dtype
    expected = {
        "layer": {"W (initial)", "b (initial)", "output", "dL/dX", "dL/dW", "dL/db"},
        "activation": {"output", "dL/dZ"},
        "loss": {"value", "dL/dY_hat"},
    }[kind]
    assert set(report.errors["mirror"]) == expected
    assert "passed" in str(report) and "mirror" in str(report)


def test_a_backend_that_computes_differently_fails_naming_the_array(two_more_backends):
    report = check_across_backends("loss", "l2", backends=("numpy", "mirror", "skewed"))
    assert not report.passed
    assert report.errors["mirror"] == {"value": 0.0, "dL/dY_hat": 0.0}
    assert report.errors["skewed"]["dL/dY_hat"] == 0.0
    assert report.errors["skewed"]["value"] == pytest.approx(0.5e-6, rel=1e-3)  # |a - b| / (|a| + |b|)
    assert "skewed   value" in str(report) and "FAILED" in str(report)
    # a looser tolerance lets it pass
    assert check_across_backends("loss", "l2", backends=("numpy", "skewed"), tolerance=1e-6).passed


def test_given_inputs_are_used_as_they_are(two_more_backends):
    X = np.arange(6.0).reshape(2, 3)
    report = check_across_backends("layer", "shift", inputs=X, backends=("numpy", "mirror"), perturb=False)
    assert report.passed, report
    pair = (np.eye(2), np.array([[0.9, 0.1], [0.2, 0.8]]))
    assert check_across_backends("loss", "cross_entropy", inputs=pair, backends=("mirror", "numpy")).passed


def test_a_backend_that_is_not_installed_is_a_skip_with_the_installed_ones():
    with pytest.raises(BackendNotInstalled, match=r"backend 'jax' is not installed .*installed backends: .*numpy"):
        check_across_backends("loss", "l2", backends=("numpy", "jax"))
    assert issubclass(BackendNotInstalled, unittest.SkipTest)  # what pytest reports as skipped


@pytest.mark.parametrize(
    "kind, backends, dtype, message",
    [
        (
            "scheduler",
            ("numpy", "torch"),
            "float64",
            "compares a layer, activation, loss or optimizer, not a 'scheduler'",
        ),
        ("loss", ("numpy",), "float64", "needs two or more different backends"),
        ("loss", ("numpy", "numpy"), "float64", "needs two or more different backends"),
        ("loss", ("numpy", "torch"), "int64", "float64 or float32 arrays, got dtype 'int64'"),
    ],
)
def test_what_it_cannot_compare_is_a_config_error(kind, backends, dtype, message):
    with pytest.raises(ConfigError, match=message):
        check_across_backends(kind, "l2", backends=backends, dtype=dtype)


def test_the_cross_backend_check_imports_no_backend_library():
    code = (
        "import sys, corenn.testing; from corenn.testing import check_across_backends\n"
        "try: check_across_backends('loss', 'l2', backends=('numpy', 'not-installed'))\n"
        "except Exception as exc: print(type(exc).__name__)\n"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["BackendNotInstalled", "False"], result.stderr


@pytest.mark.parametrize(
    "kind, name, options",
    [
        ("loss", "cross_entropy", {"label_smoothing": 0.1}),
        ("loss", "l2", {}),
        ("activation", "tanh", {}),
        ("layer", "fully_connected", {"n_out": 3, "activation": "relu"}),
    ],
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_numpy_and_torch_agree_where_torch_is_installed(kind, name, options, dtype):
    pytest.importorskip("torch")
    report = check_across_backends(kind, name, options, dtype=dtype)
    assert report.passed, report
    assert set(report.errors) == {"torch"} and report.errors["torch"]


def test_a_failed_report_reads_as_itself_in_an_assertion(tmp_path):
    """`assert report.passed, report` is the guides' idiom; pytest shows the message's repr,
    which was the attrs repr, cut and unreadable."""
    from corenn.testing.across_backends import CrossBackendReport
    from corenn.testing.kernel_checks import KernelCheck

    across = CrossBackendReport("loss", "l2", {}, "float64", "numpy", {"mirror": {"value": 0.5}}, 1e-10)
    kernel = KernelCheck("m:k", "numpy", "m:fast_k", 2, {"call 1, output 1": 0.5}, 1e-10)
    for report in (across, kernel):
        assert repr(report) == str(report) and str(report).endswith("FAILED")
    test = tmp_path / "test_report.py"
    test.write_text(
        "from corenn.testing.kernel_checks import KernelCheck\n"
        "def test_it():\n"
        "    report = KernelCheck('m:k', 'numpy', 'm:fast_k', 2, {'call 1, output 1': 0.5}, 1e-10)\n"
        "    assert report.passed, report\n"
    )
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 1
    assert (
        "kernel m:k: m:fast_k against the reference on numpy, 2 calls, largest relative error 5.000e-01"
        in completed.stdout
    )
    assert "call 1, output 1: 5.000e-01" in completed.stdout
