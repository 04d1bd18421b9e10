"""What a run says at its start (issue 20, item 4): the data it trains on and the network it
builds, also printed by ``corenn summary``; and that saying so changes nothing of the run."""

import json
import types

import numpy as np
import pytest

from corenn.run.config import config_from_dict, load_preset
from corenn.run.summaries import data_summary, model_summary
from corenn.run.train import train

from own_data_files import digit_images, sklearn_data, write_image_folder
from suite_helpers import run_command, trainer_for


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def test_a_run_starts_by_saying_what_it_trains_on_and_with_what(capsys, tmp_path, no_plots):
    code, out, _ = run_command(capsys, "train", "--epochs", "1", "--out", tmp_path)
    assert code == 0
    lines = out.splitlines()
    assert lines[:9] == [
        "data: iris, embedded in corenn",
        "  150 rows in 3 classes: setosa, versicolor, virginica",
        "  split 105 train / 15 validation / 30 test",
        "  each row 4 features: sepal_length, sepal_width, petal_length, petal_width",
        "model: 2 layers, 259 parameters",
        "  layer                       output shape  parameters",
        "  0 fully_connected, relu     32                   160",
        "  1 fully_connected, softmax  3                     99",
        "  total                                            259  (2.0 KiB as float64)",
    ]
    assert lines[9].startswith("epoch 1/1")


@pytest.fixture(scope="module")
def digits_folder(tmp_path_factory):
    """100 of scikit-learn's 8x8 digits as grey PNGs, ten per class, in one folder per class."""
    X, labels, _ = sklearn_data("digits")
    chosen = np.concatenate([np.flatnonzero(labels == str(digit))[:10] for digit in range(10)])
    return write_image_folder(tmp_path_factory.mktemp("digits") / "digits", digit_images(X[chosen]), labels[chosen])


CONV = {
    "name": "digits-cnn",
    "epochs": 1,
    "dataset": {"name": "image_folder", "root": None, "grayscale": True, "cache": False},
    "layers": [
        {"name": "conv2d", "n_out": 4, "kernel_shape": 3, "pad": "same", "activation": "relu"},
        {"name": "pool2d", "kernel_shape": 2, "stride": 2},
        {"name": "conv2d", "n_out": 6, "kernel_shape": 3, "pad": "valid", "activation": "relu"},
        {"name": "flatten"},
        {"name": "dropout", "rate": 0.2},
        {"name": "fully_connected", "n_out": 16},
        {"name": "batch_norm", "activation": "relu"},
        {"name": "fully_connected", "n_out": "auto", "activation": "softmax"},
    ],
}


def conv_config(root, **changes):
    return {**CONV, "dataset": {**CONV["dataset"], "root": str(root)}, **changes}


def test_the_image_folder_summary_counts_images_classes_and_channels(capsys, tmp_path, digits_folder):
    path = tmp_path / "digits.toml"
    path.write_text(config_from_dict(conv_config(digits_folder)).to_toml(), encoding="utf-8")
    code, out, _ = run_command(capsys, "summary", "--config", path)
    assert code == 0
    assert out.splitlines()[:5] == [
        "digits-cnn",
        f"data: image_folder {digits_folder}",
        "  100 images in 10 classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9",
        "  split 72 train / 8 validation / 20 test",
        "  each image 8x8 pixels, 1 channel (grey)",
    ]
    code, out, _ = run_command(capsys, "summary", "--config", path, "--json")
    summary = json.loads(out)
    assert summary["data"]["splits"] == {"train": 72, "val": 8, "test": 20}
    assert summary["data"]["channels"] == 1 and summary["data"]["input_shape"] == [8, 8, 1]
    shapes = [tuple(layer["output_shape"]) for layer in summary["model"]["layers"]]
    assert shapes == [(8, 8, 4), (4, 4, 4), (2, 2, 6), (24,), (24,), (16,), (16,), (10,)]
    params = [layer["parameters"] for layer in summary["model"]["layers"]]
    assert params == [3 * 3 * 1 * 4 + 4, 0, 3 * 3 * 4 * 6 + 6, 0, 0, 24 * 16 + 16, 2 * 16, 16 * 10 + 10]
    assert summary["model"]["buffers"] == 2 * 16  # batch norm's running mean and variance


def test_the_shapes_are_those_a_batch_takes_through_the_network(digits_folder):
    trainer = trainer_for(config_from_dict(conv_config(digits_folder)))
    model = trainer.run.model
    summary = model_summary(model, trainer.data.input_shape, "float64")
    X = trainer.data.train.X[:5]
    for row, layer in zip(summary.rows, model.layers, strict=True):
        X = layer.forward(X)
        assert row["output_shape"] == X.shape[1:]
    assert summary.parameters == model.parameter_count()


def test_summarising_the_network_changes_nothing_of_the_run(tmp_path, digits_folder, no_plots):
    """The summary's zero sample goes through dropout and batch norm in eval mode: a run that
    prints it ends with the very parameters of one that does not."""
    config = conv_config(digits_folder, epochs=2)
    train(config, out_dir=tmp_path / "quiet", verbose=False)
    train(config, out_dir=tmp_path / "verbose", verbose=True)
    quiet, verbose = (np.load(tmp_path / where / "digits-cnn" / "parameters.npz") for where in ("quiet", "verbose"))
    assert sorted(quiet.files) == sorted(verbose.files)
    for name in quiet.files:
        assert np.array_equal(quiet[name], verbose[name]), name


def test_summary_of_a_preset_without_data_files_names_the_data_root(capsys, tmp_path):
    """MNIST's summary (from CORENN_DATA_DIR), what the README shows; skipped without MNIST."""
    import os

    data_dir = os.environ.get("CORENN_DATA_DIR")
    if not data_dir or not os.path.isdir(os.path.join(data_dir, "MNIST", "raw")):
        pytest.skip("MNIST is not in CORENN_DATA_DIR")
    code, out, _ = run_command(capsys, "summary", "--preset", "lenet-mnist")
    assert code == 0
    lines = out.splitlines()
    assert lines[1] == f"data: mnist, from the data root {data_dir}"
    assert lines[2:5] == [
        "  70,000 images in 10 classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9",
        "  split 55,000 train / 5,000 validation / 10,000 test",
        "  each image 28x28 pixels, 1 channel (grey)",
    ]
    assert lines[5] == "model: 8 layers, 61,706 parameters"
    assert lines[-1].split()[:2] == ["total", "61,706"]


def test_data_without_classes_is_summarised_by_its_targets_range():
    """Regression data (no classes) gives the targets' range, read from the prepared data."""
    data = types.SimpleNamespace(
        train=_Split([[25.0], [346.0], [100.0]]),
        val=None,
        test=_Split([[40.0]]),
        n_classes=None,
        class_names=(),
        input_shape=(10,),
        inputs={"kind": "table", "features": [f"x{i}" for i in range(10)]},
    )
    summary = data_summary(data, load_preset("iris-ffnn").dataset)
    assert summary.classes is None and summary.target_range == (25.0, 346.0)
    assert summary.lines()[1:3] == [
        "  4 rows, targets from 25 to 346",
        "  split 3 train / 1 test (no validation split)",
    ]


class _Split:
    def __init__(self, Y):
        self.Y = np.asarray(Y)

    def __len__(self):
        return len(self.Y)


def test_summary_fits_a_whitening_layer_first_as_a_run_does(capsys, tmp_path, digits_folder):
    """patch_whitening refuses a forward before it is fitted: corenn summary fits it to the
    training images first, as a run does."""
    layers = [{"name": "patch_whitening", "kernel_size": 2}, {"name": "flatten"}, CONV["layers"][-1]]
    config = conv_config(digits_folder, layers=layers)
    config["dataset"] = {**config["dataset"], "grayscale": False}
    path = tmp_path / "whitened.toml"
    path.write_text(config_from_dict(config).to_toml(), encoding="utf-8")
    code, out, err = run_command(capsys, "summary", "--config", path, "--json")
    assert code == 0, err
    model = json.loads(out)["model"]
    assert [tuple(layer["output_shape"]) for layer in model["layers"]] == [(7, 7, 24), (1176,), (10,)]
    assert model["buffers"] == 2 * 2 * 3 * 24  # the fitted filters
