"""Every mistake of the issue "a plugin system no third party can break", made by a real
installed distribution (see conftest.py), and what ``corenn plugins`` and ``corenn train`` say.

- corenn-test-shadow (entry point ``shadow``, after ``fc``) registers corenn-fc's ``relu``;
  corenn-test-clash (``clash``, before ``conv`` and ``fc``) registers its ``fully_connected``.
- corenn-test-twin-a and corenn-test-twin-b both register the activation ``twin``.
- corenn-test-misspelled implements ``corenn_register_component``; corenn-test-unmarked
  implements ``corenn_register_components`` without ``@corenn.hookimpl``.
- corenn-test-extras: ``leaky_relu`` (option ``slope``, a ``gain``), ``layer_norm``, and layers
  with wrong backward passes: ``drops_a_column`` (dL/dX one column short),
  ``row_shaped_gradient`` (a (1, n) gradient for a (n,) parameter) and
  ``layer_norm_ignoring_gamma`` (right only while ``gamma`` is 1).
"""

import json
import math
import textwrap

import pytest

from corenn import hookspecs

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
FIRST = '[[layers]]\nname = "fully_connected"\nn_out = 16\nactivation = "relu"\n'
LAST = '[[layers]]\nname = "fully_connected"\nn_out = "auto"\nactivation = "softmax"\n'


def layer(name, **options):
    lines = [f"{key} = {value}" for key, value in options.items()]
    return "\n".join(["[[layers]]", f'name = "{name}"', *lines]) + "\n"


def train(plugin_env, tmp_path, layers, *args, **variables):
    config = tmp_path / "config.toml"
    config.write_text(IRIS + "".join(layers))
    return plugin_env.corenn(
        "train", "--config", str(config), "--out", str(tmp_path / "runs"), "--overwrite", "--quiet", *args, **variables
    )


def plugin_line(result, name):
    return next(line for line in result.stdout.splitlines() if line.startswith(f"{name}  "))


def plugin_block(result, name):
    """The plugin's line and its indented lines in the ``corenn plugins`` table."""
    lines = result.stdout.splitlines()
    start = lines.index(plugin_line(result, name))
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        block.append(line)
    return block


def error_line(result):
    """The one line of the error, besides ``corenn train``'s warning about the broken plugins
    installed for the other tests."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [
        line
        for line in result.stderr.splitlines()
        if not line.startswith("corenn train: warning: plugins with problems")
    ]
    assert len(lines) == 1, result.stderr
    return lines[0]


# A clash never disables a first-party plugin, whatever the entry points are called


@pytest.mark.parametrize(
    "name, distribution, label",
    [("shadow", "corenn-test-shadow", "activation 'relu'"), ("clash", "corenn-test-clash", "layer 'fully_connected'")],
)
def test_a_third_party_clash_fails_the_newcomer(plugin_env, name, distribution, label):
    result = plugin_env.corenn("plugins")
    assert result.returncode == 0, result.stderr
    assert plugin_line(result, name).endswith(
        f"FAILED: {label} (backend numpy) belongs to corenn-fc, a first-party package, so {distribution} may not "
        "register it; give yours another name"
    )
    assert plugin_line(result, "fc").endswith("  ok")
    assert plugin_line(result, "conv").endswith("  ok")


def test_first_party_components_stay_first_party(plugin_env):
    result = plugin_env.python(
        textwrap.dedent(
            """
            import json
            import corenn
            print(json.dumps([
                type(corenn.create("activation", "relu")).__module__,
                type(corenn.create("layer", "fully_connected", n_out=2)).__module__,
            ]))
            """
        )
    )
    assert result == ["corenn_fc.activations", "corenn_fc.fully_connected"]


def test_the_default_training_still_works_next_to_a_clash(plugin_env, tmp_path):
    result = plugin_env.corenn("train", "--epochs", "2", "--out", str(tmp_path), "--quiet", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["test_accuracy"] > 0
    assert result.stderr.splitlines()[0] == (
        "corenn train: warning: plugins with problems: broken_hook failed, broken_import failed, broken_kind failed, "
        "clash failed, shadow failed, twin_a failed, twin_b failed, misspelled has 1 warning, unmarked has 1 warning "
        "(see `corenn plugins`)"
    )


def test_two_third_parties_with_one_name_both_fail(plugin_env):
    result = plugin_env.corenn("plugins")
    expected = (
        "FAILED: activation 'twin' (backend numpy) is registered by corenn-test-twin-a and by corenn-test-twin-b, "
        "so neither gets it; uninstall one, or switch one off with CORENN_DISABLE_PLUGINS=twin_a or CORENN_DISABLE_PLUGINS=twin_b"
    )
    assert plugin_line(result, "twin_a").endswith(expected)
    assert plugin_line(result, "twin_b").endswith(expected)


@pytest.mark.parametrize("kept, disabled", [("twin_a", "twin_b"), ("twin_b", "twin_a")])
def test_disabling_one_twin_keeps_the_other(plugin_env, kept, disabled):
    result = plugin_env.corenn("plugins", CORENN_DISABLE_PLUGINS=disabled)
    assert plugin_block(result, kept) == [
        plugin_line(result, kept),
        f"    activation   twin, only_{kept[-1]}",
    ]
    assert plugin_line(result, kept).endswith("  ok")


# A misspelled hook, or one without its marker, is reported


ALL_HOOKS = ", ".join(sorted(name for name in dir(hookspecs) if name.startswith("corenn_")))
MISSPELLED_WARNING = (
    "warning: corenn_register_component is marked with @corenn.hookimpl but is not a corenn hook (did you mean "
    f"corenn_register_components?), so corenn never calls it; the hooks are: {ALL_HOOKS}"
)
UNMARKED_WARNING = "warning: corenn_register_components is not marked with @corenn.hookimpl, so corenn never calls it"


@pytest.mark.parametrize(
    "name, distribution, warning",
    [
        ("misspelled", "corenn-test-misspelled", MISSPELLED_WARNING),
        ("unmarked", "corenn-test-unmarked", UNMARKED_WARNING),
    ],
)
def test_a_hook_corenn_never_calls_is_a_warning(plugin_env, name, distribution, warning):
    result = plugin_env.corenn("plugins")
    assert plugin_block(result, name) == [
        f"{name}  ({distribution} 0.7.0, corenn_test_{name}.hooks)  ok, 1 warning",
        f"    {warning}",
        "    components   (none registered)",
    ]
    listed = {info["name"]: info for info in json.loads(plugin_env.corenn("plugins", "--json").stdout)}
    assert listed[name]["warnings"] == [warning.removeprefix("warning: ")]


@pytest.mark.parametrize("name", ["misspelled", "unmarked"])
def test_strict_mode_makes_the_warning_an_error(plugin_env, name):
    others = "broken_hook,broken_import,broken_kind,clash,shadow,twin_a,twin_b,misspelled,unmarked"
    disabled = ",".join(other for other in others.split(",") if other != name)
    line = error_line(plugin_env.corenn("plugins", CORENN_STRICT_PLUGINS="1", CORENN_DISABLE_PLUGINS=disabled))
    assert line.startswith(
        f"corenn plugins: error: plugin '{name}' (corenn-test-{name} 0.7.0): corenn_register_component"
    )
    assert line.endswith("(unset CORENN_STRICT_PLUGINS to load it anyway)")


def test_train_with_a_component_a_silent_plugin_never_registered(plugin_env, tmp_path):
    line = error_line(
        train(plugin_env, tmp_path, [layer("fully_connected", n_out=16, activation='"misspelled_identity"'), LAST])
    )
    assert line.startswith(
        "corenn train: error: layers[0]: layer 'fully_connected': unknown activation 'misspelled_identity'"
    )
    assert line.endswith("misspelled has 1 warning, unmarked has 1 warning (see `corenn plugins`)")


# The layer that makes a wrong gradient is the one blamed


DROPS = "drops_a_column, from corenn-test-extras"


@pytest.mark.parametrize(
    "layers, message",
    [
        (
            [FIRST, layer("drops_a_column"), LAST],
            f"layers[1] ({DROPS}): backward returned dL/dX of shape (25, 15); it must have the shape of the "
            "layer's input, (25, 16)",
        ),
        (
            [layer("drops_a_column"), LAST],
            f"layers[0] ({DROPS}): backward returned dL/dX of shape (25, 3); it must have the shape of the "
            "layer's input, (25, 4)",
        ),
        (
            [FIRST, layer("residual", layers='[{ name = "drops_a_column" }]'), LAST],
            f"layers[1] (residual): residual layers[0] ({DROPS}): backward returned dL/dX of shape (25, 15); it must "
            "have the shape of the layer's input, (25, 16)",
        ),
        (
            [FIRST, layer("row_shaped_gradient"), LAST],
            "layers[1] (row_shaped_gradient, from corenn-test-extras): backward made gradients['gamma'] of shape "
            "(1, 16); it must have the shape of parameters['gamma'], (16,)",
        ),
    ],
    ids=["middle", "first", "inside-residual", "parameter-gradient"],
)
def test_train_names_the_layer_with_the_wrong_gradient(plugin_env, tmp_path, layers, message):
    assert error_line(train(plugin_env, tmp_path, layers)) == f"corenn train: error: {message}"


@pytest.mark.parametrize(
    "name, message",
    [
        (
            "drops_a_column",
            f"FAILED: layer {DROPS}: backward returned dL/dX of shape (4, 4); it must have the shape of the layer's "
            "input, (4, 5)",
        ),
        (
            "row_shaped_gradient",
            "FAILED: layer row_shaped_gradient, from corenn-test-extras: backward made gradients['gamma'] of shape "
            "(1, 5); it must have the shape of parameters['gamma'], (5,)",
        ),
    ],
)
def test_gradcheck_reports_a_wrong_shape_as_a_failed_check(plugin_env, name, message):
    result = plugin_env.corenn("gradcheck", "layer", name)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout.splitlines()[-1] == message
    report = json.loads(plugin_env.corenn("gradcheck", "layer", name, "--json").stdout.splitlines()[-1])
    assert report["passed"] is False and report["failure"] == message.removeprefix("FAILED: ")


# Gradient checks run at perturbed parameters


def test_gradcheck_catches_a_backward_that_ignores_a_parameter_at_its_initial_value(plugin_env):
    result = plugin_env.corenn("gradcheck", "layer", "layer_norm_ignoring_gamma")
    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    assert lines[1] == "  parameters moved to random values (seed 0); --initial-parameters checks them as made"
    assert "d/dX" in lines[2] and lines[2].endswith("TOO LARGE")
    assert lines[-1].startswith("FAILED: largest relative error")
    at_initial_values = plugin_env.corenn("gradcheck", "layer", "layer_norm_ignoring_gamma", "--initial-parameters")
    assert at_initial_values.returncode == 0, at_initial_values.stdout  # why the check perturbs by default
    assert plugin_env.corenn("gradcheck", "layer", "layer_norm").returncode == 0


def test_check_layer_gradients_catches_it_too(plugin_env):
    errors = plugin_env.python(
        textwrap.dedent(
            """
            import json
            import numpy as np
            import corenn
            from corenn.testing import check_layer_gradients

            X = np.random.default_rng(0).normal(size=(4, 5))
            print(json.dumps({
                name: check_layer_gradients(corenn.create("layer", name), X)["X"]
                for name in ("layer_norm", "layer_norm_ignoring_gamma")
            }))
            """
        )
    )
    assert errors["layer_norm"] < 1e-6
    assert errors["layer_norm_ignoring_gamma"] > 1e-3


# Activation options in configs


def test_an_activation_table_in_a_config(plugin_env, tmp_path):
    layers = [
        layer("fully_connected", n_out=16, activation='{ name = "leaky_relu", slope = 0.1 }'),
        layer(
            "fully_connected",
            n_out='"auto"',
            activation='"softmax"',
            weight_init='{ name = "uniform", low = -0.1, high = 0.1 }',
        ),
    ]
    result = train(plugin_env, tmp_path, layers, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["test_accuracy"] > 0


@pytest.mark.parametrize(
    "options, message",
    [
        (
            {"activation": '{ name = "leaky_relu", slop = 0.1 }'},
            "layers[0]: layer 'fully_connected': activation 'leaky_relu' has no option 'slop' (did you mean 'slope'?); "
            "its options are: slope",
        ),
        (
            {"activation": "{ slope = 0.1 }"},
            "layers[0].activation.name is required: layers[0].activation is a component name or a table with one "
            '("relu", or { name = "leaky_relu", slope = 0.1 })',
        ),
        (
            {"weight_init": '{ name = "uniform", lo = 0.1 }'},
            "layers[0]: layer 'fully_connected': weight_init: initializer 'uniform' has no option 'lo' (did you mean "
            "'low'?); its options "
            "are: activation, low, high",
        ),
    ],
)
def test_a_wrong_activation_or_weight_init_table_names_the_key(plugin_env, tmp_path, options, message):
    line = error_line(train(plugin_env, tmp_path, [layer("fully_connected", n_out=16, **options), LAST]))
    assert line.endswith(message)


def test_the_initializer_gain_comes_from_the_activation(plugin_env):
    result = plugin_env.python(
        textwrap.dedent(
            """
            import json
            import corenn
            from corenn.nn.initializers import calculate_gain

            print(json.dumps([
                calculate_gain(corenn.create("activation", "leaky_relu", slope=0.5)),
                calculate_gain("leaky_relu"),
                calculate_gain("relu"),
            ]))
            """
        )
    )
    assert result == pytest.approx([math.sqrt(2 / 1.25), math.sqrt(2 / 1.0001), math.sqrt(2)])


# corenn gradcheck takes options anywhere after the name


def test_gradcheck_options_after_a_flag(plugin_env):
    result = plugin_env.corenn("gradcheck", "layer", "fully_connected", "--input-shape", "4,5", "n_out=3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "layer fully_connected (numpy), input (4, 5), tolerance 1e-06"
