"""The registry and the plugin system, with plugin objects and entry points made in the test.

Entry points are stand-ins with the attributes corenn reads (name, value, dist, load), so
loading, ordering, failure isolation, strict mode and disabling are checked without
installing anything; test_installed_plugins.py does the same with real distributions.
"""

import importlib.metadata
import types
import warnings

import pytest

import corenn
import corenn.backend
from corenn import hookimpl, hookspecs
from corenn.errors import ConfigError, PluginError, UnknownComponentError
from corenn.numpy_backend import NumpyBackend
from corenn.plugins import PluginSystem, get_plugins, list_components, reset_plugins
from corenn.registry import KINDS, Registration, Registry, option_names


class Cube:
    def __init__(self, scale=1.0):
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        self.scale = scale

    def forward(self, Z):
        return self.scale * Z**3

    def backward(self, Z, dY):
        return 3 * self.scale * Z**2 * dY


def registration(kind, name, factory=Cube, *, backend="numpy", distribution="dist-a"):
    return Registration(kind, name, backend, factory, distribution.replace("-", "_"), distribution)


# Every hook corenn calls, as its messages list them.
ALL_HOOKS = ", ".join(sorted(name for name in dir(hookspecs) if name.startswith("corenn_")))
assert "corenn_register_components" in ALL_HOOKS and "corenn_train_end" in ALL_HOOKS


# Registry


def test_entries_and_names_are_sorted():
    registry = Registry()
    registry.add_all(
        [registration("activation", "cube"), registration("activation", "abs"), registration("loss", "l1")]
    )
    registry.add_all([registration("activation", "cube", backend="torch", distribution="dist-b")])
    assert [(e.kind, e.name, e.backend) for e in registry.entries()] == [
        ("activation", "abs", "numpy"),
        ("activation", "cube", "numpy"),
        ("activation", "cube", "torch"),
        ("loss", "l1", "numpy"),
    ]
    assert registry.names("activation") == ["abs", "cube"]
    assert [e.name for e in registry.entries("activation", "torch")] == ["cube"]
    assert registry.get("activation", "cube", "torch").distribution == "dist-b"


def test_unknown_kind_rejects_the_whole_plugin():
    registry = Registry()
    with pytest.raises(PluginError) as error:
        registry.add_all([registration("activation", "cube"), registration("widget", "gizmo")])
    assert str(error.value) == (f"dist-a registers 'gizmo' under unknown kind 'widget'; kinds are: {', '.join(KINDS)}")
    assert registry.entries() == []


def test_duplicate_across_distributions_names_both():
    registry = Registry()
    registry.add_all([registration("activation", "cube", distribution="dist-a")])
    with pytest.raises(
        PluginError, match="activation 'cube' \\(backend numpy\\) is registered twice: by dist-a and by dist-b"
    ):
        registry.add_all(
            [
                registration("loss", "l1", distribution="dist-b"),
                registration("activation", "cube", distribution="dist-b"),
            ]
        )
    assert registry.names("loss") == []


def test_duplicate_within_one_plugin():
    with pytest.raises(PluginError, match="registered twice: by dist-a and by dist-a"):
        Registry().add_all([registration("activation", "cube"), registration("activation", "cube")])


def test_same_name_on_another_backend_or_kind_is_no_duplicate():
    registry = Registry()
    registry.add_all([registration("activation", "cube"), registration("loss", "cube")])
    registry.add_all([registration("activation", "cube", backend="torch", distribution="dist-b")])
    assert len(registry.entries()) == 3


def test_get_errors_say_what_is_there():
    registry = Registry()
    registry.add_all(
        [
            registration("activation", "cube"),
            registration("activation", "abs"),
            registration("layer", "dense", backend="torch"),
        ]
    )
    for ask in (lambda: registry.get("activations", "cube"), lambda: registry.entries("activations")):
        with pytest.raises(UnknownComponentError) as info:
            ask()
        assert str(info.value) == (
            "unknown component kind 'activations' (did you mean 'activation'?); kinds are: layer, activation, "
            "loss, optimizer, scheduler, initializer, dataset, backend, kernels"
        )
    with pytest.raises(
        UnknownComponentError, match="unknown activation 'relu' for backend numpy; known activations: abs, cube"
    ):
        registry.get("activation", "relu")
    with pytest.raises(
        UnknownComponentError, match="layer 'dense' is not available on the numpy backend; backends that have it: torch"
    ):
        registry.get("layer", "dense")
    with pytest.raises(UnknownComponentError, match=r"\(none registered: is its plugin installed\?\)"):
        registry.get("optimizer", "sgd")


def test_unknown_component_is_a_config_error():
    assert issubclass(UnknownComponentError, ConfigError)


def test_create_checks_options_against_the_factory():
    registry = Registry()
    registry.add_all([registration("activation", "cube")])
    assert registry.create("activation", "cube", scale=2.0).scale == 2.0
    with pytest.raises(ConfigError, match="activation 'cube' has no option 'beta', 'gamma'; its options are: scale"):
        registry.create("activation", "cube", gamma=1, beta=2)


def test_create_turns_factory_value_errors_into_config_errors():
    registry = Registry()
    registry.add_all([registration("activation", "cube")])
    with pytest.raises(ConfigError, match="activation 'cube': scale must be > 0, got -1"):
        registry.create("activation", "cube", scale=-1)


def test_factory_with_var_keywords_takes_any_option():
    registry = Registry()
    registry.add_all([registration("loss", "anything", lambda **options: options)])
    assert registry.create("loss", "anything", a=1, b=2) == {"a": 1, "b": 2}


def test_option_names():
    def factory(n_out, activation="linear", *args, weight_init="x", **kwargs):
        pass

    def fixed(n_out, *, activation="linear"):
        pass

    assert option_names(factory) is None
    assert option_names(fixed) == ["n_out", "activation"]
    assert option_names(Cube) == ["scale"]


def test_string_factory_is_imported_on_load(monkeypatch):
    module = types.ModuleType("corenn_test_registry_factories")
    module.Outer = type("Outer", (), {"Inner": Cube})
    monkeypatch.setitem(__import__("sys").modules, module.__name__, module)
    assert registration("activation", "cube", f"{module.__name__}:Outer.Inner").load() is Cube
    assert registration("activation", "cube", Cube).load() is Cube


def test_bad_string_factories_are_plugin_errors():
    missing_module = registration("activation", "cube", "corenn_no_such_module:Cube")
    with pytest.raises(PluginError) as error:
        missing_module.load()
    assert str(error.value) == (
        "activation 'cube' (numpy) from dist-a: cannot import 'corenn_no_such_module:Cube': "
        "ModuleNotFoundError: No module named 'corenn_no_such_module'"
    )
    with pytest.raises(PluginError, match="cannot import 'corenn.registry:Nope': AttributeError: "):
        registration("activation", "cube", "corenn.registry:Nope").load()


# PluginSystem with stand-in entry points


class FakeEntryPoint:
    """What corenn reads of an ``importlib.metadata.EntryPoint``."""

    def __init__(self, name, plugin, distribution="third-party", version="1.0"):
        self.name = name
        self.value = f"{(distribution or name).replace('-', '_')}.hooks"
        self.dist = types.SimpleNamespace(name=distribution, version=version) if distribution else None
        self._plugin = plugin

    def load(self):
        if isinstance(self._plugin, Exception):
            raise self._plugin
        return self._plugin


class Registers:
    """A plugin object registering the given (kind, name, factory) triples."""

    def __init__(self, *components, fail_with=None, on_train_start=None):
        self.components = components
        self.fail_with = fail_with
        self.on_train_start = on_train_start

    @hookimpl
    def corenn_register_components(self, register):
        for kind, name, factory, *backend in self.components:
            register(kind, name, factory, **({"backend": backend[0]} if backend else {}))
        if self.fail_with is not None:
            raise self.fail_with

    @hookimpl
    def corenn_train_start(self, run):
        if self.on_train_start is not None:
            self.on_train_start(run)


@pytest.fixture
def entry_points(monkeypatch):
    """Replace the installed ``corenn.plugins`` entry points by the ones a test appends."""
    installed = []

    def fake_entry_points(*, group):
        assert group == "corenn.plugins"
        return list(installed)

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    monkeypatch.delenv("CORENN_STRICT_PLUGINS", raising=False)
    monkeypatch.delenv("CORENN_DISABLE_PLUGINS", raising=False)
    reset_plugins()
    yield installed
    reset_plugins()


def by_name(system):
    return {info.name: info for info in system.plugins}


def test_builtins_first_then_entry_points_in_name_order(entry_points):
    entry_points += [
        FakeEntryPoint("zeta", Registers(("activation", "z", Cube)), "dist-z"),
        FakeEntryPoint("alpha", Registers(("activation", "a", Cube)), "dist-a"),
    ]
    system = PluginSystem().load()
    assert [info.name for info in system.plugins] == ["corenn", "alpha", "zeta"]
    core = system.plugins[0]
    assert (core.distribution, core.module, core.version) == ("corenn", "corenn.builtins", corenn.__version__)
    assert system.registry.get("activation", "a").distribution == "dist-a"
    assert system.registry.get("loss", "cross_entropy").distribution == "corenn"


def test_plugin_info_as_dict_marks_other_backends(entry_points):
    entry_points.append(
        FakeEntryPoint(
            "cubes", Registers(("activation", "cube", Cube), ("activation", "cube", Cube, "torch")), "cubes", "2.0"
        )
    )
    info = by_name(PluginSystem().load())["cubes"]
    listed = info.as_dict()
    assert listed.pop("import_seconds") < 1.0
    assert listed == {
        "name": "cubes",
        "distribution": "cubes",
        "version": "2.0",
        "module": "cubes.hooks",
        "status": "ok",
        "error": None,
        "components": {"activation": ["cube", "cube [torch]"]},
        "hooks": ["corenn_register_components", "corenn_train_start"],
        "warnings": [],
        "traceback": None,
    }


def test_entry_point_without_distribution(entry_points):
    entry_points.append(FakeEntryPoint("orphan", Registers(("activation", "o", Cube)), distribution=None))
    info = by_name(PluginSystem().load())["orphan"]
    assert (info.distribution, info.version, info.status) == ("(unknown distribution)", "?", "ok")


def test_failures_are_isolated(entry_points):
    entry_points += [
        FakeEntryPoint("import_fails", RuntimeError("no module for you"), "dist-import"),
        FakeEntryPoint(
            "hook_fails", Registers(("activation", "partial", Cube), fail_with=KeyError("oops")), "dist-hook"
        ),
        FakeEntryPoint("shadows_builtin", Registers(("loss", "l2", Cube)), "dist-shadow"),
        FakeEntryPoint("works", Registers(("activation", "cube", Cube)), "dist-works"),
    ]
    system = PluginSystem().load()
    plugins = by_name(system)
    assert plugins["import_fails"].error == "RuntimeError: no module for you"
    assert plugins["hook_fails"].error == "KeyError: 'oops'"
    assert plugins["shadows_builtin"].error == (
        "loss 'l2' (backend numpy) belongs to corenn, a first-party package, so dist-shadow may not register it; "
        "give yours another name"
    )
    assert [info.name for info in system.failures()] == ["hook_fails", "import_fails", "shadows_builtin"]
    assert plugins["works"].status == "ok" and plugins["corenn"].status == "ok"
    assert "partial" not in system.registry.names("activation")
    assert system.registry.get("loss", "l2").distribution == "corenn"
    assert system.registry.create("activation", "cube").forward(2.0) == 8.0
    assert system.manager.get_plugin("hook_fails") is None
    assert system.manager.get_plugin("works") is not None


def test_strict_mode_raises_on_the_first_failure(entry_points, monkeypatch):
    entry_points += [
        FakeEntryPoint("works", Registers(("activation", "cube", Cube)), "dist-works"),
        FakeEntryPoint("fails", Registers(fail_with=ValueError("bad hook")), "dist-fails", "0.3"),
    ]
    monkeypatch.setenv("CORENN_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as error:
        PluginSystem().load()
    assert str(error.value) == (
        "plugin 'fails' (dist-fails 0.3) failed: ValueError: bad hook (unset CORENN_STRICT_PLUGINS to skip failing plugins)"
    )
    with pytest.raises(PluginError):
        PluginSystem(strict=True).load()


@pytest.mark.parametrize("value, strict", [("1", True), ("true", True), ("On", True), ("0", False), ("", False)])
def test_strict_switch_values(monkeypatch, value, strict):
    monkeypatch.setenv("CORENN_STRICT_PLUGINS", value)
    assert PluginSystem().strict is strict


def test_disabled_plugins_are_not_even_imported(entry_points, monkeypatch):
    entry_points += [
        FakeEntryPoint("broken", RuntimeError("would fail"), "dist-broken"),
        FakeEntryPoint("other", Registers(("activation", "o", Cube)), "dist-other"),
        FakeEntryPoint("kept", Registers(("activation", "cube", Cube)), "dist-kept"),
    ]
    monkeypatch.setenv("CORENN_DISABLE_PLUGINS", "broken, other,")
    monkeypatch.setenv("CORENN_STRICT_PLUGINS", "1")
    system = PluginSystem().load()
    assert [(info.name, info.status) for info in system.plugins] == [
        ("corenn", "ok"),
        ("broken", "disabled"),
        ("kept", "ok"),
        ("other", "disabled"),
    ]
    assert system.failures() == []
    assert system.registry.names("activation") == ["cube"]


def test_process_wide_system_reaches_third_party_components(entry_points):
    entry_points.append(FakeEntryPoint("cubes", Registers(("activation", "cube", Cube)), "dist-cubes"))
    assert corenn.create("activation", "cube", scale=3.0).forward(1.0) == 3.0
    assert [entry.name for entry in list_components("activation")] == ["cube"]
    assert get_plugins() is get_plugins()
    entry_points.clear()
    reset_plugins()
    with pytest.raises(UnknownComponentError):
        corenn.create("activation", "cube")


def test_lifecycle_hook_failure_of_a_third_party_plugin_is_a_warning(entry_points, capsys):
    calls = []

    def fail(run):
        raise RuntimeError("tracker offline")

    entry_points += [
        FakeEntryPoint("flaky", Registers(on_train_start=fail), "dist-flaky"),
        FakeEntryPoint("steady", Registers(on_train_start=calls.append), "dist-steady"),
    ]
    system = PluginSystem().load()
    system.call_hook("corenn_train_start", run="the run")
    assert capsys.readouterr().err == (
        "corenn: warning: plugin 'flaky' failed in corenn_train_start: RuntimeError: tracker offline; training goes on\n"
    )
    assert calls == ["the run"]

    strict = PluginSystem(strict=True).load()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeError, match="tracker offline"):
            strict.call_hook("corenn_train_start", run="the run")


def test_lifecycle_hook_failure_of_a_run_callback_propagates(entry_points):
    system = PluginSystem().load()

    class Callback:
        @hookimpl
        def corenn_train_start(self, run):
            raise RuntimeError("my callback is wrong")

    system.manager.register(Callback(), name="corenn-run-callback-0")
    with pytest.raises(RuntimeError, match="my callback is wrong"):
        system.call_hook("corenn_train_start", run=None)


# Precedence: first-party packages first, third-party clashes refused on both sides


def first_party_relu(distribution="corenn-fc"):
    return FakeEntryPoint("fc", Registers(("activation", "relu", Cube), ("layer", "dense", Cube)), distribution)


@pytest.mark.parametrize("entry_point_name", ["aaa", "zzz"])
def test_a_third_party_never_takes_a_first_party_name(entry_points, entry_point_name):
    entry_points += [
        FakeEntryPoint(
            entry_point_name, Registers(("activation", "relu", abs), ("activation", "leaky", Cube)), "corenn-extras"
        ),
        first_party_relu(),
    ]
    system = PluginSystem().load()
    plugins = by_name(system)
    assert plugins["fc"].status == "ok"
    assert plugins[entry_point_name].status == "failed"
    assert plugins[entry_point_name].error == (
        "activation 'relu' (backend numpy) belongs to corenn-fc, a first-party package, so corenn-extras may not "
        "register it; give yours another name"
    )
    assert system.registry.get("activation", "relu").distribution == "corenn-fc"
    assert "leaky" not in system.registry.names("activation")  # a plugin loads whole or not at all
    assert system.manager.get_plugin(entry_point_name) is None


@pytest.mark.parametrize("spelling", ["corenn-fc", "corenn_fc", "Corenn.FC"])
def test_first_party_names_are_normalized(spelling):
    from corenn.registry import is_first_party

    assert is_first_party(spelling)
    assert not is_first_party("corenn-fc-extras")


@pytest.mark.parametrize("names", [("alpha", "omega"), ("omega", "alpha")])
def test_two_third_parties_with_one_name_both_fail(entry_points, names):
    first, second = names
    entry_points += [
        FakeEntryPoint(
            first, Registers(("activation", "twin", Cube), ("activation", "only_first", Cube)), f"dist-{first}"
        ),
        FakeEntryPoint(second, Registers(("activation", "twin", abs)), f"dist-{second}"),
        FakeEntryPoint("bystander", Registers(("activation", "other", Cube)), "dist-bystander"),
    ]
    system = PluginSystem().load()
    plugins = by_name(system)
    expected = (
        "activation 'twin' (backend numpy) is registered by dist-alpha and by dist-omega, so neither gets it; "
        "uninstall one, or switch one off with CORENN_DISABLE_PLUGINS=alpha or CORENN_DISABLE_PLUGINS=omega"
    )
    assert (plugins["alpha"].status, plugins["alpha"].error) == ("failed", expected)
    assert (plugins["omega"].status, plugins["omega"].error) == ("failed", expected)
    assert plugins["bystander"].status == "ok"
    assert system.registry.names("activation") == ["other"]
    assert system.manager.get_plugin("alpha") is None and system.manager.get_plugin("omega") is None


def test_disabling_one_of_two_clashing_plugins_keeps_the_other(entry_points, monkeypatch):
    entry_points += [
        FakeEntryPoint("alpha", Registers(("activation", "twin", Cube)), "dist-alpha"),
        FakeEntryPoint("omega", Registers(("activation", "twin", abs)), "dist-omega"),
    ]
    monkeypatch.setenv("CORENN_DISABLE_PLUGINS", "omega")
    system = PluginSystem().load()
    assert by_name(system)["alpha"].status == "ok"
    assert system.registry.get("activation", "twin").distribution == "dist-alpha"


def test_unknown_component_error_points_at_plugins_with_problems(entry_points):
    entry_points.append(FakeEntryPoint("broken", RuntimeError("would fail"), "dist-broken"))
    with pytest.raises(UnknownComponentError) as error:
        corenn.create("activation", "leaky")
    assert str(error.value).endswith("; plugins with problems: broken failed (see `corenn plugins`)")


# Silent mistakes become warnings


def plugin_module(name, **functions):
    module = types.ModuleType(name)
    for attr, function in functions.items():
        setattr(module, attr, function)
    return module


def register_cube():
    """A fresh hook function each time: marking one with ``hookimpl`` marks that very function."""

    def register_components(register):
        register("activation", "cube", Cube)

    return register_components


def test_a_misspelled_hook_is_a_warning(entry_points):
    entry_points.append(
        FakeEntryPoint(
            "typo", plugin_module("typo_hooks", corenn_register_component=hookimpl(register_cube())), "dist-typo"
        )
    )
    info = by_name(PluginSystem().load())["typo"]
    assert info.status == "ok" and info.components == [] and info.hooks == []
    assert info.warnings == [
        "corenn_register_component is marked with @corenn.hookimpl but is not a corenn hook (did you mean "
        f"corenn_register_components?), so corenn never calls it; the hooks are: {ALL_HOOKS}"
    ]


def test_a_hook_without_its_marker_is_a_warning(entry_points):
    entry_points.append(
        FakeEntryPoint(
            "unmarked", plugin_module("unmarked_hooks", corenn_register_components=register_cube()), "dist-unmarked"
        )
    )
    info = by_name(PluginSystem().load())["unmarked"]
    assert info.status == "ok" and info.components == []
    assert info.warnings == ["corenn_register_components is not marked with @corenn.hookimpl, so corenn never calls it"]


def test_an_unmarked_unknown_hook_name_is_a_warning(entry_points):
    entry_points.append(
        FakeEntryPoint(
            "extra",
            plugin_module("extra_hooks", corenn_register_components=hookimpl(register_cube()), corenn_epoch_ends=print),
            "dist-extra",
        )
    )
    info = by_name(PluginSystem().load())["extra"]
    assert info.components and info.warnings[0].startswith(
        "corenn_epoch_ends is not a corenn hook (did you mean corenn_epoch_end?), so corenn never calls it"
    )


def test_a_plugin_that_implements_nothing_is_a_warning(entry_points):
    entry_points.append(FakeEntryPoint("empty", plugin_module("empty_hooks"), "dist-empty"))
    info = by_name(PluginSystem().load())["empty"]
    assert info.warnings == [f"implements no corenn hook, so it adds nothing; the hooks are: {ALL_HOOKS}"]


def test_a_plugin_with_lifecycle_hooks_only_is_fine(entry_points):
    entry_points.append(
        FakeEntryPoint(
            "logger",
            plugin_module("logger_hooks", corenn_epoch_end=hookimpl(lambda run, epoch, metrics: None)),
            "dist-logger",
        )
    )
    info = by_name(PluginSystem().load())["logger"]
    assert (info.status, info.warnings, info.hooks) == ("ok", [], ["corenn_epoch_end"])


def test_strict_mode_makes_a_warning_an_error(entry_points, monkeypatch):
    entry_points.append(
        FakeEntryPoint(
            "typo", plugin_module("typo_hooks", corenn_register_component=hookimpl(register_cube())), "dist-typo", "0.5"
        )
    )
    monkeypatch.setenv("CORENN_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as error:
        PluginSystem().load()
    assert str(error.value).startswith(
        "plugin 'typo' (dist-typo 0.5): corenn_register_component is marked with @corenn.hookimpl but is not a corenn hook"
    )
    assert str(error.value).endswith("(unset CORENN_STRICT_PLUGINS to load it anyway)")


# corenn plugins --check


class NeedsSize:
    def __init__(self, size):
        self.size = size


class DefaultActivationMissing:
    def __init__(self, activation="no_such_activation"):
        self.activation = corenn.create("activation", activation)


def test_check_components_imports_and_builds_what_it_can(entry_points):
    from corenn.cli.plugin_check import check_components

    entry_points.append(
        FakeEntryPoint(
            "mixed",
            Registers(
                ("activation", "cube", Cube),
                ("layer", "sized", NeedsSize),
                ("layer", "nowhere", "corenn_no_such_module:Thing"),
                ("layer", "bad_default", DefaultActivationMissing),
                ("dataset", "huge", lambda: 1 / 0),
            ),
            "dist-mixed",
        )
    )
    system = PluginSystem().load()
    results = {result.name: result for result in check_components(system.registry) if result.plugin == "mixed"}
    assert results["cube"].outcome == "built"
    assert (results["sized"].outcome, results["sized"].why_not_built) == (
        "unchecked",
        "needs size: declare example_options on NeedsSize to check it",
    )
    assert not results["sized"].ok  # never built, so never checked: the check does not pass it
    assert (results["huge"].outcome, results["huge"].why_not_built) == ("imported", "a data set, not loaded")
    assert results["nowhere"].outcome == "failed"
    assert results["nowhere"].error.startswith(
        "layer 'nowhere' (numpy) from dist-mixed: cannot import 'corenn_no_such_module:Thing'"
    )
    assert results["bad_default"].outcome == "failed"
    assert results["bad_default"].error.startswith(
        "building it with its default options: layer 'bad_default': unknown activation 'no_such_activation'"
    )
    assert all(result.ok for result in check_components(system.registry) if result.plugin != "mixed")


class DefaultActivationOfOneBackend:
    """Written once (backend "any"), but its default activation exists on numpy only."""

    def __init__(self, activation="numpy_only_cube"):
        self.activation = corenn.create("activation", activation, corenn.backend.current_backend())


class MirrorBackend(NumpyBackend):
    """numpy's arrays under another backend's name."""

    name = "mirror"
    array_module = None


def test_check_components_builds_a_component_written_once_on_every_backend_it_serves():
    from corenn.cli.plugin_check import check_components
    from corenn.testing import plugin_system_from, plugins_in_use

    class Mirror:
        @hookimpl
        def corenn_register_components(self, register):
            register("backend", "mirror", MirrorBackend)
            register("activation", "numpy_only_cube", Cube)
            register("activation", "any_cube", Cube, backend="any")
            register("layer", "one_backend_default", DefaultActivationOfOneBackend, backend="any")

    with plugins_in_use(plugin_system_from(Mirror)) as system:
        results = {result.name: result for result in check_components(system.registry) if result.plugin == "Mirror"}
    assert results["any_cube"].outcome == "built"
    assert results["one_backend_default"].outcome == "failed"
    assert results["one_backend_default"].error.startswith(
        "building it with its default options on backend mirror: layer 'one_backend_default': activation "
        "'numpy_only_cube' is not available on the mirror backend; backends that have it: numpy"
    )


# Components written once (backend "any") and the backends they serve


def backend_registration(name, backend_class=NumpyBackend, distribution="corenn"):
    return Registration("backend", name, name, backend_class, distribution, distribution)


def any_registration(name, factory=Cube, *, distribution="dist-a", kind="activation"):
    return Registration(kind, name, "any", factory, distribution.replace("-", "_"), distribution)


def registry_with_backends(*names):
    registry = Registry()
    registry.add_all([backend_registration(name) for name in ("numpy", *names)])
    return registry


def test_a_component_for_any_backend_serves_each_installed_backend():
    registry = registry_with_backends("mirror")
    registry.add_all([any_registration("cube")])
    assert registry.get("activation", "cube", "numpy").backend == "any"
    assert registry.get("activation", "cube", "mirror").backend == "any"
    assert [entry.name for entry in registry.entries("activation", backend="mirror")] == ["cube"]
    assert registry.backends() == ["mirror", "numpy"]


def test_a_component_for_any_backend_is_built_for_the_backend_asked():
    from corenn.nn.component import Component
    from corenn.testing import plugin_system_from, plugins_in_use

    class Recorder(Component):
        pass

    class Mirror:
        @hookimpl
        def corenn_register_components(self, register):
            register("backend", "mirror", MirrorBackend)
            register("activation", "recorder", Recorder, backend="any")

    with plugins_in_use(plugin_system_from(Mirror)) as system:
        assert isinstance(system.registry.create("activation", "recorder", "mirror").backend, MirrorBackend)
        assert system.registry.create("activation", "recorder", "numpy").backend.name == "numpy"
        assert Recorder().backend.name == "numpy"  # built directly: numpy's


def test_a_backend_nothing_is_registered_for_is_an_unknown_backend():
    registry = registry_with_backends()
    registry.add_all([any_registration("cube")])
    with pytest.raises(UnknownComponentError, match=r"^unknown backend 'trch' for activation 'cube'; backends: numpy$"):
        registry.get("activation", "cube", "trch")


def test_a_registration_for_one_backend_takes_precedence_over_the_same_plugins_any():
    registry = registry_with_backends("mirror")

    class FasterOnMirror(Cube):
        pass

    registry.add_all(
        [any_registration("cube"), Registration("activation", "cube", "mirror", FasterOnMirror, "dist_a", "dist-a")]
    )
    assert registry.get("activation", "cube", "mirror").factory is FasterOnMirror
    assert registry.get("activation", "cube", "numpy").factory is Cube


def test_another_distribution_may_not_override_a_component_for_any_backend_on_one_backend():
    registry = registry_with_backends()
    registry.add_all([any_registration("cube", distribution="dist-a")])
    with pytest.raises(PluginError, match=r"registered twice: by dist-a and by dist-b"):
        registry.add_all([registration("activation", "cube", backend="numpy", distribution="dist-b")])
    with pytest.raises(
        PluginError, match=r"belongs to corenn-fc, a first-party package, so dist-b may not register it"
    ):
        registry.add_all(
            [
                any_registration("relu", distribution="corenn-fc"),
                registration("activation", "relu", distribution="dist-b"),
            ]
        )


def test_backends_and_modules_of_overrides_are_not_built_by_create():
    registry = registry_with_backends()
    with pytest.raises(
        ConfigError, match=r"^a backend registration is not built with create\(\); a backend is made by"
    ):
        registry.create("backend", "numpy", "numpy")


def test_the_kernels_option_of_registrations_before_declared_kernels_is_a_warning():
    from corenn.testing import plugin_system_from

    class OldStyle:
        @hookimpl
        def corenn_register_components(self, register):
            register("activation", "cube", Cube, backend="any", kernels=("shift",))

    system = plugin_system_from(OldStyle)
    info = next(info for info in system.plugins if info.name == "OldStyle")
    assert info.status == "ok"
    assert info.warnings == [
        "activation 'cube' is registered with kernels=..., which corenn no longer reads: the kernels a component "
        "calls are declared (corenn.kernels) and run on every backend; drop it"
    ]
    with pytest.raises(PluginError, match=r"kernels=\.\.\., which corenn no longer reads"):
        plugin_system_from(OldStyle, strict=True)


def test_two_plugins_of_one_entry_point_name_both_fail_naming_each_other(entry_points):
    """pluggy knows a plugin by its entry-point name: the second once failed with pluggy's
    "Plugin name already registered" and a dump of every plugin, and the first stayed loaded."""
    entry_points.append(FakeEntryPoint("twin", Registers(("activation", "cube_a", Cube)), "dist-a", "1.0"))
    entry_points.append(FakeEntryPoint("twin", Registers(("activation", "cube_b", Cube)), "dist-b", "2.0"))
    entry_points.append(FakeEntryPoint("fc", Registers(("activation", "cube_f", Cube)), "corenn-fc", "0.1"))
    entry_points.append(FakeEntryPoint("fc", Registers(("activation", "cube_c", Cube)), "dist-c", "3.0"))
    system = PluginSystem().load()
    infos = {(info.name, info.distribution): info for info in system.plugins}
    for (name, distribution), other in (
        (("twin", "dist-a"), "dist-b 2.0"),
        (("twin", "dist-b"), "dist-a 1.0"),
    ):
        info = infos[(name, distribution)]
        assert (info.status, info.error) == (
            "failed",
            f"its entry-point name 'twin' is also {other}'s: a plugin is known by that name, so rename the entry "
            'point in your package\'s [project.entry-points."corenn.plugins"]',
        )
    assert "cube_a" not in system.registry.names("activation")
    # corenn's own plugin keeps its name; the third party's fails
    assert infos[("fc", "corenn-fc")].status == "ok" and "cube_f" in system.registry.names("activation")
    assert infos[("fc", "dist-c")].error.startswith("its entry-point name 'fc' is also corenn-fc 0.1's: ")


def test_an_entry_point_naming_a_function_says_it_must_name_the_module(entry_points):
    def corenn_register_components(register):
        register("activation", "cube", Cube)

    entry_points.append(FakeEntryPoint("hooks_function", corenn_register_components, "dist-function"))
    system = PluginSystem().load()
    info = next(info for info in system.plugins if info.name == "hooks_function")
    assert info.warnings == [
        "its entry point names a function (dist_function.hooks); it must name the plugin's module (or an object "
        'holding its hook functions), as in name = "package.plugin"'
    ]
