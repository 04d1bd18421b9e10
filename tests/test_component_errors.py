"""A bug inside a component is blamed on it, its traceback kept (issue 21, item 4), and a
plugin's failing lifecycle hook neither floods the output nor changes the run (issue 22, hole 13)."""

import numpy as np
import pytest

import corenn
from corenn.errors import component_of
from corenn.nn.layers import Layer
from corenn.nn.model import Sequential
from corenn.testing import plugin_system_from, plugins_in_use

from suite_helpers import run_command

CONFIG = """
name = "blamed"
epochs = 2
[dataset]
name = "iris"
batch_size = 25
[[layers]]
name = "{layer}"
[[layers]]
name = "fully_connected"
n_out = "auto"
activation = "softmax"
"""


class TypoInForward(Layer):
    name = "typo_in_forward"

    def forward(self, X):
        self.n_in = self.n_out = X.shape[1]
        return X * self.paramters  # the typo

    def backward(self, dLdY):
        return dLdY * self.paramters


class TypoInBackward(Layer):
    name = "typo_in_backward"

    def forward(self, X):
        self.n_in = self.n_out = X.shape[1]
        return X

    def backward(self, dLdY):
        return dLdY * self.cahce  # the typo


class Typos:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("layer", "typo_in_forward", TypoInForward, backend="any")
        register("layer", "typo_in_backward", TypoInBackward, backend="any")


@pytest.fixture
def typos():
    with plugins_in_use(plugin_system_from(Typos, distribution="corenn-typos")) as system:
        yield system


def test_the_model_notes_the_layer_on_the_exception_and_keeps_its_type(typos):
    model = Sequential(
        [corenn.create("layer", "fully_connected", n_out=4), TypoInForward()], ["fully_connected", "typo_in_forward"]
    )
    with pytest.raises(AttributeError) as raised:
        model.forward(np.ones((2, 3)))
    assert component_of(raised.value) == "layers[1] (typo_in_forward, from corenn-typos)"
    assert raised.value.__traceback__ is not None


def test_inside_a_residual_block_both_layers_are_named(typos):
    block = corenn.create("layer", "residual", layers=[{"name": "typo_in_forward"}])
    model = Sequential([block], ["residual"])
    with pytest.raises(AttributeError) as raised:
        model.forward(np.ones((2, 3)))
    assert component_of(raised.value) == (
        "layers[0] (residual, from corenn-fc): residual layers[0] (typo_in_forward, from corenn-typos)"
    )


@pytest.mark.parametrize("layer, attribute", [("typo_in_forward", "paramters"), ("typo_in_backward", "cahce")])
def test_train_names_the_layer_and_writes_the_traceback_into_the_run(typos, capsys, tmp_path, layer, attribute):
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(layer=layer))
    code, _, err = run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs", "--quiet")
    run_dir = tmp_path / "runs" / "blamed"
    assert code == 1
    assert err.splitlines()[-1] == (
        f"corenn train: error: layers[0] ({layer}, from corenn-typos): unexpected AttributeError: '{type(corenn.create('layer', layer)).__name__}' "
        f"object has no attribute '{attribute}' (a bug in corenn or a plugin); the traceback is in {run_dir / 'error.log'}"
    )
    assert f"self.{attribute}" in (run_dir / "error.log").read_text()


def test_a_run_that_failed_while_being_built_resumes_from_the_beginning_once_fixed(typos, capsys, tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(layer="typo_in_forward"))
    assert run_command(capsys, "train", "--config", config, "--out", tmp_path, "--quiet")[0] == 1
    assert sorted(path.name for path in (tmp_path / "blamed").iterdir()) == ["config.toml", "error.log"]
    TypoInForward.paramters = 1.0  # the fix
    try:
        code, out, err = run_command(capsys, "train", "--resume", tmp_path / "blamed", "--quiet")
    finally:
        del TypoInForward.paramters
    assert code == 0, err
    assert (tmp_path / "blamed" / "result.json").is_file()


class Flaky:
    """A tracker failing at every step, and rewriting the epoch's metrics it is given."""

    @corenn.hookimpl
    def corenn_step_end(self, run, step, metrics):
        metrics["loss"] = "rewritten"
        raise ConnectionError(f"tracker offline at step {step}")

    @corenn.hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        metrics.clear()


def test_a_failing_step_hook_is_one_line_per_run_and_its_changes_are_its_own(capsys):
    from corenn.run.config import load_preset, with_overrides
    from corenn.run.train import train

    with plugins_in_use(plugin_system_from(Flaky)):
        result = train(with_overrides(load_preset("iris-ffnn"), epochs=3), record=False, verbose=False)
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "corenn: warning: plugin 'Flaky' failed in corenn_step_end: ConnectionError: tracker offline at step 1; "
        "training goes on (its later failures in this hook are counted, not shown)",
        "corenn: warning: plugin 'Flaky' failed in corenn_step_end 15 times in this run (the first failure is shown above)",
    ]
    assert result["epochs"] == 3 and result["val_accuracy"] is not None
