"""corenn.testing's helpers for tests that train: in-memory plugins, Ctrl-C at an epoch's end, a bare trainer."""

import types

import numpy as np
import pytest

import corenn
from corenn.errors import PluginError, UnknownComponentError
from corenn.plugins import get_plugins
from corenn.run.config import config_from_dict, load_preset
from corenn.testing import InterruptAtEpochEnd, plugin_system_from, plugins_in_use, trainer_for


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
