"""Training from arrays in Python (issue 20, item 3): ``corenn.train(config, X=..., y=...)``
with optional validation and test arrays, without writing files; the result's model predicts
as the run's own metrics say, and a recorded run of arrays loads back as any other."""

import os
import warnings

import numpy as np
import pytest

import corenn
from corenn.errors import ConfigError, DataError

CONFIG = {
    "name": "arrays",
    "epochs": 30,
    "optimizer": {"name": "adam", "lr": 0.01},
    "dataset": {"batch_size": 16, "test_size": 0.2},
    "layers": [
        {"name": "fully_connected", "n_out": 16, "activation": "relu"},
        {"name": "fully_connected", "n_out": "auto", "activation": "softmax"},
    ],
}


@pytest.fixture(scope="module")
def iris_arrays():
    from corenn.data.iris import CLASS_NAMES, read_iris_table

    X, labels = read_iris_table()
    return X, np.asarray(CLASS_NAMES)[labels]


def test_training_on_arrays_writes_no_file(iris_arrays, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    X, y = iris_arrays
    result = corenn.train(CONFIG, X=X, y=y, verbose=False)
    assert os.listdir(tmp_path) == [], "training from arrays wrote files"
    model = result["model"]
    assert result["run_dir"] is None and model.classes == ("setosa", "versicolor", "virginica")
    assert result["test_accuracy"] >= 0.9
    assert model.evaluate(X, y)["accuracy"] >= 0.9
    assert list(model.predict(X[:1])) == ["setosa"]


def test_validation_and_test_arrays_are_the_splits(iris_arrays):
    X, y = iris_arrays
    order = np.random.default_rng(0).permutation(len(X))
    train, val, test = order[:100], order[100:125], order[125:]
    config = CONFIG | {"dataset": {"batch_size": 16}}
    result = corenn.train(
        config, X=X[train], y=y[train], X_val=X[val], y_val=y[val], X_test=X[test], y_test=y[test], verbose=False
    )
    model = result["model"]
    assert model.evaluate(X[val], y[val])["accuracy"] == pytest.approx(result["val_accuracy"])
    assert model.evaluate(X[test], y[test])["accuracy"] == pytest.approx(result["test_accuracy"])
    assert model.evaluate(X[test], y[test])["loss"] == pytest.approx(result["test_loss"])


def test_a_recorded_run_of_arrays_loads_back(iris_arrays, tmp_path, capsys, no_plots):
    X, y = iris_arrays
    result = corenn.train(CONFIG, X=X, y=y, record=True, out_dir=tmp_path, verbose=False)
    loaded = corenn.load(result["run_dir"])
    np.testing.assert_array_equal(loaded.predict_proba(X), result["model"].predict_proba(X))
    assert "model" not in (tmp_path / "arrays" / "result.json").read_text()
    from suite_helpers import run_command

    code, _, err = run_command(capsys, "evaluate", result["run_dir"])
    assert code == 1 and "evaluate it with --input FILE" in err


def test_regression_arrays(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = X @ [1.5, -2.0, 0.5] + 10 + 0.1 * rng.normal(size=300)
    config = CONFIG | {"loss": "l2", "layers": [{"name": "fully_connected", "n_out": 1}]}
    result = corenn.train(config, X=X, y=y, verbose=False)
    assert result["task"] == "regression" and result["test_r2"] > 0.99
    assert result["model"].predict(X[:5]) == pytest.approx(y[:5], abs=0.5)
    two = corenn.train(
        config | {"layers": [{"name": "fully_connected", "n_out": "auto"}]}, X=X, y=np.c_[y, -y], verbose=False
    )
    assert two["model"].predict(X[:2]).shape == (2, 2)


def test_mistakes_are_named(iris_arrays):
    X, y = iris_arrays
    with pytest.raises(ConfigError, match="both X= .* and y="):
        corenn.train(CONFIG, X=X)
    with pytest.raises(ConfigError, match="got X_val without X and y"):
        corenn.train(CONFIG, X_val=X)
    with pytest.raises(ConfigError, match="dataset.name is 'iris', but corenn.train got arrays"):
        corenn.train(CONFIG | {"dataset": {"name": "iris"}}, X=X, y=y)
    with pytest.raises(ConfigError, match="^dataset must be a table \\(a dict\\), got 'iris'$"):
        corenn.train(CONFIG | {"dataset": "iris"}, X=X, y=y)
    with pytest.raises(DataError, match="X_val without y_val"):
        corenn.train(CONFIG, X=X, y=y, X_val=X, verbose=False)
    with pytest.raises(DataError, match="array 'y' has shape"):
        corenn.train(CONFIG, X=X, y=y[:10], verbose=False)
    with pytest.raises(DataError, match="holds one class"):
        corenn.train(CONFIG, X=X, y=np.zeros(len(X), dtype=int), verbose=False)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_arrays_of_a_narrow_float_train_without_a_warning(iris_arrays, dtype):
    """Checking float16 columns for values beyond 1e150 cast 1e150 to float16: "overflow
    encountered in cast"."""
    X, y = iris_arrays
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = corenn.train(CONFIG | {"epochs": 2}, X=X.astype(dtype), y=y, verbose=False)
    assert result["epochs"] == 2
