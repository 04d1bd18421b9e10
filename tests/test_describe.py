"""``corenn describe KIND NAME`` (issue 21, item 6): generated from the registry, so it covers a
third party's components as it covers corenn's, and its config table is one a run accepts."""

import json
import tomllib

import pytest

import corenn
from corenn.plugins import get_registry
from corenn.run.config import config_from_dict
from corenn.testing import plugin_system_from, plugins_in_use

from suite_helpers import run_command

IRIS = {
    "name": "described",
    "dataset": {"name": "iris"},
    "layers": [{"name": "fully_connected", "n_out": "auto", "activation": "softmax"}],
}


def test_a_layer_with_its_options_backends_kernels_and_config_table(capsys):
    code, out, _ = run_command(capsys, "describe", "layer", "fully_connected")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("layer fully_connected, from corenn-fc ")
    assert lines[0].endswith(" (corenn_fc.fully_connected:FullyConnected)")
    assert lines[2].startswith("  ``Y = activation(X @ W + b)``")
    assert any(line.startswith("runs on: numpy") and 'registered for backend "any"' in line for line in lines)
    assert "  n_out        integer, required, example 3" in lines
    activation = next(line for line in lines if line.startswith("  activation "))
    assert (
        'default "linear", example "tanh"; one of: ' in activation and "relu" in activation and "softmax" in activation
    )
    assert any(line.startswith("  fully_connected_forward   corenn_fc/fully_connected.py:") for line in lines)
    table = lines[lines.index("in a config:") + 1 :]
    assert table[:4] == ["  [[layers]]", '  name = "fully_connected"', "  n_out = 3", '  activation = "tanh"']


def test_json_holds_every_part(capsys):
    code, out, _ = run_command(capsys, "describe", "optimizer", "sgd", "--json")
    described = json.loads(out)
    assert code == 0 and (described["kind"], described["name"], described["distribution"]) == (
        "optimizer",
        "sgd",
        "corenn",
    )
    assert described["summary"] == "Stochastic gradient descent with (heavy-ball or Nesterov) momentum."
    momentum = next(option for option in described["options"] if option["name"] == "momentum")
    assert momentum == {
        "name": "momentum",
        "type": "number",
        "required": False,
        "default": 0.0,
        "allowed": None,
        "example": None,
        "set_for_it": None,
    }
    assert [row["kernel"] for row in described["kernels"]] == ["clip_by_norm", "sgd_step"]
    assert described["kernels"][1]["backends"]["numpy"] == "corenn.nn.fast_optimizers.sgd_step_blocked"


@pytest.mark.parametrize("kind", ["loss", "optimizer", "scheduler"])
def test_every_config_table_it_shows_is_one_a_run_accepts(capsys, kind):
    for name in get_registry().names(kind):
        code, out, _ = run_command(capsys, "describe", kind, name, "--json")
        table = tomllib.loads(json.loads(out)["example_config"])
        config_from_dict(IRIS | table)  # raises, naming the key, on a table the config refuses


def test_a_layer_table_builds_the_layer(capsys):
    for name in ("fully_connected", "conv2d", "pool2d", "residual", "batch_norm"):
        code, out, _ = run_command(capsys, "describe", "layer", name, "--json")
        described = json.loads(out)
        options = tomllib.loads(described["example_config"])["layers"][0]
        assert options.pop("name") == name
        corenn.create("layer", name, **options)


class Documented:
    """Counts to ``limit``.

    A second paragraph, not shown."""

    name = "counted"
    option_values = {"mode": ("up", "down")}
    example_options = {"limit": 3}

    def __init__(self, limit, mode="up", note: str = "none"):
        self.limit = limit


class ThirdParty:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("layer", "counted", Documented)


def test_a_third_partys_component_is_described_from_its_own_code(capsys):
    with plugins_in_use(plugin_system_from(ThirdParty, distribution="corenn-counters", version="2.1")):
        code, out, _ = run_command(capsys, "describe", "layer", "counted")
    assert code == 0
    assert out.splitlines()[:3] == [
        "layer counted, from corenn-counters 2.1 (test_describe:Documented)",
        "",
        "  Counts to ``limit``.",
    ]
    assert "  limit  integer, required, example 3" in out.splitlines()
    assert '  mode   string, default "up"; one of: "up", "down"' in out.splitlines()
    assert '  note   string, default "none"' in out.splitlines()
    assert (
        out.splitlines()[-4:]
        == ["  [[layers]]", '  name = "counted"', "  limit = 3", '  # mode = "up"', '  # note = "none"'][-4:]
    )


def test_an_unknown_name_is_one_line_listing_the_known_ones(capsys):
    code, _, err = run_command(capsys, "describe", "activation", "relux")
    assert code == 1
    assert err.startswith(
        "corenn describe: error: unknown activation 'relux' (did you mean 'relu'?) for backend numpy; known activations: "
    )
    assert len(err.splitlines()) == 1
