"""Plugin discovery with real distributions installed next to corenn (see conftest.py).

Installed: corenn-test-good (entry point ``good``: activation ``cube``, layer ``double``),
corenn-test-broken-import, corenn-test-broken-hook, corenn-test-broken-kind, corenn-test-lazy
(string factories that point nowhere), and the plugins of test_plugin_mistakes.py:
corenn-test-shadow and corenn-test-clash (first-party names), corenn-test-twin-a and -b (one
name between them), corenn-test-misspelled and corenn-test-unmarked (hooks corenn never calls)
and corenn-test-extras.
"""

import sys
import textwrap

import pytest

LIST_PLUGINS = """
import json
from corenn.plugins import PluginSystem
system = PluginSystem().load()
print(json.dumps([info.as_dict() for info in system.plugins]))
"""

BROKEN = ("broken_hook", "broken_import", "broken_kind", "clash", "shadow", "twin_a", "twin_b")
WARNED = ("misspelled", "unmarked")


def snippet(code):
    return textwrap.dedent(code).strip()


def plugins_by_name(plugin_env, **variables):
    return {info["name"]: info for info in plugin_env.python(LIST_PLUGINS, **variables)}


def test_good_plugin_is_listed_with_its_distribution(plugin_env):
    good = plugins_by_name(plugin_env)["good"]
    assert good.pop("import_seconds") < 1.0
    assert good == {
        "name": "good",
        "distribution": "corenn-test-good",
        "version": "1.2.3",
        "module": "corenn_test_good.hooks",
        "status": "ok",
        "error": None,
        "components": {"activation": ["cube"], "layer": ["double"]},
        "hooks": ["corenn_register_components"],
        "warnings": [],
        "traceback": None,
    }


def test_builtins_come_first_as_the_cores(plugin_env):
    plugins = plugin_env.python(LIST_PLUGINS)
    core = plugins[0]
    assert (core["name"], core["distribution"], core["status"]) == ("corenn", "corenn", "ok")
    assert {"cross_entropy [any]", "l2 [any]"} <= set(core["components"]["loss"])  # for every backend
    assert {"sgd [any]", "adam [any]"} <= set(core["components"]["optimizer"])
    names = [info["name"] for info in plugins[1:]]
    assert names == sorted(names)


@pytest.mark.parametrize(
    "name, distribution, version, error",
    [
        (
            "broken_import",
            "corenn-test-broken-import",
            "0.1.0",
            "RuntimeError: corenn-test-broken-import fails at import",
        ),
        (
            "broken_hook",
            "corenn-test-broken-hook",
            "0.2.0",
            "ValueError: corenn-test-broken-hook fails while registering",
        ),
        (
            "broken_kind",
            "corenn-test-broken-kind",
            "0.3.0",
            "corenn-test-broken-kind registers 'gizmo' under unknown kind 'widget'; kinds are: layer,",
        ),
        (
            "shadow",
            "corenn-test-shadow",
            "0.4.0",
            "activation 'relu' (backend numpy) belongs to corenn-fc, a first-party package, so corenn-test-shadow may not register it",
        ),
    ],
)
def test_broken_plugin_is_reported_and_skipped(plugin_env, name, distribution, version, error):
    info = plugins_by_name(plugin_env)[name]
    assert (info["distribution"], info["version"], info["status"]) == (distribution, version, "failed")
    assert info["error"].startswith(error)
    assert info["components"] == {}


def test_the_rest_keeps_working(plugin_env):
    result = plugin_env.python(
        snippet(
            """
            import json
            import numpy as np
            import corenn

            cube = corenn.create("activation", "cube")
            double = corenn.create("layer", "double")
            X = np.array([[1.0, 2.0]])
            loss = corenn.create("loss", "cross_entropy")
            dense = corenn.create("layer", "fully_connected", n_out=3, activation="relu")
            print(json.dumps({
                "cube": cube.forward(np.array([1.0, 2.0, 3.0])).tolist(),
                "double": double.forward(X).tolist(),
                "double_backward": double.backward(np.ones((1, 2))).tolist(),
                "cross_entropy": loss.forward(np.array([[0.0, 1.0]]), np.array([[0.75, 0.25]])),
                "dense_shape": list(dense.forward(np.ones((2, 4))).shape),
            }))
            """
        )
    )
    assert result["cube"] == [1.0, 8.0, 27.0]
    assert result["double"] == [[8.0, 64.0]]  # (2 X) ** 3
    assert result["double_backward"] == [[24.0, 96.0]]  # 2 * 3 (2 X) ** 2
    assert result["cross_entropy"] == pytest.approx(1.3862943611198906)  # -log(0.25)
    assert result["dense_shape"] == [2, 3]


def test_failed_plugins_register_nothing(plugin_env):
    result = plugin_env.python(
        snippet(
            """
            import json
            from corenn.errors import UnknownComponentError
            from corenn.plugins import PluginSystem

            system = PluginSystem().load()
            try:
                system.registry.create("activation", "half_registered")
                outcome = "created"
            except UnknownComponentError as error:
                outcome = str(error)
            print(json.dumps({
                "activations": system.registry.names("activation"),
                "cube_from": system.registry.get("activation", "cube").distribution,
                "in_pluggy": sorted(name for name, _ in system.manager.list_name_plugin()),
                "outcome": outcome,
            }))
            """
        )
    )
    assert "cube" in result["activations"]
    assert not {"half_registered", "kind_ok"} & set(result["activations"])
    assert result["cube_from"] == "corenn-test-good"
    assert "good" in result["in_pluggy"]
    assert not set(BROKEN) & set(result["in_pluggy"])
    assert result["outcome"].startswith("unknown activation 'half_registered' for backend numpy")


def test_strict_mode_makes_a_failure_an_error(plugin_env):
    result = plugin_env.run([sys.executable, "-c", LIST_PLUGINS], CORENN_STRICT_PLUGINS="1")
    assert result.returncode != 0
    assert "corenn.errors.PluginError: plugin 'broken_hook' (corenn-test-broken-hook 0.2.0) failed: " in result.stderr
    assert "ValueError: corenn-test-broken-hook fails while registering" in result.stderr
    assert "unset CORENN_STRICT_PLUGINS to skip failing plugins" in result.stderr


def test_strict_mode_passes_when_the_broken_plugins_are_disabled(plugin_env):
    plugins = plugins_by_name(plugin_env, CORENN_STRICT_PLUGINS="1", CORENN_DISABLE_PLUGINS=",".join(BROKEN + WARNED))
    assert {name for name, info in plugins.items() if info["status"] == "disabled"} == set(BROKEN + WARNED)
    assert {info["status"] for name, info in plugins.items() if name not in BROKEN + WARNED} == {"ok"}
    assert plugins["good"]["components"] == {"activation": ["cube"], "layer": ["double"]}


def test_disabled_plugin_is_skipped(plugin_env):
    plugins = plugins_by_name(plugin_env, CORENN_DISABLE_PLUGINS=" twin_b , broken_kind")
    for name in ("twin_b", "broken_kind"):  # listed as switched off, nothing imported nor registered
        assert (plugins[name]["status"], plugins[name]["components"]) == ("disabled", {})
    # With corenn-test-twin-b out of the way, twin_a's "twin" is no longer a clash.
    assert plugins["twin_a"]["status"] == "ok"
    assert plugins["twin_a"]["components"] == {"activation": ["twin", "only_a"]}
    assert plugins["broken_hook"]["status"] == "failed"


def test_loading_imports_no_string_factory(plugin_env):
    result = plugin_env.python(
        snippet(
            """
            import json
            import sys
            from corenn.plugins import get_plugins, create

            get_plugins()
            watched = [
                "corenn_test_good.hooks", "corenn_test_good.components", "corenn_test_lazy.hooks",
                "corenn.nn.losses", "corenn.nn.optimizers", "corenn.nn.initializers",
                "corenn_fc.fully_connected", "corenn_fc.activations", "torch",
            ]
            loaded = {name: name in sys.modules for name in watched}
            create("activation", "cube")
            print(json.dumps({"after_load": loaded, "after_create": "corenn_test_good.components" in sys.modules}))
            """
        )
    )
    assert result["after_load"] == {
        "corenn_test_good.hooks": True,
        "corenn_test_good.components": False,
        "corenn_test_lazy.hooks": True,
        "corenn.nn.losses": False,
        "corenn.nn.optimizers": False,
        "corenn.nn.initializers": False,
        "corenn_fc.fully_connected": False,
        "corenn_fc.activations": False,
        "torch": False,
    }
    assert result["after_create"] is True


@pytest.mark.parametrize(
    "name, cause",
    [
        (
            "missing_module",
            "cannot import 'corenn_test_lazy.nowhere:Thing': "
            "ModuleNotFoundError: No module named 'corenn_test_lazy.nowhere'",
        ),
        (
            "missing_attr",
            "cannot import 'corenn_test_lazy.hooks:NoSuchThing': "
            "AttributeError: module 'corenn_test_lazy.hooks' has no attribute 'NoSuchThing'",
        ),
    ],
)
def test_bad_string_factory_fails_at_create_time(plugin_env, name, cause):
    result = plugin_env.python(
        snippet(
            f"""
            import json
            import corenn
            from corenn.errors import PluginError
            from corenn.plugins import get_plugins

            status = {{info.name: info.status for info in get_plugins().plugins}}["lazy"]
            try:
                corenn.create("activation", {name!r})
                outcome = "created"
            except PluginError as error:
                outcome = str(error)
            print(json.dumps({{"status": status, "outcome": outcome}}))
            """
        )
    )
    assert result["status"] == "ok"
    assert result["outcome"] == f"activation {name!r} (numpy) from corenn-test-lazy: {cause}"


def test_listing_shows_third_party_source(plugin_env):
    text = plugin_env.python(
        snippet(
            """
            import json
            from corenn.cli.source_listings import render_listing

            print(json.dumps(render_listing(["activation:cube", "layer:double"], methods="forward")))
            """
        )
    )
    assert text == (
        "## activation `cube`: `corenn_test_good.components.Cube`\n\n"
        "```python\ndef forward(self, Z):\n    return Z**3\n```\n\n"
        "## layer `double`: `corenn_test_good.components.Double`\n\n"
        "```python\ndef forward(self, X):\n"
        "    self.n_in = self.n_out = X.shape[1]\n"
        '    self.cache["Z"] = 2 * X\n'
        '    return self.activation.forward(self.cache["Z"])\n```\n'
    )
