"""Early stopping says so, and ``restore_best`` tests a run with its best epoch's parameters
(issue 20, item 4): the line at the stop, the result's ``stopped_early`` and ``restored_best``,
the final line saying whose parameters gave the test accuracy, and the records."""

import json

import numpy as np
import pytest

from corenn import hookimpl
from corenn.errors import ConfigError
from corenn.files import load_arrays
from corenn.records.folder import best_epoch
from corenn.run.config import config_from_dict, load_preset
from corenn.run.resume import resume
from corenn.run.train import train
from corenn.testing import InterruptAtEpochEnd

from suite_helpers import run_command, trainer_for


def iris(epochs=200, **changes):
    data = load_preset("iris-ffnn").to_dict() | {"epochs": epochs} | changes
    data["layers"][0]["n_out"] = 8
    return data


class ParametersPerEpoch:
    """Every epoch's parameters, to check which ones the test used and the files hold."""

    def __init__(self):
        self.by_epoch = {}

    @hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        self.by_epoch[epoch] = {name: np.array(value) for name, value in run.model.named_parameters().items()}


def metrics_on_test(config, parameters):
    """The test loss and accuracy of ``config``'s network holding ``parameters``."""
    trainer = trainer_for(config_from_dict(config))
    trainer.run.model.load_parameters(parameters)
    return trainer.evaluate(trainer.data.test, "test")


def test_an_early_stop_says_when_why_and_which_epoch_was_best(capsys, tmp_path, no_plots):
    config = tmp_path / "stops.toml"
    config.write_text(config_from_dict(iris(patience=3, name="stops")).to_toml(), encoding="utf-8")
    code, out, _ = run_command(capsys, "train", "--config", config, "--out", tmp_path)
    assert code == 0
    result = json.loads((tmp_path / "stops" / "result.json").read_text())
    stopped = result["stopped_early"]
    history = json.loads((tmp_path / "stops" / "metrics.json").read_text())
    best = best_epoch(history, "val_accuracy")
    assert stopped == {
        "epoch": len(history),
        "reason": "patience",
        "patience": 3,
        "best_epoch": best,
        "metric": "val_accuracy",
        "value": history[best - 1]["val_accuracy"],
    }
    assert stopped["epoch"] - stopped["best_epoch"] == 3 and stopped["epoch"] < 200
    lines = out.splitlines()
    assert lines[-3] == (
        f"stopped early at epoch {stopped['epoch']} (patience 3); best epoch {best} "
        f"(val_accuracy {stopped['value']:.4f})"
    )
    assert lines[-4].startswith(f"epoch {stopped['epoch']:>3}/200")
    # patience restores the best epoch's parameters unless told otherwise, and the last line says so
    assert result["restored_best"] is True
    assert lines[-2].startswith(f"stops: {stopped['epoch']} epochs in ")
    assert lines[-2].endswith(
        f"(stopped early), test accuracy {result['test_accuracy']:.4f} with the best epoch's parameters "
        f"(epoch {best}: val_accuracy {stopped['value']:.4f})"
    )


def test_a_run_that_did_not_stop_early_records_null_and_the_last_parameters(tmp_path, no_plots):
    result = train(iris(epochs=3), out_dir=tmp_path, verbose=False)
    assert result["stopped_early"] is None and result["restored_best"] is False


def test_restore_best_tests_with_best_npz_and_keeps_the_last_parameters_in_parameters_npz(tmp_path, no_plots):
    epochs = ParametersPerEpoch()
    config = iris(patience=3, optimizer={"name": "sgd", "lr": 0.3})
    result = train(config, out_dir=tmp_path, verbose=False, callbacks=[epochs])
    run_dir = tmp_path / "iris-ffnn"
    best, last = result["best_epoch"], result["epochs"]
    assert best < last and result["restored_best"] is True
    best_npz = load_arrays(run_dir / "best.npz")
    assert all(np.array_equal(best_npz[name], value) for name, value in epochs.by_epoch[best].items())
    expected = metrics_on_test(config, best_npz)
    assert (result["test_loss"], result["test_accuracy"]) == (expected["test_loss"], expected["test_accuracy"])
    saved = load_arrays(run_dir / "parameters.npz")
    assert all(np.array_equal(saved[name], value) for name, value in epochs.by_epoch[last].items())


def test_restore_best_false_tests_with_the_last_parameters(tmp_path, no_plots):
    epochs = ParametersPerEpoch()
    config = iris(patience=3, restore_best=False, optimizer={"name": "sgd", "lr": 0.3})
    result = train(config, out_dir=tmp_path, verbose=False, callbacks=[epochs])
    assert result["stopped_early"] is not None and result["restored_best"] is False
    expected = metrics_on_test(config, epochs.by_epoch[result["epochs"]])
    assert result["test_loss"] == expected["test_loss"]


def test_restore_best_in_a_run_that_records_nothing_keeps_its_own_copy(no_plots):
    """Without a run folder there is no best.npz: the best epoch's parameters are kept in memory."""
    epochs = ParametersPerEpoch()
    config = iris(epochs=25, restore_best=True, optimizer={"name": "sgd", "lr": 0.3})
    result = train(config, record=False, verbose=False, callbacks=[epochs])
    assert result["restored_best"] is True and result["stopped_early"] is None
    assert result["best_epoch"] < 25
    expected = metrics_on_test(config, epochs.by_epoch[result["best_epoch"]])
    assert result["test_loss"] == expected["test_loss"]


def test_a_resumed_run_tests_with_the_best_epoch_before_its_interruption(tmp_path, no_plots):
    config = iris(patience=3, optimizer={"name": "sgd", "lr": 0.3})
    whole = train(config, out_dir=tmp_path / "whole", verbose=False)
    with pytest.raises(KeyboardInterrupt):
        train(config, out_dir=tmp_path / "cut", verbose=False, callbacks=[InterruptAtEpochEnd(whole["best_epoch"] + 1)])
    resumed = resume(tmp_path / "cut" / "iris-ffnn", verbose=False)
    for key in ("epochs", "best_epoch", "stopped_early", "restored_best", "test_loss", "test_accuracy"):
        assert resumed[key] == whole[key], key


def test_restore_best_needs_a_validation_split(tmp_path):
    import importlib.resources

    csv = tmp_path / "iris.csv"
    csv.write_text((importlib.resources.files("corenn") / "data" / "iris.csv").read_text(), encoding="utf-8")
    config = iris(restore_best=True, dataset={"name": "csv", "path": str(csv), "val_size": 0})
    with pytest.raises(ConfigError, match="restore_best = true needs a validation split"):
        train(config, out_dir=tmp_path, verbose=False)


def test_restore_best_is_a_config_key_kept_in_the_recorded_config():
    config = config_from_dict(iris(restore_best=False, patience=2))
    assert config.to_dict()["restore_best"] is False and not config.restores_best
    assert config_from_dict(config.to_dict()) == config
    assert "restore_best" not in config_from_dict(iris()).to_dict()  # unset: absent, as in older runs
    assert config_from_dict(iris(patience=2)).restores_best and not config_from_dict(iris()).restores_best
    with pytest.raises(ConfigError, match="restore_best must be true or false, got 'yes'"):
        config_from_dict(iris(restore_best="yes"))


def test_evaluate_and_load_default_to_the_parameters_the_runs_own_test_used(tmp_path, capsys, no_plots):
    """After restore_best, `corenn evaluate RUN` and `corenn.load(RUN)` agree with the run's final
    line (the best epoch's parameters); --which last still gives the last epoch's."""
    import corenn

    config = iris(patience=3, optimizer={"name": "sgd", "lr": 0.3}, name="restored")
    result = train(config, out_dir=tmp_path, verbose=False)
    assert result["restored_best"] is True and result["best_epoch"] < result["epochs"]
    run_dir = tmp_path / "restored"
    code, out, _ = run_command(capsys, "evaluate", run_dir, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["which"] == "best" and report["accuracy"] == pytest.approx(result["test_accuracy"], abs=1e-12)
    assert corenn.load(run_dir).which == "best"
    code, out, _ = run_command(capsys, "evaluate", run_dir, "--which", "last", "--json")
    assert code == 0 and json.loads(out)["which"] == "last"
    unrestored = train(config | {"name": "kept", "restore_best": False}, out_dir=tmp_path, verbose=False)
    assert unrestored["restored_best"] is False and corenn.load(tmp_path / "kept").which == "last"
