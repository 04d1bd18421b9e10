"""A trained model asked at its edges (``corenn.load`` and ``predict`` / ``predict_proba`` /
``evaluate``): integer labels of a run trained on integers, values its standardisation cannot
hold, batch sizes, no samples at all, and inputs of the wrong type, each answered with its
result or one clear sentence instead of a wrong number or a numpy error."""

import csv
import math
import warnings

import numpy as np
import pytest

import corenn
from corenn.errors import ConfigError, CorennError, DataError, ShapeError
from corenn.run.config import load_preset
from corenn.trained.predict_input import predict_input

from own_data_files import write_image_folder

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5], [5.9, 3.0, 4.2, 1.5], [6.7, 3.0, 5.2, 2.3]]
MLP = [
    {"name": "fully_connected", "n_out": 16, "activation": "relu"},
    {"name": "fully_connected", "n_out": "auto", "activation": "softmax"},
]


@pytest.fixture(scope="module")
def iris():
    """Iris's rows and their labels 1, 2, 3 (integers, as a user's own data often has them)."""
    from corenn.data.iris import read_iris_table

    X, labels = read_iris_table()
    return X, labels + 1


@pytest.fixture(scope="module")
def integer_model(iris):
    """A model trained on integer labels: its class names are '1', '2', '3'."""
    X, y = iris
    config = {"name": "integers", "epochs": 40, "seed": 0, "optimizer": {"name": "adam", "lr": 0.01}, "layers": MLP}
    return corenn.train(config, X=X, y=y, verbose=False)["model"]


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    """The iris preset's run on disk: class names 'setosa'..., columns named."""
    config = load_preset("iris-ffnn").to_dict() | {"epochs": 5}
    return corenn.train(config, out_dir=tmp_path_factory.mktemp("runs"), verbose=False)["run_dir"]


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    """A CSV run with a text column (one-hot encoded): ``x``, ``region`` and ``label``."""
    root = tmp_path_factory.mktemp("table")
    rng = np.random.default_rng(0)
    with open(root / "mixed.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["x", "region", "label"])
        for row in range(30):
            region = ("north", "south", "east")[row % 3]
            writer.writerow([f"{rng.normal():.3f}", region, "yes" if region == "north" else "no"])
    config = {
        "name": "table",
        "epochs": 5,
        "seed": 0,
        "dataset": {"name": "csv", "path": str(root / "mixed.csv")},
        "optimizer": {"name": "adam", "lr": 0.05},
        "layers": MLP,
    }
    return corenn.train(config, out_dir=root / "runs", verbose=False)["run_dir"]


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    """An image folder run: 6x6 grey PNGs of two classes."""
    root = tmp_path_factory.mktemp("images")
    images = np.random.default_rng(0).integers(0, 256, size=(24, 6, 6), dtype=np.uint8)
    folder = write_image_folder(root / "pictures", images, ["dark", "light"] * 12)
    config = {
        "name": "images",
        "epochs": 2,
        "seed": 0,
        "dataset": {"name": "image_folder", "root": str(folder), "grayscale": True},
        "optimizer": {"name": "adam", "lr": 0.01},
        "layers": [{"name": "flatten"}, *MLP],
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CORENN_CACHE_DIR", str(root / "cache"))
        return corenn.train(config, out_dir=root / "runs", verbose=False)["run_dir"]


# A: integer labels


def test_integer_labels_of_a_run_trained_on_integers_are_its_class_names(integer_model, iris):
    """They were read as indices 0..2: label 1 scored as class '2', accuracy near 0."""
    X, y = iris
    assert integer_model.classes == ("1", "2", "3")
    scores = integer_model.evaluate(X, y)
    assert scores == integer_model.evaluate(X, y.astype(str))
    assert scores["accuracy"] == np.mean(integer_model.predict(X).astype(int) == y)
    assert scores["accuracy"] > 0.9


@pytest.mark.parametrize("label", [0, 4])
def test_an_integer_that_is_not_a_class_name_is_refused(integer_model, iris, label):
    """0 was taken as the index of class '1' (and 4 refused as an index past the last)."""
    X, y = iris
    with pytest.raises(ShapeError) as refused:
        integer_model.evaluate(X[:3], [1, label, 3])
    assert str(refused.value) == (
        f"y holds label {label}, which is not a class of the run (its classes: 1, 2, 3); "
        "integer labels are read as its class names, which are integers"
    )


def test_integers_are_class_indices_where_the_class_names_are_not_integers(iris_run):
    model = corenn.load(iris_run)
    assert model.classes == ("setosa", "versicolor", "virginica")
    assert model.evaluate(IRIS_ROWS, [0, 2, 1, 2]) == model.evaluate(
        IRIS_ROWS, ["setosa", "virginica", "versicolor", "virginica"]
    )


# B: values too large for the standardisation


def test_a_value_too_large_for_the_standardisation_is_refused_without_a_warning(iris_run):
    """1e308 over sepal_width's standard deviation (below 1) overflowed to infinity: NaN
    probabilities, 'setosa' predicted, a NaN loss, and RuntimeWarnings."""
    model = corenn.load(iris_run)
    rows = [IRIS_ROWS[0], [5.1, 1e308, 1.4, 0.2]]
    expected = (
        "X row 2 (index 1), column 'sepal_width': 1e+308 is too large for the run's standardisation, which makes "
        "it infinite (1 row(s) hold such values); the model cannot predict from them: remove or correct those values"
    )
    for ask in (model.predict, model.predict_proba, lambda X: model.evaluate(X, ["setosa", "setosa"])):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(DataError) as refused:
                ask(rows)
        assert str(refused.value) == expected


def test_the_scikit_learn_classifier_refuses_a_value_too_large_the_same_way(iris):
    sklearn_estimators = pytest.importorskip("corenn.sklearn")
    X, y = iris
    classifier = sklearn_estimators.NeuralNetClassifier(epochs=2, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"X row 1 \(index 0\), column \d: 1e\+308 is too large for the run's"):
            classifier.predict_proba(np.full((1, 4), 1e308))


# C: batch_size


@pytest.mark.parametrize("batch_size", [-1, 0, 1.5, True, "2"])
def test_a_batch_size_that_is_not_a_positive_integer_is_refused(integer_model, batch_size):
    """-1 predicted nothing, 0 and 1.5 failed inside range(), True passed as 1."""
    X = IRIS_ROWS
    for ask in (
        lambda: integer_model.predict(X, batch_size=batch_size),
        lambda: integer_model.predict_proba(X, batch_size=batch_size),
        lambda: integer_model.evaluate(X, [1, 3, 2, 3], batch_size=batch_size),
    ):
        with pytest.raises(ConfigError) as refused:
            ask()
        assert str(refused.value) == f"batch_size must be a positive integer, got {batch_size!r}"


def test_a_numpy_integer_batch_size_is_taken(integer_model):
    np.testing.assert_allclose(
        integer_model.predict_proba(IRIS_ROWS, batch_size=np.int64(3)),
        integer_model.predict_proba(IRIS_ROWS),
        rtol=1e-12,
    )


def test_predict_input_names_its_batch_size_flag(iris_run, tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n")
    with pytest.raises(ConfigError, match=r"^--batch-size must be a positive integer, got -1$"):
        predict_input(iris_run, rows, batch_size=-1)


# D: no samples


def _assert_nothing_predicted(model, X):
    predicted = model.predict(X)
    assert predicted.shape == (0,) and predicted.dtype.kind == "U"
    assert model.predict_proba(X).shape == (0, len(model.classes))
    assert model.evaluate(X, []) == {"accuracy": None, "loss": None, "samples": 0}


def test_no_rows_of_an_array_run_predict_nothing(integer_model):
    """No rows failed inside the finiteness check (cannot reshape array of size 0)."""
    for X in (np.zeros((0, 4)), np.zeros((0, 4), dtype=np.int64), []):
        _assert_nothing_predicted(integer_model, X)


def test_no_images_predict_nothing(image_run):
    model = corenn.load(image_run)
    assert model.classes == ("dark", "light")
    for X in (np.zeros((0, 6, 6, 1), dtype=np.uint8), np.zeros((0, 6, 6)), []):
        _assert_nothing_predicted(model, X)


def test_no_rows_of_a_table_predict_nothing(table_run):
    model = corenn.load(table_run)
    for X in (np.zeros((0, 2), dtype=object), {"x": [], "region": []}, []):
        _assert_nothing_predicted(model, X)


def test_a_regression_evaluates_no_rows(iris):
    X, _ = iris
    config = {
        "name": "regression",
        "epochs": 2,
        "loss": "l2",
        "dataset": {"task": "regression"},
        "layers": [{"name": "fully_connected", "n_out": 1}],
    }
    model = corenn.train(config, X=X[:, :3], y=X[:, 3], verbose=False)["model"]
    assert model.predict(np.zeros((0, 3))).shape == (0,)
    assert model.evaluate(np.zeros((0, 3)), []) == {"mse": None, "mae": None, "r2": None, "samples": 0}


# E: inputs of the wrong type


@pytest.mark.parametrize("run_dir", [None, 3])
def test_a_run_dir_that_is_not_a_path_is_refused(run_dir):
    with pytest.raises(CorennError) as refused:
        corenn.load(run_dir)
    assert str(refused.value) == f"run_dir must be the path of a run directory (a str or a Path), got {run_dir!r}"


def test_rows_of_different_lengths_are_refused(integer_model, table_run):
    with pytest.raises(ShapeError) as refused:
        integer_model.predict([[1, 2, 3, 4], [1, 2, 3]])
    assert str(refused.value) == (
        "X holds samples of different shapes (rows of different lengths); the model takes samples of shape (4,)"
    )
    with pytest.raises(ShapeError, match=r"^X holds samples of different shapes \(rows of different lengths\); the"):
        corenn.load(table_run).predict([[0.5, "north"], [0.5]])
    with pytest.raises(ShapeError, match=r"^y holds labels of different shapes; give one label per sample$"):
        integer_model.evaluate(IRIS_ROWS[:2], [[1], [2, 3]])


def test_a_table_row_given_as_one_value_per_column(table_run):
    """``{column: value}`` failed with "len() of unsized object"; it is one row."""
    model = corenn.load(table_run)
    np.testing.assert_array_equal(
        model.predict_proba({"x": 0.5, "region": "north"}), model.predict_proba({"x": [0.5], "region": ["north"]})
    )
    with pytest.raises(ShapeError) as refused:
        model.predict({"x": 0.5, "region": ["north"]})
    assert str(refused.value) == (
        "X column 'x' is a single value but other columns hold lists: give every column as a list of values "
        "(or every column as one value, for one row)"
    )


# F: the loss of certain predictions


def test_certain_predictions_score_a_loss_of_plus_zero(iris_run, monkeypatch):
    """-log(1.0) is -0.0: the loss read '-0.0'."""
    model = corenn.load(iris_run)
    monkeypatch.setattr(model, "predict_proba", lambda X, batch_size=None: np.array([[1.0, 0.0, 0.0]]))
    loss = model.evaluate(IRIS_ROWS[:1], ["setosa"])["loss"]
    assert loss == 0.0 and math.copysign(1.0, loss) == 1.0
