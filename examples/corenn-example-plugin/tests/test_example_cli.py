"""The README's commands, run as a user would: ``corenn plugins``, ``gradcheck`` and ``train``."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "iris-swish.toml"


def corenn(*args):
    script = shutil.which("corenn", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "corenn"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=300, check=False)


def test_plugins_json_lists_the_example():
    result = corenn("plugins", "--json")
    assert result.returncode == 0, result.stderr
    info = {plugin["name"]: plugin for plugin in json.loads(result.stdout)}["example"]
    assert info["distribution"] == "corenn-example-plugin"
    assert (info["status"], info["error"]) == ("ok", None)
    assert info["module"] == "corenn_example.plugin"
    assert info["components"] == {  # [any]: every backend; torch's faster conv1d forward for torch alone
        "activation": ["swish [any]"],
        "layer": ["scale_shift [any]", "conv1d [any]"],
        "loss": ["huber [any]"],
        "optimizer": ["rmsprop [any]"],
        "scheduler": ["step_decay [any]"],
        "initializer": ["orthogonal [any]"],
        "dataset": ["spirals"],
        "kernels": ["corenn_example.torch_kernels [torch]"],
    }


def test_plugins_check_builds_and_checks_every_component_of_the_example():
    result = corenn("plugins", "--check", "--json")
    info = {plugin["name"]: plugin for plugin in json.loads(result.stdout)}["example"]
    outcomes = {(check["kind"], check["name"]): check["outcome"] for check in info["check"]}
    assert {outcomes[("layer", name)] for name in ("scale_shift", "conv1d")} == {"built"}  # conv1d: example_options
    assert outcomes[("loss", "huber")] == outcomes[("optimizer", "rmsprop")] == "built"
    checked = [check for check in info["check"] if check["kind"] in ("layer", "activation", "loss")]
    assert all(check["gradient_error"] <= 1e-6 for check in checked), checked


def test_describe_shows_conv1d_with_its_kernels_and_a_config_table():
    result = corenn("describe", "layer", "conv1d")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "layer conv1d, from corenn-example-plugin 0.1.0 (corenn_example.conv1d:Conv1D)"
    assert "  n_out        integer, required, example 3" in lines
    assert any(line.startswith("  conv1d_forward   corenn_example/conv1d.py:") for line in lines)
    assert lines[-7:-2] == ["  [[layers]]", '  name = "conv1d"', "  n_out = 3", "  kernel_size = 2", "  stride = 2"]


def test_gradcheck_swish_from_the_command_line():
    result = corenn("gradcheck", "activation", "swish", "beta=1.5", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["passed"] is True and report["max_error"] <= 1e-6
    assert report["options"] == {"beta": 1.5}


def test_training_iris_with_the_example_config(tmp_path):
    result = corenn("train", "--config", str(CONFIG), "--out", str(tmp_path), "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["name"] == "iris-swish"
    assert summary["epochs"] == 100
    assert summary["test_accuracy"] >= 0.9
    assert Path(summary["run_dir"]).is_dir()
