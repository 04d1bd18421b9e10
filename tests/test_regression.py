"""Regression on a user's table (issue 20, item 1): scikit-learn's diabetes written as a CSV file,
trained on through the command line with ``loss = "l2"`` and a linear output (the task inferred
and said), its errors (MSE, MAE, R^2) in the records, ``evaluate``, ``runs`` and ``compare``, its
values written by ``predict``; and a classification run's records unchanged."""

import csv
import io
import json

import numpy as np
import pytest

import corenn
from corenn.data.tasks import regression_metrics, scores_of, spread_about_mean
from corenn.records.folder import METRIC_COLUMNS

from own_data_files import write_csv
from suite_helpers import run_command

pytest.importorskip("sklearn")

REGRESSION_CONFIG = """\
name = "{name}"
epochs = {epochs}
seed = 0
loss = "l2"
{extra}
[dataset]
name = "csv"
path = "{path}"
label = "target"
batch_size = 32
{dataset}
[optimizer]
name = "adam"
lr = 0.01
[[layers]]
name = "fully_connected"
n_out = 32
activation = "relu"
[[layers]]
name = "fully_connected"
n_out = {n_out}
"""


def regression_config(tmp_path, path, *, name="diabetes", epochs=40, n_out="1", dataset="", extra=""):
    config = tmp_path / f"{name}.toml"
    config.write_text(
        REGRESSION_CONFIG.format(name=name, path=path, epochs=epochs, n_out=n_out, dataset=dataset, extra=extra)
    )
    return config


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory):
    import sklearn.datasets

    bunch = sklearn.datasets.load_diabetes()
    folder = tmp_path_factory.mktemp("diabetes")
    path = write_csv(folder / "diabetes.csv", bunch.data, bunch.target, bunch.feature_names, label="target")
    return path, bunch.data, bunch.target


@pytest.fixture(scope="module")
def diabetes_run(diabetes, tmp_path_factory, plots_skipped):
    path, _, _ = diabetes
    folder = tmp_path_factory.mktemp("diabetes_run")
    config = regression_config(folder, path)
    from corenn.cli import main

    with plots_skipped():
        assert main(["train", "--config", str(config), "--out", str(folder / "runs"), "--quiet", "--json"]) == 0
    return folder / "runs" / "diabetes"


def test_the_metrics_by_hand():
    truth = np.array([[1.0], [2.0], [4.0]])
    predicted = np.array([[1.5], [2.0], [3.0]])
    scores = scores_of(predicted, truth)
    assert scores["mse"] == pytest.approx((0.25 + 0 + 1) / 3)
    assert scores["mae"] == pytest.approx((0.5 + 0 + 1) / 3)
    assert scores["r2"] == pytest.approx(1 - 1.25 / spread_about_mean(truth)[0])
    # standardised errors come back in the targets' units; a constant target scores as scikit-learn's r2_score
    metrics = regression_metrics("val", [4.0], [2.0], 2, [0.0], 3.0)
    assert metrics == {"val_mse": 18.0, "val_mae": 3.0, "val_r2": 0.0}
    assert regression_metrics("x", [0.0], [0.0], 2, [0.0], 3.0)["x_r2"] == 1.0
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    rng = np.random.default_rng(0)
    truth, predicted = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    assert scores_of(predicted, truth) == pytest.approx(
        {
            "mse": mean_squared_error(truth, predicted),
            "mae": mean_absolute_error(truth, predicted),
            "r2": r2_score(truth, predicted),
        }
    )


def test_diabetes_trains_as_a_regression_through_the_cli(diabetes, tmp_path, capsys, no_plots):
    """Before: ``the data set has 214 classes``. Now the task is inferred from the loss and the
    linear output, said in one line, and the run reports its errors."""
    path, _, _ = diabetes
    config = regression_config(tmp_path, path, epochs=3)
    code, out, err = run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs", "--json")
    assert code == 0, err
    assert "task: regression (inferred from loss 'l2' with a last layer that gives values" in err
    assert "train_r2" in err and "val_r2" in err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["task"] == "regression" and result["test_accuracy"] is None
    for split in ("train", "val", "test"):
        assert {f"{split}_mse", f"{split}_mae", f"{split}_r2"} <= set(result)
    assert result["best_val_loss"] is not None  # best.npz goes by val_loss: a regression has no accuracy


def test_the_records_hold_the_errors_and_the_targets_standardisation(diabetes_run, diabetes):
    _, _, target = diabetes
    header = (diabetes_run / "metrics.csv").read_text().splitlines()[0].split(",")
    assert header == [
        "epoch",
        "train_loss",
        "train_mse",
        "train_mae",
        "train_r2",
        "val_loss",
        "val_mse",
        "val_mae",
        "val_r2",
        "learning_rate",
        "seconds",
    ]
    recorded = json.loads((diabetes_run / "preprocessing.json").read_text())
    assert recorded["task"] == "regression" and recorded["classes"] == ["target"]
    assert 100 < recorded["targets"]["mean"][0] < 200 and 50 < recorded["targets"]["std"][0] < 100
    result = json.loads((diabetes_run / "result.json").read_text())
    assert result["test_r2"] > 0.3, result  # the diabetes data's R^2 is about 0.4-0.5 for any model
    assert (diabetes_run / "best.npz").is_file()


def test_evaluate_predict_and_load_agree(diabetes_run, diabetes, capsys, tmp_path):
    path, X, target = diabetes
    result = json.loads((diabetes_run / "result.json").read_text())
    code, out, err = run_command(capsys, "evaluate", diabetes_run, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["task"] == "regression" and report["samples"] == 88
    assert report["r2"] == pytest.approx(result["test_r2"]) and report["mse"] == pytest.approx(result["test_mse"])
    assert "points" not in report and (diabetes_run / "predictions.png").is_file()
    code, out, _ = run_command(capsys, "evaluate", diabetes_run)
    assert "MSE " in out and "R^2 " in out and "predictions plot:" in out

    model = corenn.load(diabetes_run)
    values = model.predict(X)
    assert values.shape == (len(X),)
    scores = model.evaluate(X, target)
    assert scores["r2"] == pytest.approx(1 - ((values - target) ** 2).sum() / ((target - target.mean()) ** 2).sum())
    with pytest.raises(corenn.CorennError, match="is a regression: it predicts values"):
        model.predict_proba(X)

    code, out, err = run_command(capsys, "predict", diabetes_run, "--input", path)
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["row", "target"] and len(rows) == len(X) + 1
    np.testing.assert_allclose([float(row[1]) for row in rows[1:]], values, rtol=1e-12)
    code, out, err = run_command(capsys, "predict", diabetes_run, "--out", tmp_path / "test.csv")
    assert code == 0, err
    assert (tmp_path / "test.csv").read_text().splitlines()[0] == "Id,target"
    code, _, err = run_command(capsys, "predict", diabetes_run, "--input", path, "--top-k", "2")
    assert code == 1 and "regression" in err


def test_runs_and_compare_show_a_regression(diabetes_run, capsys, tmp_path):
    code, out, _ = run_command(capsys, "runs", diabetes_run.parent, "--json")
    (row,) = json.loads(out)
    result = json.loads((diabetes_run / "result.json").read_text())
    assert row["task"] == "regression" and row["test_r2"] == result["test_r2"]
    history = json.loads((diabetes_run / "metrics.json").read_text())
    assert row["best_val_r2"] == history[result["best_epoch"] - 1]["val_r2"]
    code, table, _ = run_command(capsys, "runs", diabetes_run.parent)
    assert table.splitlines()[0].split()[3] == "score" and " r2 " in table.splitlines()[1]
    code, out, _ = run_command(capsys, "compare", diabetes_run, "--out", tmp_path / "curves.png")
    assert code == 0 and (tmp_path / "curves.png").is_file()


def test_an_explicit_task_and_its_mistakes(diabetes, tmp_path, capsys, no_plots):
    path, _, _ = diabetes
    # task = "regression" with a label column of text: the line names the column
    text = tmp_path / "text.csv"
    text.write_text("a,target\n1,x\n2,y\n3,z\n4,w\n5,v\n")
    config = regression_config(tmp_path, text, name="text", epochs=1, dataset='task = "regression"')
    code, _, err = run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs")
    assert code == 1 and "label column 'target': 'x' is not a finite number" in err
    # two outputs for one target column: said in a regression's words
    config = regression_config(tmp_path, path, name="two", epochs=1, n_out="2")
    code, _, err = run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs")
    assert code == 1 and "the regression has 1 target column(s) (target)" in err
    # a classification cannot keep its best parameters by R^2
    config = regression_config(tmp_path, path, name="r2", epochs=1, n_out='"auto"', dataset='task = "classification"')
    config.write_text(config.read_text().replace('loss = "l2"', 'loss = "l2"\nbest_metric = "val_r2"'))
    code, _, err = run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs")
    assert code == 1 and "best_metric = 'val_r2' scores a regression" in err
    config = regression_config(tmp_path, path, name="typo", epochs=1, dataset='task = "regresion"')
    code, _, err = run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs")
    assert code == 1 and 'dataset.task must be "classification"' in err


def test_a_resumed_regression_ends_as_the_uninterrupted_one(diabetes, tmp_path, interrupt_on_call, no_plots):
    """The summed errors of an epoch cut short are part of the checkpoint."""
    from corenn.run.loop import Trainer
    from corenn.run.resume import resume

    path, _, _ = diabetes
    config = regression_config(tmp_path, path, epochs=3)
    whole = corenn.train(str(config), out_dir=tmp_path / "whole", verbose=False)
    with interrupt_on_call(Trainer, "update", 15), pytest.raises(KeyboardInterrupt):  # in the middle of epoch 2
        corenn.train(str(config), out_dir=tmp_path / "cut", verbose=False)
    resumed = resume(tmp_path / "cut" / "diabetes", verbose=False)
    for key in whole:
        if key not in ("seconds", "run_dir"):
            assert resumed[key] == whole[key], key


def test_a_classification_runs_records_are_unchanged(tmp_path, no_plots):
    """The same columns and result keys as before regression existed."""
    result = corenn.train("src/corenn/presets/iris-ffnn.toml", out_dir=tmp_path, verbose=False)
    header = (tmp_path / "iris-ffnn" / "metrics.csv").read_text().splitlines()[0]
    assert header == ",".join(METRIC_COLUMNS)
    assert "task" not in result and not any(key.endswith(("_mse", "_mae", "_r2")) for key in result)
    recorded = json.loads((tmp_path / "iris-ffnn" / "preprocessing.json").read_text())
    assert set(recorded) == {"format", "dataset", "classes", "input_shape", "inputs", "standardize"}


def test_the_data_summary_gives_the_targets_range_in_their_own_units(diabetes, tmp_path, capsys):
    """Before: the summary printed the standardised range ("targets from -1.39 to 1.79")."""
    path, _, target = diabetes
    code, out, _ = run_command(capsys, "summary", "--config", str(regression_config(tmp_path, path)))
    assert code == 0
    (line,) = [line for line in out.splitlines() if "targets from" in line]
    assert line.endswith(f"targets from {target.min():.6g} to {target.max():.6g}"), line


def test_many_numeric_classes_are_warned_about_even_when_quiet(diabetes, tmp_path, capsys, no_plots):
    """Before: the hint that 214 numeric classes may be a regression went with the epochs' lines,
    so ``--quiet`` dropped it and the run trained 214 classes without a word."""
    path, _, _ = diabetes
    config = tmp_path / "as-classes.toml"
    config.write_text(
        f'name = "as-classes"\nepochs = 1\n[dataset]\nname = "csv"\npath = "{path}"\nlabel = "target"\n'
        '[[layers]]\nname = "fully_connected"\nn_out = "auto"\nactivation = "softmax"\n'
    )
    code, _, err = run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs", "--quiet")
    assert code == 0, err
    (line,) = [line for line in err.splitlines() if "distinct numbers" in line]
    assert line.startswith(f"warning: {path}: label column 'target' holds 214 distinct numbers, each taken as a class")


def test_a_regression_run_ends_with_its_test_errors(diabetes, tmp_path, capsys, no_plots):
    """Before: ``diabetes: 3 epochs in 0.1s``, with no test score (a classification prints its test accuracy)."""
    path, _, _ = diabetes
    config = regression_config(tmp_path, path, epochs=3)
    code, out, err = run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs", "--quiet")
    assert code == 0, err
    result = json.loads((tmp_path / "runs" / "diabetes" / "result.json").read_text())
    last = out.splitlines()[-2]  # the records line follows
    assert last.endswith(
        f", val R^2 {result['val_r2']:.4f}, MSE {result['val_mse']:.5g}, MAE {result['val_mae']:.5g}, "
        f"test R^2 {result['test_r2']:.4f}, MSE {result['test_mse']:.5g}, MAE {result['test_mae']:.5g} "
        "with the last epoch's parameters"
    ), last
