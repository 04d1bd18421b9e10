"""best.npz (the epoch with the best validation metric), early stopping (``patience``), and
the total training time of a resumed run."""

import json

import numpy as np
import pytest

from corenn.errors import ConfigError, CorennError
from corenn.files import load_arrays
from corenn.records.folder import best_epoch, parameters_file
from corenn.run.config import config_from_dict, load_preset
from corenn.run.resume import resume
from corenn.run.train import train
from corenn.testing import InterruptAtEpochEnd


def iris(epochs=6, **changes):
    data = load_preset("iris-ffnn").to_dict() | {"epochs": epochs} | changes
    data["layers"][0]["n_out"] = 8
    return data


class ParametersPerEpoch:
    """Every epoch's parameters, to check which one best.npz holds."""

    def __init__(self):
        self.by_epoch = {}

    from corenn import hookimpl

    @hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        self.by_epoch[epoch] = {name: np.array(value) for name, value in run.model.named_parameters().items()}


def test_best_epoch_picks_the_highest_accuracy_or_lowest_loss_and_the_earlier_on_ties():
    history = [
        {"epoch": 1, "val_accuracy": 0.5, "val_loss": 0.9},
        {"epoch": 2, "val_accuracy": 0.8, "val_loss": 0.4},
        {"epoch": 3, "val_accuracy": 0.8, "val_loss": 0.3},
    ]
    assert best_epoch(history, "val_accuracy") == 2
    assert best_epoch(history, "val_loss") == 3
    assert best_epoch([{"epoch": 1, "train_loss": 1.0}], "val_accuracy") is None


@pytest.mark.parametrize("metric", ["val_accuracy", "val_loss"])
def test_best_npz_holds_the_parameters_of_the_best_epoch(tmp_path, metric):
    epochs = ParametersPerEpoch()
    result = train(
        iris(epochs=8, best_metric=metric, optimizer={"name": "sgd", "lr": 0.3}),
        out_dir=tmp_path,
        verbose=False,
        callbacks=[epochs],
    )
    run_dir = tmp_path / "iris-ffnn"
    history = json.loads((run_dir / "metrics.json").read_text())
    best = best_epoch(history, metric)
    assert result["best_epoch"] == best
    assert result[f"best_{metric}"] == history[best - 1][metric]
    saved = load_arrays(run_dir / "best.npz")
    for name, value in epochs.by_epoch[best].items():
        assert np.array_equal(saved[name], value)
    assert parameters_file(run_dir, "best") == run_dir / "best.npz"
    assert parameters_file(run_dir, "last") == run_dir / "parameters.npz"


def test_a_run_without_best_npz_says_why_and_what_to_use(tmp_path):
    (tmp_path / "iris-ffnn").mkdir()
    (tmp_path / "iris-ffnn" / "parameters.npz").write_bytes(b"")  # as a run without validation leaves it
    with pytest.raises(CorennError, match="has no best.npz: it has no validation split.*use --which last"):
        parameters_file(tmp_path / "iris-ffnn", "best")


def test_patience_stops_once_the_metric_has_not_improved_for_that_many_epochs(tmp_path):
    result = train(iris(epochs=200, patience=3), out_dir=tmp_path, verbose=False)
    history = json.loads((tmp_path / "iris-ffnn" / "metrics.json").read_text())
    assert result["stopped_early"] and result["epochs"] == len(history) < 200
    assert history[-1]["epoch"] - best_epoch(history, "val_accuracy") == 3
    assert all(row["epoch"] - best_epoch(history[: row["epoch"]], "val_accuracy") < 3 for row in history[:-1])


def test_a_resumed_run_stops_early_at_the_same_epoch(tmp_path):
    whole = train(iris(epochs=200, patience=3), out_dir=tmp_path / "whole", verbose=False)
    with pytest.raises(KeyboardInterrupt):
        train(iris(epochs=200, patience=3), out_dir=tmp_path / "cut", verbose=False, callbacks=[InterruptAtEpochEnd(2)])
    resumed = resume(tmp_path / "cut" / "iris-ffnn", verbose=False)
    assert resumed["epochs"] == whole["epochs"] and resumed["best_epoch"] == whole["best_epoch"]
    assert np.array_equal(
        load_arrays(tmp_path / "cut" / "iris-ffnn" / "best.npz")["0.W"],
        load_arrays(tmp_path / "whole" / "iris-ffnn" / "best.npz")["0.W"],
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"patience": 0}, "patience must be a positive integer, got 0"),
        ({"patience": "3"}, "patience must be an integer"),
        ({"best_metric": "test_accuracy"}, "best_metric must be one of val_accuracy, val_loss"),
        ({"plugins": {"tensorboard": 1}}, "plugins.tensorboard must be a table"),
    ],
)
def test_bad_keys_name_the_key(changes, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(iris() | changes)


def test_the_config_keys_survive_the_round_trip_and_defaults_stay_out_of_it():
    config = config_from_dict(iris(patience=4, best_metric="val_loss", plugins={"tensorboard": {"every": 2}}))
    assert config_from_dict(config.to_dict()) == config
    plain = config_from_dict(iris()).to_dict()
    assert not {"patience", "best_metric", "plugins"} & set(plain)


class SlowEpochs:
    """Makes each epoch take at least ``seconds`` of wall time."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.completed = 0  # sleeps that ran to their end (Ctrl-C may cut the last one short)

    from corenn import hookimpl

    @hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        import time

        time.sleep(self.seconds)
        self.completed += 1


def test_a_resumed_runs_time_counts_every_session(tmp_path):
    slow = SlowEpochs(0.2)
    with pytest.raises(KeyboardInterrupt):
        train(iris(epochs=4), out_dir=tmp_path, verbose=False, callbacks=[slow, InterruptAtEpochEnd(3)])
    assert slow.completed >= 2  # the third sleep may be cut short by the Ctrl-C
    result = resume(tmp_path / "iris-ffnn", verbose=False)
    assert result["epochs"] == 4
    # the resumed session alone trains one iris epoch (a few milliseconds)
    assert result["seconds"] >= 0.2 * slow.completed, "the epochs before the interruption count too"
