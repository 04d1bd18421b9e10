"""Issue 21's deliberate-mistake table: each mistake a plugin author can make, made by a real
installed distribution (``mistakes/``, see conftest.py's ``mistake_env``), and what the user sees.

- corenn-test-mistakes (``mistakes``): a dense layer written right (``dense``) and with one
  mistake each: ``padded_dx`` (dL/dX a column too wide), ``wrong_dw`` (dL/dW divided by the
  batch size: the right shape, the wrong values), ``wrong_bias_shape`` (dL/db of shape (n,) for
  a (1, n) bias) and ``typo_forward`` (``self.paramters``); and a second numpy backend,
  ``numpy_twin``, so that ``check_across_backends`` runs without torch;
- corenn-test-bad-signature (``bad_signature``) and corenn-test-undeclared-override
  (``undeclared``): numpy overrides of their layer's kernel, one whose parameters differ from the
  kernel's, one naming a kernel that is not declared (a typo). What replaced "a kernel the layer
  calls but does not list in ``kernels=``": kernels are declared with a reference that runs on
  every backend, so no kernel can be missing; an override is checked when its backend is made;
- corenn-test-slow (``slow``): sleeps 0.6 s at import;
- corenn-test-noisy-hook (``noisy_hook``): ``corenn_step_end`` raises at every step and
  ``corenn_epoch_end`` empties the metrics (issue 22, hole 13);
- an import-time exception is corenn-test-broken-import, installed with the other discovery
  distributions (``plugin_env``).
"""

import json
import textwrap

import pytest

IRIS = """
name = "mistake"
epochs = 2
[dataset]
name = "iris"
batch_size = 25
[optimizer]
name = "sgd"
lr = 0.02
"""
OUTPUT = '[[layers]]\nname = "fully_connected"\nn_out = "auto"\nactivation = "softmax"\n'
MISTAKES = "corenn-test-mistakes"


def train(env, tmp_path, layer, *args, **variables):
    config = tmp_path / "config.toml"
    config.write_text(IRIS + f'[[layers]]\nname = "{layer}"\nn_out = 8\n' + OUTPUT)
    return env.corenn("train", "--config", str(config), "--out", str(tmp_path / "runs"), "--quiet", *args, **variables)


def one_error_line(result):
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def plugin_line(result, name):
    return next(line for line in result.stdout.splitlines() if line.startswith(f"{name}  "))


def check_failures(result):
    """The ``check FAILED: ...`` lines of ``corenn plugins --check``."""
    return [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("check FAILED:")]


@pytest.fixture(scope="module")
def mistakes_check(mistake_env):
    """``corenn plugins --check`` with corenn-test-mistakes alone of the mistakes installed."""
    return mistake_env.corenn("plugins", "--check", **mistake_env.only("mistakes"))


def run_python(env, code, **variables):
    return env.python(textwrap.dedent(code), **variables)


# Row 1: a backward returning dL/dX of the wrong shape (a padded dX)


def test_padded_dx_fails_plugins_check(mistakes_check):
    assert mistakes_check.returncode == 1
    assert (
        "check FAILED: layer 'padded_dx' (numpy): gradient check on numpy: layer padded_dx, from corenn-test-mistakes: "
        "backward returned dL/dX of shape (4, 6); it must have the shape of the layer's input, (4, 5)"
    ) in check_failures(mistakes_check)


def test_padded_dx_fails_check_across_backends(mistake_env):
    """Before: passed, since both backends padded it alike."""
    report = run_python(
        mistake_env,
        """
        import json
        from corenn.testing import check_across_backends
        report = check_across_backends("layer", "padded_dx", {"n_out": 3}, backends=("numpy", "numpy_twin"))
        print(json.dumps([report.passed, list(report.failures)]))
        """,
        **mistake_env.only("mistakes"),
    )
    assert report == [
        False,
        [
            "numpy backward returned dL/dX of shape (4, 6); it must have the shape of the layer's input, (4, 5)",
            "numpy_twin backward returned dL/dX of shape (4, 6); it must have the shape of the layer's input, (4, 5)",
        ],
    ]


def test_padded_dx_in_training_names_the_layer(mistake_env, tmp_path):
    line = one_error_line(train(mistake_env, tmp_path, "padded_dx", **mistake_env.only("mistakes")))
    assert line == (
        "corenn train: error: layers[0] (padded_dx, from corenn-test-mistakes): backward returned dL/dX of shape "
        "(25, 5); it must have the shape of the layer's input, (25, 4)"
    )


# Row 2: a wrong dW of the right shape


def test_wrong_dw_fails_plugins_check(mistakes_check):
    """Before: ``corenn plugins --check`` built it, said nothing of its gradients and exited 0."""
    failures = [line for line in check_failures(mistakes_check) if "'wrong_dw'" in line]
    assert failures == [
        f"check FAILED: layer 'wrong_dw' ({backend}): gradient check on {backend}: dL/dW differs from finite "
        "differences by a relative error of 6.000e-01 (above 1e-06) at random parameters and inputs"
        for backend in ("numpy", "numpy_twin")
    ]


def test_wrong_dw_fails_check_layer_conformance(mistake_env):
    """Before: check_layer_conformance passed it (every shape is right)."""
    message = run_python(
        mistake_env,
        """
        import json
        import corenn
        from corenn.testing import check_layer_conformance
        try:
            check_layer_conformance(lambda: corenn.create("layer", "wrong_dw", n_out=3))
        except AssertionError as exc:
            print(json.dumps(str(exc)))
        """,
        **mistake_env.only("mistakes"),
    )
    assert message.startswith(
        "WrongWeightGradient (wrong_dw) on numpy: dL/dW differs from finite differences by a relative error of "
        "6.000e-01 (tolerance 1e-06) at random parameters and inputs"
    )


def test_the_right_dense_layer_passes_every_check(mistakes_check, mistake_env):
    assert not [line for line in check_failures(mistakes_check) if "'dense'" in line]
    passed = run_python(
        mistake_env,
        """
        import json
        import corenn
        from corenn.testing import check_across_backends, check_layer_conformance
        check_layer_conformance(lambda: corenn.create("layer", "dense", n_out=3))
        report = check_across_backends("layer", "dense", {"n_out": 3}, backends=("numpy", "numpy_twin"))
        print(json.dumps(report.passed))
        """,
        **mistake_env.only("mistakes"),
    )
    assert passed is True


# Row 3: a bias gradient of the wrong shape


def test_wrong_bias_shape_fails_plugins_check(mistakes_check):
    """Before: built, and passed."""
    assert (
        "check FAILED: layer 'wrong_bias_shape' (numpy): gradient check on numpy: layer wrong_bias_shape, from "
        "corenn-test-mistakes: backward made gradients['b'] of shape (3,); it must have the shape of "
        "parameters['b'], (1, 3)"
    ) in check_failures(mistakes_check)


def test_wrong_bias_shape_in_training_names_the_layer(mistake_env, tmp_path):
    line = one_error_line(train(mistake_env, tmp_path, "wrong_bias_shape", **mistake_env.only("mistakes")))
    assert line == (
        "corenn train: error: layers[0] (wrong_bias_shape, from corenn-test-mistakes): backward made "
        "gradients['b'] of shape (8,); it must have the shape of parameters['b'], (1, 8)"
    )


# Row 4: a kernel override with the wrong signature, or for a kernel that is not declared


@pytest.mark.parametrize(
    "plugin, distribution, error",
    [
        (
            "bad_signature",
            "corenn-test-bad-signature 0.5.0",
            "FAILED: corenn-test-bad-signature (corenn_test_bad_signature.fast): "
            "corenn_test_bad_signature.fast.scaled_fast(X, scale) does not take the parameters of the kernel it "
            "overrides, corenn_test_bad_signature.layer:scaled(X, factor)",
        ),
        (
            "undeclared",
            "corenn-test-undeclared-override 0.5.1",
            "FAILED: override of corenn_test_undeclared_override.layer:scald: corenn_test_undeclared_override.layer "
            "declares no kernel 'scald'; it declares scaled",
        ),
    ],
)
def test_a_refused_numpy_override_fails_its_plugin_in_the_listing(mistake_env, plugin, distribution, error):
    """Before: ``corenn plugins`` listed the plugin as ok (numpy's overrides were checked only
    when a run made the backend), and ``corenn plugins --check`` listed it as FAILED but exited 0.
    (An override for torch is checked when torch's backend is made: ``corenn plugins --check``
    makes every backend.)"""
    listing = mistake_env.corenn("plugins", **mistake_env.only(plugin))
    assert listing.returncode == 0, listing.stderr
    assert plugin_line(listing, plugin).endswith(error)
    assert distribution in plugin_line(
        listing, plugin
    )  # and plugins --check exits 1: see test_plugins_check_exits_1...


def test_a_run_naming_the_refused_plugins_layer_points_at_it(mistake_env, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(IRIS + '[[layers]]\nname = "scaled_bad_signature"\n' + OUTPUT)
    line = one_error_line(
        mistake_env.corenn(
            "train", "--config", str(config), "--out", str(tmp_path), "--quiet", **mistake_env.only("bad_signature")
        )
    )
    assert line.startswith("corenn train: error: layers[0]: unknown layer 'scaled_bad_signature' for backend numpy")
    assert line.endswith("plugins with problems: bad_signature failed (see `corenn plugins`)")


# Row 5: an exception raised while the plugin is imported


def test_an_import_time_exception_keeps_its_traceback(plugin_env):
    """Before: ``FAILED: RuntimeError: ...`` and no traceback anywhere, not with --debug or --json."""
    result = plugin_env.corenn("plugins", "--debug")
    assert result.returncode == 0
    assert plugin_line(result, "broken_import").endswith(
        "FAILED: RuntimeError: corenn-test-broken-import fails at import"
    )
    trace = result.stderr[result.stderr.index("--- plugin 'broken_import'") :]
    assert 'corenn_test_broken_import/hooks.py", line 1, in <module>' in trace
    assert "RuntimeError: corenn-test-broken-import fails at import" in trace
    listed = {info["name"]: info for info in json.loads(plugin_env.corenn("plugins", "--json").stdout)}
    assert listed["broken_import"]["traceback"].startswith("Traceback (most recent call last):")
    assert plugin_env.corenn("plugins").stderr == ""  # without --debug: the one line of the listing


def test_plugins_check_exits_1_when_a_plugin_failed_to_load(plugin_env):
    """Before: exit 0 and "every component imports and builds" under a FAILED plugin."""
    result = plugin_env.corenn("plugins", "--check")
    assert result.returncode == 1
    assert "plugin(s) failed to load" in result.stdout.splitlines()[-1]


def test_strict_mode_with_debug_shows_where_the_import_failed(plugin_env):
    result = plugin_env.corenn(
        "plugins",
        "--debug",
        CORENN_STRICT_PLUGINS="1",
        CORENN_DISABLE_PLUGINS="broken_hook,broken_kind,clash,shadow,twin_a,twin_b,misspelled,unmarked",
    )
    assert result.returncode == 1
    assert 'corenn_test_broken_import/hooks.py", line 1, in <module>' in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "corenn plugins: error: plugin 'broken_import' (corenn-test-broken-import 0.1.0) failed: RuntimeError: "
        "corenn-test-broken-import fails at import (unset CORENN_STRICT_PLUGINS to skip failing plugins)"
    )


# Row 6: a typo inside a layer's forward


def test_a_typo_in_forward_names_the_layer_and_keeps_the_traceback_in_the_run(mistake_env, tmp_path):
    """Before: ``unexpected AttributeError ... run again with --debug``, naming neither the layer
    nor its plugin, and no error.log (the run had no folder yet)."""
    line = one_error_line(train(mistake_env, tmp_path, "typo_forward", **mistake_env.only("mistakes")))
    run_dir = tmp_path / "runs" / "mistake"
    assert line == (
        "corenn train: error: layers[0] (typo_forward, from corenn-test-mistakes): unexpected AttributeError: "
        "'TypoInForward' object has no attribute 'paramters' (a bug in corenn or a plugin); the traceback is in "
        f"{run_dir / 'error.log'}"
    )
    trace = (run_dir / "error.log").read_text()
    assert 'corenn_test_mistakes/layers.py", line' in trace and "self.paramters" in trace
    assert (run_dir / "config.toml").is_file()  # the run can be resumed once the layer is fixed


def test_a_typo_in_forward_with_debug_prints_the_traceback(mistake_env, tmp_path):
    result = train(mistake_env, tmp_path, "typo_forward", "--debug", **mistake_env.only("mistakes"))
    assert result.returncode == 1
    assert "Traceback (most recent call last):" in result.stderr and "self.paramters" in result.stderr


def test_a_typo_in_forward_fails_plugins_check(mistakes_check):
    """Before: built (its forward never ran), exit 0."""
    assert (
        "check FAILED: layer 'typo_forward' (numpy): gradient check on numpy: AttributeError: 'TypoInForward' object "
        "has no attribute 'paramters'"
    ) in check_failures(mistakes_check)


def test_gradcheck_of_a_typo_names_the_layer(mistake_env):
    line = one_error_line(mistake_env.corenn("gradcheck", "layer", "typo_forward", **mistake_env.only("mistakes")))
    assert line.startswith(
        "corenn gradcheck: error: layer typo_forward (from corenn-test-mistakes): unexpected AttributeError: "
        "'TypoInForward' object has no attribute 'paramters'"
    )


# Row 7: a slow import


def test_a_slow_plugin_is_named_with_its_import_time(mistake_env):
    """Before: every command was 0.6 s slower, and nothing said why."""
    result = mistake_env.corenn("plugins", **mistake_env.only("slow"))
    lines = result.stdout.splitlines()
    warning = lines[lines.index(plugin_line(result, "slow")) + 1]
    assert warning.startswith("    warning: took 0.6")
    assert warning.endswith(
        "s to import and register (above 0.5 s); every corenn command pays it: import heavy modules in the factories"
    )
    listed = {
        info["name"]: info
        for info in json.loads(mistake_env.corenn("plugins", "--json", **mistake_env.only("slow")).stdout)
    }
    assert listed["slow"]["slow"] is True and listed["slow"]["import_seconds"] >= 0.6
    assert listed["corenn"]["slow"] is False


def test_plugins_check_says_how_long_each_plugin_took_to_import(mistake_env):
    result = mistake_env.corenn("plugins", "--check", **mistake_env.only("slow"))
    lines = result.stdout.splitlines()
    block = lines[lines.index(plugin_line(result, "slow")) :]
    assert any(line.startswith("    import       0.6") for line in block[:6]), block[:6]


def test_strict_mode_refuses_a_slow_plugin(mistake_env):
    """CORENN_STRICT_PLUGINS turns every warning into an error, the slow import's too (it did not)."""
    result = mistake_env.corenn("plugins", CORENN_STRICT_PLUGINS="1", **mistake_env.only("slow"))
    line = one_error_line(result)
    assert line.startswith("corenn plugins: error: plugin 'slow' (corenn-test-slow 0.6.0) took 0.6")
    assert line.endswith(
        " s to import and register (above 0.5 s), which every corenn command pays: import heavy modules in the "
        "factories (unset CORENN_STRICT_PLUGINS to load it anyway)"
    )


# Row 8: a plugin switched off


def test_a_disabled_plugin_is_listed_as_disabled(mistake_env):
    """Before: it vanished from the listing."""
    result = mistake_env.corenn("plugins", CORENN_DISABLE_PLUGINS="slow")
    assert plugin_line(result, "slow") == (
        "slow  (corenn-test-slow 0.6.0, corenn_test_slow.hooks)  disabled (CORENN_DISABLE_PLUGINS)"
    )
    listed = {
        info["name"]: info
        for info in json.loads(mistake_env.corenn("plugins", "--json", CORENN_DISABLE_PLUGINS="slow").stdout)
    }
    assert (listed["slow"]["status"], listed["slow"]["components"], listed["slow"]["import_seconds"]) == (
        "disabled",
        {},
        None,  # never imported
    )


# Issue 22, hole 13: a plugin raising in corenn_step_end, and one changing the metrics


def test_a_hook_failing_at_every_step_is_said_once_and_counted(mistake_env, tmp_path):
    """Before: two lines per step, without bound; and the epoch-end hook's changed metrics
    crashed the run (``unexpected KeyError: 'epoch'``)."""
    result = mistake_env.corenn(
        "train", "--epochs", "3", "--quiet", "--json", "--out", str(tmp_path), **mistake_env.only("noisy_hook")
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["epochs"] == 3 and summary["val_accuracy"] > 0  # its metrics were the trainer's own
    warnings = [line for line in result.stderr.splitlines() if line.startswith("corenn: warning: plugin 'noisy_hook'")]
    assert warnings == [
        "corenn: warning: plugin 'noisy_hook' failed in corenn_step_end: ValueError: tracker offline at step 1; "
        "training goes on (its later failures in this hook are counted, not shown)",
        "corenn: warning: plugin 'noisy_hook' failed in corenn_step_end 15 times in this run (the first failure is "
        "shown above)",
    ]
