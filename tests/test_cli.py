"""The ``corenn`` command line, in-process (``corenn.cli.main``) and as the installed console script."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import corenn
import corenn.nn.layers
from corenn.cli import COMMANDS, main
from corenn.testing import plugin_system_from, plugins_in_use

from suite_helpers import run_command

RESULT_KEYS = {"name", "backend", "epochs", "train_loss", "val_accuracy", "test_accuracy", "seconds", "run_dir"}


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    """A stray default ``--out experiments`` lands in the test's folder, never in the repository."""
    monkeypatch.chdir(tmp_path)


def last_json_line(out):
    return json.loads(out.strip().splitlines()[-1])


def console_script():
    found = shutil.which("corenn", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    assert found, "the corenn console script is not installed next to this python"
    return found


def run_console(*argv, cwd):
    return subprocess.run([console_script(), *map(str, argv)], capture_output=True, text=True, cwd=cwd, timeout=120)


def assert_one_line_error(code, err, *fragments):
    assert code == 1
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got: {err!r}"
    for fragment in fragments:
        assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"


# corenn train


def test_console_script_trains_the_default_network_and_prints_json(tmp_path):
    """The README's first command: no arguments but where to write, test accuracy at least 0.96."""
    completed = run_console("train", "--out", tmp_path / "runs", "--json", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    result = last_json_line(completed.stdout)
    assert RESULT_KEYS <= set(result)
    assert result["name"] == "iris-ffnn" and result["backend"] == "numpy" and result["epochs"] == 100
    assert result["test_accuracy"] >= 0.96
    assert result["val_accuracy"] >= 0.9 and result["train_loss"] < 0.2
    assert Path(result["run_dir"]) == tmp_path / "runs" / "iris-ffnn"
    assert (tmp_path / "runs" / "iris-ffnn" / "result.json").is_file()
    assert len(completed.stdout.strip().splitlines()) == 1, "with --json stdout holds only the result"
    assert "epoch 100/100" in completed.stderr, "per-epoch lines go to stderr with --json"


def test_train_prints_a_summary_and_numbers_runs_without_a_name(capsys, tmp_path, no_plots):
    code, out, err = run_command(capsys, "train", "--out", tmp_path, "--epochs", 2, "--quiet")
    assert code == 0 and err == ""
    assert "iris-ffnn: 2 epochs in" in out and "test accuracy" in out
    assert f"records: {tmp_path / 'iris-ffnn'}" in out
    code, out, _ = run_command(capsys, "train", "--out", tmp_path, "--epochs", 1, "--quiet", "--json")
    assert code == 0
    second = last_json_line(out)
    assert second["name"] == "iris-ffnn-2" and second["run_dir"] == str(tmp_path / "iris-ffnn-2")
    assert second["epochs"] == 1
    assert 'name = "iris-ffnn-2"' in (tmp_path / "iris-ffnn-2" / "config.toml").read_text()


def test_train_overrides_reach_the_run(capsys, tmp_path, no_plots):
    code, out, _ = run_command(
        capsys,
        "train",
        "--out",
        tmp_path,
        "--name",
        "custom",
        "--epochs",
        3,
        "--lr",
        0.05,
        "--batch-size",
        15,
        "--seed",
        4,
        "--dtype",
        "float32",
        "--json",
        "--quiet",
    )
    assert code == 0
    assert last_json_line(out)["epochs"] == 3
    config = (tmp_path / "custom" / "config.toml").read_text()
    for line in ("seed = 4", "epochs = 3", 'dtype = "float32"', "lr = 0.05", "batch_size = 15"):
        assert line in config


def test_the_same_name_twice_is_refused_without_a_traceback(capsys, tmp_path, no_plots):
    code, _, _ = run_command(capsys, "train", "--out", tmp_path, "--name", "x", "--epochs", 1, "--quiet")
    assert code == 0
    before = (tmp_path / "x" / "parameters.npz").read_bytes()
    code, out, err = run_command(capsys, "train", "--out", tmp_path, "--name", "x", "--epochs", 1, "--quiet")
    assert_one_line_error(code, err, "corenn train: error:", "already exists", "--overwrite", "--resume")
    assert out == ""
    assert (tmp_path / "x" / "parameters.npz").read_bytes() == before
    code, _, _ = run_command(
        capsys, "train", "--out", tmp_path, "--name", "x", "--epochs", 1, "--quiet", "--overwrite", "--seed", 1
    )
    assert code == 0
    assert (tmp_path / "x" / "parameters.npz").read_bytes() != before


def test_resume_extends_a_run(capsys, tmp_path, no_plots):
    assert run_command(capsys, "train", "--out", tmp_path, "--name", "r", "--epochs", 2, "--quiet")[0] == 0
    code, out, _ = run_command(capsys, "train", "--resume", tmp_path / "r", "--epochs", 3, "--json", "--quiet")
    assert code == 0
    result = last_json_line(out)
    assert result["epochs"] == 3 and result["run_dir"] == str(tmp_path / "r")
    assert len(json.loads((tmp_path / "r" / "metrics.json").read_text())) == 3


@pytest.fixture
def config_file(tmp_path):
    def write(text, name="run.toml"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


VALID = """
name = "from-file"
epochs = 1
[dataset]
name = "iris"
[[layers]]
name = "fully_connected"
n_out = "auto"
activation = "softmax"
"""


def test_train_from_a_config_file(capsys, tmp_path, no_plots, config_file):
    code, out, _ = run_command(capsys, "train", "--config", config_file(VALID), "--out", tmp_path, "--json", "--quiet")
    assert code == 0 and last_json_line(out)["name"] == "from-file"


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["--preset", "nope"], ["unknown preset 'nope'", "iris-ffnn"]),
        (["--config", "absent.toml"], ["absent.toml does not exist"]),
        (["--config", "{invalid}"], ["is not valid TOML"]),
        (["--config", "{unknown_key}"], ["unknown config key 'colour'", "allowed keys:"]),
        (["--config", "{unknown_component}"], ["layers[0]", "unknown activation 'no_such_activation'", "relu"]),
        (["--config", "{bad_option}"], ["layers[0]", "no option 'units'", "n_out"]),
        (["--epochs", "0"], ["--epochs must be a positive integer, got 0"]),
        (["--batch-size", "-1"], ["--batch-size must be a positive integer, got -1"]),
        (["--lr", "0"], ["--lr (optimizer.lr) must be positive"]),
        (["--lr", "-0.5"], ["--lr (optimizer.lr) must be positive"]),
        (["--name", "../escape"], ["name '../escape' is not a plain folder name"]),
        (["--backend", "jax"], ["unknown backend 'jax'; installed backends: numpy"]),
        (["--seed", "-2"], ["seed must be a non-negative integer"]),
        (["--resume", "no-such-run"], ["no-such-run"]),
    ],
)
def test_bad_input_is_one_line_and_exit_1(capsys, tmp_path, config_file, argv, fragments):
    files = {
        "{invalid}": config_file("name = \n[dataset\n", "invalid.toml"),
        "{unknown_key}": config_file("colour = 'blue'\n" + VALID, "unknown_key.toml"),
        "{unknown_component}": config_file(
            VALID.replace('"softmax"', '"no_such_activation"'), "unknown_component.toml"
        ),
        "{bad_option}": config_file(VALID.replace("n_out =", "units = 3\nn_out ="), "bad_option.toml"),
    }
    argv = [str(files.get(arg, arg)) for arg in argv]
    code, out, err = run_command(capsys, "train", "--out", tmp_path / "runs", "--quiet", *argv)
    assert_one_line_error(code, err, "corenn train: error:", *fragments)
    assert out == ""
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_bad_input_through_the_console_script_has_no_traceback(tmp_path):
    completed = run_console("train", "--epochs", "0", "--out", tmp_path, cwd=tmp_path)
    assert completed.returncode == 1
    assert completed.stderr.strip() == "corenn train: error: --epochs must be a positive integer, got 0"


# corenn sweep


def test_sweep_json_names_the_best_by_validation_accuracy(capsys, tmp_path):
    code, out, err = run_command(capsys, "sweep", "--epochs", 20, "--json", "--out", tmp_path)
    assert code == 0
    summary = last_json_line(out)
    rows = summary["rows"]
    assert len(rows) >= 3
    assert {(row["lr"], row["hidden"]) for row in rows} == {(lr, h) for lr in (0.005, 0.02, 0.05) for h in (16, 32)}
    best = summary["best"]
    assert best in rows
    assert best["val_accuracy"] == max(row["val_accuracy"] for row in rows)
    tied = [row for row in rows if row["val_accuracy"] == best["val_accuracy"]]
    assert best["val_loss"] == min(row["val_loss"] for row in tied)
    assert summary["best_test_error"] == pytest.approx(1 - best["test_accuracy"])
    # The test split is looked at once, for the best only, as the docs say.
    assert [row["test_accuracy"] is None for row in rows] == [row is not best and row != best for row in rows]
    best_run = Path(summary["best_run_dir"])
    assert best_run == Path(best["run_dir"]) and best_run.parent == Path(summary["sweep_dir"]) / "runs"
    assert json.loads((best_run / "result.json").read_text())["test_accuracy"] == best["test_accuracy"]
    assert (best_run / "parameters.npz").is_file() and (best_run / "best.npz").is_file()
    # Each row's validation score is its best epoch's, the one corenn runs lists for the same run.
    code, listed, _ = run_command(capsys, "runs", tmp_path, "--json")  # the sweep's runs included
    listed = {row["run_dir"]: row for row in json.loads(listed)}
    for row in rows:
        history = json.loads((Path(row["run_dir"]) / "metrics.json").read_text())
        assert row["val_accuracy"] == max(epoch["val_accuracy"] for epoch in history)
        assert row["val_accuracy"] == history[row["best_epoch"] - 1]["val_accuracy"]
        assert listed[row["run_dir"]]["best_val_accuracy"] == row["val_accuracy"]
    code, out, _ = run_command(capsys, "evaluate", best_run, "--which", "best", "--json")  # no retraining needed
    assert code == 0 and last_json_line(out)["accuracy"] == best["test_accuracy"]
    # evaluate (and predict) take by default the parameters the recorded test used: the best epoch's
    recorded = json.loads((best_run / "result.json").read_text())
    assert recorded["restored_best"] is True
    code, out, _ = run_command(capsys, "evaluate", best_run, "--json")
    assert code == 0 and last_json_line(out)["accuracy"] == best["test_accuracy"]
    plot = Path(summary["best_loss_plot"])
    assert plot.is_file() and plot.read_bytes().startswith(b"\x89PNG")
    assert json.loads((Path(summary["sweep_dir"]) / "sweep.json").read_text()) == summary


def test_sweep_table_with_a_grid_from_the_command_line(capsys, tmp_path):
    code, out, err = run_command(
        capsys, "sweep", "--epochs", 5, "--lrs", "0.01,0.05", "--hidden", "4,8", "--out", tmp_path
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["lr", "hidden", "train_loss", "best_ep", "val_acc", "val_loss", "test_acc"]
    rows = lines[1:5]
    assert [(float(line.split()[0]), int(line.split()[1])) for line in rows] == [
        (0.01, 4),
        (0.01, 8),
        (0.05, 4),
        (0.05, 8),
    ]
    assert sum("<- best" in line for line in rows) == 1
    assert [line.split()[6] == "-" for line in rows] == ["<- best" not in line for line in rows]
    best_row = next(line for line in rows if "<- best" in line).split()
    assert (
        f"best by validation accuracy (at each run's best epoch, as corenn runs lists it): lr {float(best_row[0]):g}, hidden {best_row[1]}"
        in out
    )
    assert "its test error:" in out and "its loss plot:" in out
    assert len(err.splitlines()) == 4, "one progress line per combination on stderr"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--lrs", "0.1,abc"], "--lrs takes numbers separated by commas, e.g. 0.005,0.02,0.05; got 'abc'"),
        (["--hidden", "8,1.5"], "--hidden takes whole numbers separated by commas, e.g. 16,32; got '1.5'"),
    ],
)
def test_sweep_grid_words_that_are_not_numbers_are_named(capsys, tmp_path, argv, fragment):
    code, _, err = run_command(capsys, "sweep", "--out", tmp_path, *argv)
    assert_one_line_error(code, err, "corenn sweep: error:", fragment)
    assert not any(tmp_path.iterdir())


def test_sweep_refuses_bad_grids_and_an_existing_sweep(capsys, tmp_path):
    code, _, err = run_command(capsys, "sweep", "--lrs", "0,0.1", "--out", tmp_path)
    assert_one_line_error(code, err, "corenn sweep: error:", "learning rates must be positive")
    code, _, err = run_command(capsys, "sweep", "--hidden", "0", "--out", tmp_path)
    assert_one_line_error(code, err, "hidden sizes must be positive")
    assert run_command(capsys, "sweep", "--epochs", 1, "--lrs", "0.1", "--hidden", "4", "--out", tmp_path)[0] == 0
    code, _, err = run_command(capsys, "sweep", "--epochs", 1, "--lrs", "0.1", "--hidden", "4", "--out", tmp_path)
    assert_one_line_error(code, err, "already exists")


# corenn plugins, --version, --help


def plugin_by_distribution(plugins, distribution):
    matches = [plugin for plugin in plugins if plugin["distribution"] == distribution]
    assert len(matches) == 1, f"{distribution} not listed once in {plugins}"
    return matches[0]


def test_plugins_json_shows_the_builtins_as_the_core_and_nn_fc_components(capsys):
    code, out, _ = run_command(capsys, "plugins", "--json")
    assert code == 0
    plugins = json.loads(out)
    core = plugin_by_distribution(plugins, "corenn")
    assert core["status"] == "ok" and core["error"] is None and core["version"] == corenn.__version__
    # written once, for every backend
    assert set(core["components"]["loss"]) == {"cross_entropy [any]", "l2 [any]"}
    assert set(core["components"]["optimizer"]) == {"sgd [any]", "adam [any]"}
    assert set(core["components"]["scheduler"]) == {
        "constant [any]",
        "exponential [any]",
        "cosine [any]",
        "one_cycle [any]",
    }
    initializers = core["components"]["initializer"]
    assert len(initializers) == 12 and all(label.endswith(" [any]") for label in initializers)
    assert "iris" in core["components"]["dataset"]
    fc = plugin_by_distribution(plugins, "corenn-fc")
    assert fc["status"] == "ok"
    # written once, for every backend that has their kernels
    assert set(fc["components"]["layer"]) == {
        f"{name} [any]" for name in ("fully_connected", "batch_norm", "dropout", "residual", "scale")
    }
    assert set(fc["components"]["activation"]) == {
        f"{name} [any]" for name in ("linear", "sigmoid", "tanh", "arctan", "relu", "softmax", "gelu")
    }


def test_plugins_table(capsys):
    code, out, _ = run_command(capsys, "plugins")
    assert code == 0
    lines = out.splitlines()
    core_line = next(line for line in lines if line.startswith("corenn "))
    assert "(corenn " in core_line and core_line.endswith("ok")
    assert any(line.split()[0] == "layer" and "fully_connected" in line for line in lines)
    assert any(line.split()[0] == "activation" and "softmax" in line for line in lines)


class MirrorBackend:
    """A second backend: numpy's arrays under another name."""

    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("backend", "mirror", "corenn_test_helpers_mirror:MirrorBackend")


def test_plugins_table_names_the_backends_and_their_kernels_command(capsys, monkeypatch):
    from corenn.numpy_backend import NumpyBackend

    module = type(sys)("corenn_test_helpers_mirror")
    module.MirrorBackend = type("MirrorBackend", (NumpyBackend,), {"name": "mirror", "array_module": None})
    monkeypatch.setitem(sys.modules, module.__name__, module)
    with plugins_in_use(plugin_system_from(MirrorBackend)):
        code, out, _ = run_command(capsys, "plugins")
    assert code == 0
    lines = out.splitlines()
    backends, _, explanation = lines[-1].partition("; ")
    assert {"mirror", "numpy"} <= set(backends.removeprefix("backends: ").split(", "))
    assert explanation == (
        "a component marked [any] is written once and runs on each of them "
        "(corenn kernels: what each backend runs for each kernel)"
    )
    block = lines[lines.index(next(line for line in lines if line.startswith("MirrorBackend"))) :]
    assert block[1] == "    backend      mirror"


def test_version_lists_the_plugins(capsys):
    code, out, _ = run_command(capsys, "--version")
    assert code == 0
    assert out.splitlines()[0] == f"corenn {corenn.__version__}"
    assert any("corenn-fc" in line for line in out.splitlines()[1:])


def test_help_lists_the_commands(capsys):
    code, out, _ = run_command(capsys, "--help")
    assert code == 0
    for command in ("train", "sweep", "plugins", "gradcheck"):
        assert command in out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_prints_its_text(capsys, command):
    # argparse %-formats help texts: a bare "%" once printed init's help as a dump of its options
    code, out, err = run_command(capsys, command, "--help")
    assert code == 0, err
    assert out.startswith(f"usage: corenn {command}")
    assert "option_strings" not in out


def test_init_help_says_what_each_template_is(capsys):
    from corenn.run.starters import TEMPLATES

    code, out, _ = run_command(capsys, "init", "--help")
    assert code == 0
    text = "".join(out.split())  # argparse wraps lines, at hyphens too
    for name, what in TEMPLATES.items():
        assert "".join(f"{name}: {what}".split()) in text


def test_help_imports_neither_numpy_nor_torch(tmp_path):
    probe = (
        "import sys, contextlib, io\n"
        "from corenn.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(sorted(name for name in ('numpy', 'torch', 'matplotlib') if name in sys.modules))\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"
    timed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "corenn", "--help"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert timed.returncode == 0 and "usage: corenn" in timed.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in timed.stderr.splitlines() if "|" in line}
    assert "numpy" not in imported and "torch" not in imported


def test_listing_plugins_imports_no_torch(tmp_path):
    probe = (
        "import sys, contextlib, io\n"
        "from corenn.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['plugins', '--json']) == 0\n"
        "print('torch' in sys.modules)\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "False"


# corenn gradcheck


def test_gradcheck_of_a_layer_passes_and_prints_each_error(capsys):
    code, out, _ = run_command(capsys, "gradcheck", "layer", "fully_connected", "n_out=3", "activation=tanh")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("layer fully_connected (numpy), input (4, 5)")
    for key in ("X", "W", "b"):
        line = next(line for line in lines if line.strip().startswith(f"d/d{key} "))
        assert line.rstrip().endswith("ok") and float(line.split("relative error")[1].split()[0]) <= 1e-6
    assert lines[-1] == "passed"


def test_gradcheck_json(capsys):
    code, out, _ = run_command(
        capsys, "gradcheck", "layer", "fully_connected", "n_out=3", "activation=tanh", "--input-shape", "6,2", "--json"
    )
    assert code == 0
    report = last_json_line(out)
    assert set(report["errors"]) == {"X", "W", "b"}
    assert report["passed"] is True and report["max_error"] == max(report["errors"].values()) <= 1e-6
    assert report["options"] == {"n_out": 3, "activation": "tanh"} and report["input_shape"] == [6, 2]


@pytest.mark.parametrize(("kind", "name"), [("activation", "softmax"), ("loss", "cross_entropy"), ("loss", "l2")])
def test_gradcheck_of_activations_and_losses(capsys, kind, name):
    code, out, _ = run_command(capsys, "gradcheck", kind, name, "--json")
    assert code == 0 and last_json_line(out)["passed"] is True


class BrokenTanh:
    """A third party's tanh whose backward forgot the chain rule's upstream factor."""

    name = "broken_tanh"

    def forward(self, Z):
        return np.tanh(Z)

    def backward(self, Z, dY):
        return 1 - np.tanh(Z) ** 2


class BrokenPlugin:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("activation", "broken_tanh", BrokenTanh)


@pytest.fixture
def broken_plugin_installed():
    """A plugin system with the installed plugins plus a third party's broken activation."""
    with plugins_in_use(
        plugin_system_from(BrokenPlugin, distribution="corenn-broken-example", version="9.9")
    ) as system:
        yield system


def test_gradcheck_of_a_broken_third_party_component_exits_1(capsys, broken_plugin_installed):
    code, out, _ = run_command(capsys, "gradcheck", "activation", "broken_tanh")
    assert code == 1
    assert "TOO LARGE" in out and out.splitlines()[-1].startswith("FAILED: largest relative error")
    code, out, _ = run_command(
        capsys, "gradcheck", "layer", "fully_connected", "n_out=2", "activation=broken_tanh", "--json"
    )
    assert code == 1
    report = last_json_line(out)
    assert report["passed"] is False and report["max_error"] > 1e-3
    code, out, _ = run_command(capsys, "plugins", "--json")
    broken = plugin_by_distribution(json.loads(out), "corenn-broken-example")
    assert broken["components"] == {"activation": ["broken_tanh"]} and broken["version"] == "9.9"


class NeedsWidth(corenn.nn.layers.Layer):
    """A layer with a required option and no example_options: the check cannot build it."""

    name = "needs_width"

    def __init__(self, width):
        super().__init__()
        self.width = width


class UncheckablePlugin:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("layer", "needs_width", NeedsWidth)


def test_plugins_check_exits_1_for_a_component_it_could_not_check(capsys):
    """It once printed "NOT built", then "every component imports and builds, every gradient
    checked", and exited 0: a plugin's CI passed a layer nothing had checked."""
    with plugins_in_use(plugin_system_from(UncheckablePlugin, distribution="corenn-uncheckable")):
        code, out, _ = run_command(capsys, "plugins", "--check")
    assert code == 1
    assert (
        "    check        0 built (0 gradient-checked), 1 NOT CHECKED: layer needs_width (needs width: declare "
        "example_options on NeedsWidth to check it)"
    ) in out.splitlines()
    assert out.splitlines()[-1].startswith("check: 1 NOT CHECKED (each line says what to declare) (")


class Uncallable:
    """A scheduler whose author forgot __call__."""

    def __init__(self, initial_lr, total_steps=None):
        self.initial_lr = initial_lr


class UncallablePlugin:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("scheduler", "uncallable", Uncallable, backend="any")


def test_a_scheduler_that_is_not_callable_is_named_before_training(capsys, tmp_path):
    """It failed at the first step as "unexpected TypeError: 'Uncallable' object is not callable
    (a bug in corenn or a plugin)", naming neither the scheduler nor its plugin."""
    config = tmp_path / "run.toml"
    config.write_text(
        'name = "u"\nepochs = 1\n[dataset]\nname = "iris"\n[scheduler]\nname = "uncallable"\n'
        '[[layers]]\nname = "fully_connected"\nn_out = "auto"\nactivation = "softmax"\n'
    )
    with plugins_in_use(plugin_system_from(UncallablePlugin, distribution="corenn-uncallable")):
        code, _, err = run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs")
    assert code == 1 and err.strip().splitlines() == [
        "corenn train: error: scheduler 'uncallable' (from corenn-uncallable) is not callable: a scheduler is "
        "scheduler(step) -> learning rate; give Uncallable a __call__(self, step)"
    ]
    assert not (tmp_path / "runs" / "u").exists()


def test_gradcheck_tolerance_decides_the_exit_code(capsys):
    assert run_command(capsys, "gradcheck", "activation", "tanh", "--tolerance", "0")[0] == 1


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["layer", "no_such_layer"], "unknown layer 'no_such_layer'"),
        (["layer", "fully_connected", "n_out"], "component options are KEY=VALUE"),
        (["layer", "fully_connected", "n_out=3", "units=2"], "no option 'units'"),
        (["layer", "fully_connected", "n_out=3", "--input-shape", "4,x"], "--input-shape takes positive integers"),
        (["loss", "l2", "--input-shape", "2,3,4"], "(samples, classes)"),
        (
            ["layer", "pool2d", "stride=2"],
            "layer 'pool2d' needs the option kernel_shape (no default); its options are:",
        ),
        (["layer", "fully_connected", "activation=relu"], "needs the option n_out (no default)"),
        (  # the options it needs, named (the example once named other layers' options)
            ["layer", "pool2d", "stride=2"],
            "; give them after the name (corenn gradcheck layer pool2d kernel_shape=...), or declare "
            "example_options on Pool2D to check it with those",
        ),
    ],
)
def test_gradcheck_bad_input_is_one_line(capsys, argv, fragment):
    code, _, err = run_command(capsys, "gradcheck", *argv)
    assert_one_line_error(code, err, "corenn gradcheck: error:", fragment)


@pytest.mark.parametrize(
    "argv",
    [
        ["layer", "batch_norm"],
        ["layer", "batch_norm", "activation=linear", "--seed", "2"],
        ["layer", "dropout", "rate=0.5"],
        [
            "layer",
            "residual",
            'layers=[{name="fully_connected", n_out=5, activation="tanh"}, {name="dropout", rate=0.3}]',
        ],
    ],
)
def test_gradcheck_passes_on_random_and_batch_statistics_layers(capsys, argv):
    """Dropout draws the same mask at every forward of the check, and the upstream gradient is
    not the input itself (with G == X, batch norm's dL/dX would vanish and the check be noise)."""
    assert main(["gradcheck", *argv, "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["passed"] and report["max_error"] < 1e-6


def test_threads_flag_trains_records_the_cap_and_may_change_on_resume(capsys, tmp_path, no_plots):
    assert (
        run_command(capsys, "train", "--out", tmp_path, "--name", "t", "--epochs", 2, "--threads", 1, "--quiet")[0] == 0
    )
    assert "threads = 1" in (tmp_path / "t" / "config.toml").read_text()
    code, out, _ = run_command(
        capsys, "train", "--resume", tmp_path / "t", "--epochs", 3, "--threads", 2, "--json", "--quiet"
    )
    assert code == 0 and last_json_line(out)["epochs"] == 3


@pytest.mark.parametrize("argv", [["--threads", "0"], ["--threads", "-1"]])
def test_threads_flag_must_be_positive(capsys, tmp_path, argv):
    code, _, err = run_command(capsys, "train", "--out", tmp_path, *argv)
    assert code == 1 and err.strip().splitlines() == [
        f"corenn train: error: --threads must be a positive integer, got {argv[1]}"
    ]


def test_gradcheck_takes_options_after_flags(capsys):
    code, out, _ = run_command(
        capsys,
        "gradcheck",
        "layer",
        "fully_connected",
        "--input-shape",
        "3,4",
        "n_out=2",
        "--seed",
        "1",
        "activation=tanh",
    )
    assert code == 0, out
    assert out.splitlines()[0] == "layer fully_connected (numpy), input (3, 4), tolerance 1e-06"
    assert (
        out.splitlines()[1] == "  parameters moved to random values (seed 1); --initial-parameters checks them as made"
    )
    code, _, err = run_command(capsys, "gradcheck", "layer", "fully_connected", "n_out=2", "--no-such-flag")
    assert code == 2 and "unrecognized arguments: --no-such-flag" in err
    code, _, err = run_command(capsys, "plugins", "n_out=2")
    assert code == 2 and "unrecognized arguments: n_out=2" in err


def test_gradcheck_at_the_initial_parameters_says_so(capsys):
    code, out, _ = run_command(capsys, "gradcheck", "layer", "fully_connected", "n_out=2", "--initial-parameters")
    assert code == 0, out
    assert out.splitlines()[1] == "  parameters as the layer made them (--initial-parameters)"


def test_plugins_check_builds_the_installed_components(capsys):
    code, out, _ = run_command(capsys, "plugins", "--check")
    assert code == 0, out
    assert out.splitlines()[-1].startswith("check: every component imports and builds, every gradient checked (")
    # corenn-fc: all 12 components built (fully_connected, residual and scale from their example_options)
    # and gradient-checked; its module of numpy overrides imported and each override held to its reference
    fc_check = next(line for line in out.splitlines() if line.startswith("    check        12 built"))
    assert fc_check.startswith(
        "    check        12 built (12 gradient-checked), 5 kernel overrides held to the reference"
    )
    code, out, _ = run_command(capsys, "plugins", "--check", "--json")
    fc = plugin_by_distribution(json.loads(out), "corenn-fc")
    assert {result["name"]: result["outcome"] for result in fc["check"]}["relu"] == "built"
