"""The ``corenn`` command with the throw-away distributions installed (see conftest.py)."""

import json

import pytest

BROKEN = ("broken_hook", "broken_import", "broken_kind", "clash", "shadow", "twin_a", "twin_b")
WARNED = ("misspelled", "unmarked")


def assert_no_traceback(result):
    assert "Traceback" not in result.stderr, result.stderr


def test_plugins_json_lists_good_and_broken_plugins(plugin_env):
    result = plugin_env.corenn("plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {info["name"]: info for info in json.loads(result.stdout)}
    assert plugins["good"]["distribution"] == "corenn-test-good"
    assert plugins["good"]["version"] == "1.2.3"
    assert plugins["good"]["status"] == "ok"
    assert plugins["good"]["components"] == {"activation": ["cube"], "layer": ["double"]}
    assert plugins["corenn"]["status"] == "ok"
    assert plugins["fc"]["status"] == "ok"
    for name in BROKEN:
        assert plugins[name]["status"] == "failed"
        assert plugins[name]["error"]
    assert plugins["broken_import"]["version"] == "0.1.0"
    assert "corenn-fc" in plugins["shadow"]["error"] and "corenn-test-shadow" in plugins["shadow"]["error"]


def test_plugins_table_shows_failures(plugin_env):
    result = plugin_env.corenn("plugins")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    good = next(line for line in lines if line.startswith("good "))
    assert "corenn-test-good 1.2.3" in good and good.endswith("ok")
    broken = next(line for line in lines if line.startswith("broken_import "))
    assert "corenn-test-broken-import 0.1.0" in broken
    assert "FAILED: RuntimeError: corenn-test-broken-import fails at import" in broken


def test_strict_mode_is_a_clear_error(plugin_env):
    result = plugin_env.corenn("plugins", "--json", CORENN_STRICT_PLUGINS="1")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "corenn plugins: error: plugin 'broken_hook' (corenn-test-broken-hook 0.2.0) failed: "
        "ValueError: corenn-test-broken-hook fails while registering "
        "(unset CORENN_STRICT_PLUGINS to skip failing plugins)\n"
    )


def test_strict_mode_with_the_broken_plugins_disabled(plugin_env):
    result = plugin_env.corenn(
        "plugins", "--json", CORENN_STRICT_PLUGINS="1", CORENN_DISABLE_PLUGINS=",".join(BROKEN + WARNED)
    )
    assert result.returncode == 0, result.stderr
    status = {info["name"]: info["status"] for info in json.loads(result.stdout)}
    assert status["good"] == "ok" and {status[name] for name in BROKEN} == {"disabled"}


def test_version_lists_plugin_versions(plugin_env):
    result = plugin_env.corenn("--version")
    assert result.returncode == 0, result.stderr
    assert "  good: corenn-test-good 1.2.3\n" in result.stdout
    assert "  broken_hook: corenn-test-broken-hook 0.2.0 (failed: ValueError: " in result.stdout


@pytest.mark.parametrize("kind, name", [("activation", "cube"), ("layer", "double")])
def test_gradcheck_of_a_third_party_component(plugin_env, kind, name):
    result = plugin_env.corenn("gradcheck", kind, name, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["passed"] is True
    assert report["max_error"] <= 1e-6


def test_bad_string_factory_is_a_clear_error(plugin_env):
    result = plugin_env.corenn("gradcheck", "activation", "missing_module")
    assert result.returncode == 1
    assert_no_traceback(result)
    assert result.stderr == (
        "corenn gradcheck: error: activation 'missing_module' (numpy) from corenn-test-lazy: cannot import "
        "'corenn_test_lazy.nowhere:Thing': ModuleNotFoundError: No module named 'corenn_test_lazy.nowhere'\n"
    )


def test_listing_of_a_third_party_component(plugin_env):
    result = plugin_env.corenn(
        "listing", "activation:cube", "--methods", "backward", "--format", "latex", "--level", "1"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "\\section{activation \\texttt{cube}: \\texttt{corenn\\_test\\_good.components.Cube}}\n\n"
        "\\begin{lstlisting}[language=Python]\n"
        "def backward(self, Z, dY):\n"
        "    return 3 * Z**2 * dY\n"
        "\\end{lstlisting}\n"
    )


def test_listing_of_a_failed_plugins_component_is_unknown(plugin_env):
    result = plugin_env.corenn("listing", "activation:half_registered")
    assert result.returncode == 1
    assert_no_traceback(result)
    assert result.stderr.startswith("corenn listing: error: unknown activation 'half_registered' for backend numpy")
    assert "cube" in result.stderr
