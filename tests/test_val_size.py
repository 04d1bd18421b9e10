"""``val_size`` of the image data sets, and runs without a validation split: the trainer, the
metrics files, the plots, the console and the command line report no val metrics."""

import csv
import os
from pathlib import Path

import numpy as np
import pytest

import corenn
from corenn.cli import main
from corenn.data import cifar10, mnist
from corenn.data.iris import load_iris
from corenn.data.loader import check_val_size, split_off_validation
from corenn.data.splits import DatasetSplits
from corenn.errors import ConfigError, DataError
from corenn.records.folder import METRIC_COLUMNS
from corenn.run import train as run_train
from corenn.run.resume import resume
from corenn.testing import plugin_system_from, plugins_in_use
from corenn.trained.predict import predict_labels

DATA_ROOT = Path(os.environ["CORENN_DATA_DIR"]) if os.environ.get("CORENN_DATA_DIR") else None
needs_cifar = pytest.mark.skipif(
    DATA_ROOT is None or not (DATA_ROOT / cifar10.FOLDER / cifar10.TEST_BATCH).is_file(),
    reason="CIFAR-10 batches not under $CORENN_DATA_DIR",
)
needs_mnist = pytest.mark.skipif(
    DATA_ROOT is None or not all((DATA_ROOT / "MNIST" / "raw" / f.name).is_file() for f in mnist.MNIST_FILES.values()),
    reason="MNIST files not under $CORENN_DATA_DIR",
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


pytestmark = pytest.mark.usefixtures("no_network")  # any download attempt fails, as offline


# The data sets


@pytest.mark.parametrize("val_size", [-1, 50_000, 1.5, True, "100"])
def test_a_bad_val_size_names_the_option_and_the_range(val_size):
    with pytest.raises(
        ConfigError,
        match=r"dataset\.val_size must be an integer from 0 \(no validation split\) to 49999 .*got "
        + repr(val_size)[:3],
    ):
        check_val_size(val_size, 50_000, "cifar10")


def test_the_last_samples_validate_and_zero_leaves_no_validation_split():
    X, y = np.arange(20).reshape(10, 2), np.arange(10) % 3
    train, val = split_off_validation(X, y, 3, "toy")
    assert np.array_equal(train.X, X[:7]) and np.array_equal(val.X, X[7:]) and np.array_equal(val.y, y[7:])
    train, val = split_off_validation(X, y, 0, "toy")
    assert val is None and np.array_equal(train.X, X) and np.array_equal(train.y, y)


def test_cifar10_checks_val_size_before_looking_for_its_files(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset\.val_size must be an integer from 0 .* to 49999 .*got 50000"):
        corenn.create("dataset", "cifar10", val_size=50_000, data_dir=str(tmp_path))


def test_mnist_checks_val_size_before_looking_for_its_files(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset\.val_size must be an integer from 0 .* to 59999 .*got -5"):
        corenn.create("dataset", "fashion_mnist", val_size=-5, data_dir=str(tmp_path))


@needs_cifar
def test_cifar10_val_size_takes_the_last_training_images_and_zero_trains_on_all():
    default = corenn.create("dataset", "cifar10", data_dir=str(DATA_ROOT))
    everything = corenn.create("dataset", "cifar10", val_size=0, data_dir=str(DATA_ROOT))
    assert everything.val is None and everything.train.X.shape == (50_000, 32, 32, 3)
    assert np.array_equal(everything.train.X[:45_000], default.train.X)
    assert np.array_equal(everything.train.y[45_000:], default.val.y)
    assert np.array_equal(everything.test.y, default.test.y)
    small = corenn.create("dataset", "cifar10", val_size=1000, data_dir=str(DATA_ROOT))
    assert len(small.train) == 49_000 and np.array_equal(small.val.X, default.val.X[-1000:])


@needs_mnist
def test_mnist_val_size_zero_trains_on_all_60000():
    splits = corenn.create("dataset", "mnist", val_size=0, data_dir=str(DATA_ROOT))
    assert splits.val is None and splits.train.X.shape == (60_000, 28, 28, 1)
    small = corenn.create("dataset", "mnist", val_size=100, data_dir=str(DATA_ROOT))
    assert np.array_equal(small.val.X, splits.train.X[-100:]) and len(small.train) == 59_900


# Training without a validation split


def iris_without_val(data_dir=None):
    splits = load_iris(data_dir)
    return DatasetSplits("iris_without_val", splits.train, None, splits.test, splits.class_names)


class NoValPlugin:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("dataset", "iris_without_val", iris_without_val)


@pytest.fixture(autouse=True)
def test_components():
    with plugins_in_use(plugin_system_from(NoValPlugin)):
        yield


def config(epochs=3):
    return {
        "name": "no-val",
        "epochs": epochs,
        "dataset": {"name": "iris_without_val", "batch_size": 16},
        "optimizer": {"name": "sgd", "lr": 0.1},
        "layers": [
            {"name": "fully_connected", "n_out": 8, "activation": "relu"},
            {"name": "fully_connected", "n_out": "auto", "activation": "softmax"},
        ],
    }


@pytest.fixture(scope="module")
def run_without_val(tmp_path_factory):
    out = tmp_path_factory.mktemp("no-val")
    with plugins_in_use(plugin_system_from(NoValPlugin)):
        result = run_train.train(config(), out_dir=out, verbose=False)
    return result, out / "no-val"


def test_a_run_without_validation_reports_train_and_test_only(run_without_val):
    result, run_dir = run_without_val
    assert result["val_loss"] is None and result["val_accuracy"] is None
    assert result["test_accuracy"] > 0.5 and result["epochs"] == 3
    with open(run_dir / "metrics.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == [column for column in METRIC_COLUMNS if not column.startswith("val_")]
    assert all(row["learning_rate"] and row["train_loss"] for row in rows) and len(rows) == 3


def test_the_plots_of_a_run_without_validation_are_drawn(run_without_val):
    _, run_dir = run_without_val
    for name in ("loss.png", "accuracy.png", "loss_steps.png"):
        assert (run_dir / name).read_bytes().startswith(PNG_SIGNATURE), name


def test_a_run_without_validation_resumes_to_more_epochs(run_without_val, tmp_path):
    import shutil

    _, run_dir = run_without_val
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    result = resume(copy, verbose=False, epochs=4)
    assert result["epochs"] == 4 and result["val_loss"] is None


def test_the_console_lines_leave_out_validation(capsys):
    run_train.train(config(epochs=2), record=False, verbose=True)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == 2 and all("train_loss" in line and "lr " in line and "val_" not in line for line in lines)


def test_corenn_train_prints_a_summary_without_validation_accuracy(tmp_path, capsys):
    import tomli_w

    path = tmp_path / "no-val.toml"
    path.write_text(tomli_w.dumps(config(epochs=1)))
    code = main(["train", "--config", str(path), "--out", str(tmp_path / "runs"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "no-val: 1 epoch in" in out and "test accuracy" in out and "val accuracy" not in out


def test_predicting_the_missing_validation_split_says_so(run_without_val):
    _, run_dir = run_without_val
    with pytest.raises(DataError, match=r"data set 'iris_without_val' has no val split"):
        predict_labels(run_dir, split="val")
