"""The scikit-learn estimators at their edges: a failed ``fit`` leaves a fitted estimator as it
was, ``hidden_layer_sizes`` and ``layers`` are checked at ``fit``, and numpy numbers (what
``GridSearchCV`` over ``np.arange`` gives) reach the run as Python's."""

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.datasets import load_diabetes, load_iris  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402

import corenn.trained.from_arrays  # noqa: E402
from corenn.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
ROWS = [0, 60, 120]  # one of each class


def fitted_state(estimator):
    """Everything but the parameters: what ``fit`` sets."""
    parameters = estimator.get_params(deep=False)
    return {name: value for name, value in vars(estimator).items() if name not in parameters}


def assert_unchanged(estimator, before):
    """The same attributes, each the very object it was (the model, the classes...)."""
    after = fitted_state(estimator)
    assert sorted(after) == sorted(before)
    assert all(after[name] is value for name, value in before.items())


# A failed fit changes nothing.


def test_a_failed_fit_with_new_labels_keeps_the_old_classes_and_model():
    classifier = NeuralNetClassifier(epochs=20, random_state=0).fit(X_IRIS, Y_IRIS)
    before = fitted_state(classifier)
    predictions = classifier.predict(X_IRIS[ROWS])
    with pytest.raises(ValueError, match=r"^optimizer: optimizer 'adam': option 'lr' must be > 0, got -1.0$"):
        classifier.set_params(lr=-1).fit(X_IRIS, np.array(["a", "b", "c"])[Y_IRIS])
    assert_unchanged(classifier, before)
    assert classifier.classes_.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(classifier.set_params(lr=0.01).predict(X_IRIS[ROWS]), predictions)


def test_a_failed_fit_on_fewer_features_keeps_n_features_in():
    classifier = NeuralNetClassifier(epochs=5, random_state=0).fit(X_IRIS, Y_IRIS)
    predictions = classifier.predict(X_IRIS[:2])
    with pytest.raises(ValueError, match=r"^epochs must be a positive integer, got 0$"):
        classifier.set_params(epochs=0).fit(X_IRIS[:, :3], Y_IRIS)
    assert classifier.n_features_in_ == 4
    np.testing.assert_array_equal(classifier.predict(X_IRIS[:2]), predictions)


def test_a_failed_fit_of_the_regressor_keeps_the_targets_shape():
    X, y = load_diabetes(return_X_y=True)
    regressor = NeuralNetRegressor(epochs=5, random_state=0).fit(X, np.c_[y, -y])
    before = fitted_state(regressor)
    predictions = regressor.predict(X[:2])
    with pytest.raises(ValueError, match=r"^epochs must be a positive integer, got 0$"):
        regressor.set_params(epochs=0).fit(X, y)
    assert_unchanged(regressor, before)
    assert regressor.predict(X[:2]).shape == (2, 2)
    np.testing.assert_array_equal(regressor.predict(X[:2]), predictions)


@pytest.mark.parametrize("estimator", [NeuralNetClassifier(epochs=0), NeuralNetRegressor(epochs=0)])
def test_a_first_fit_that_fails_leaves_the_estimator_unfitted(estimator):
    with pytest.raises(ValueError, match=r"^epochs must be a positive integer, got 0$"):
        estimator.fit(X_IRIS, Y_IRIS)
    assert fitted_state(estimator) == {}
    with pytest.raises(NotFittedError):
        estimator.predict(X_IRIS[:2])


def test_an_interrupted_fit_keeps_the_fitted_model(monkeypatch):
    classifier = NeuralNetClassifier(epochs=5, random_state=0).fit(X_IRIS, Y_IRIS)
    before = fitted_state(classifier)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(corenn.trained.from_arrays, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        classifier.fit(X_IRIS[:, :3], np.array(["a", "b", "c"])[Y_IRIS])
    assert_unchanged(classifier, before)


# hidden_layer_sizes and layers are checked at fit.

SIZES_MESSAGE = (
    "hidden_layer_sizes must be a positive integer or a tuple of positive integers (the units of each "
    "hidden layer; () for none), got {}"
)


@pytest.mark.parametrize(
    ("sizes", "shown"),
    [
        ("32", "'32'"),
        ((2.7,), "(2.7,)"),
        (None, "None"),
        (0, "0"),
        ((16, -1), "(16, -1)"),
        (True, "True"),
        ((True,), "(True,)"),
        (32.0, "32.0"),
        (np.array(3), "array(3)"),
    ],
)
def test_hidden_layer_sizes_that_are_not_positive_integers_are_refused_at_fit(sizes, shown):
    classifier = NeuralNetClassifier(hidden_layer_sizes=sizes, epochs=2)  # accepted: checked at fit
    with pytest.raises(ValueError) as caught:
        classifier.fit(X_IRIS, Y_IRIS)
    assert str(caught.value) == SIZES_MESSAGE.format(shown)


def hidden_units(estimator):
    return [layer["n_out"] for layer in estimator.run_config()["layers"][:-1]]


def test_hidden_layer_sizes_take_integers_of_numpy_and_none_at_all():
    assert hidden_units(NeuralNetClassifier(hidden_layer_sizes=np.int64(5))) == [5]
    sizes = hidden_units(NeuralNetClassifier(hidden_layer_sizes=np.array([3, 2])))
    assert sizes == [3, 2] and all(type(size) is int for size in sizes)
    assert hidden_units(NeuralNetClassifier(hidden_layer_sizes=[4, 3])) == [4, 3]
    assert hidden_units(NeuralNetClassifier(hidden_layer_sizes=())) == []
    classifier = NeuralNetClassifier(hidden_layer_sizes=(), epochs=2, random_state=0).fit(X_IRIS, Y_IRIS)
    assert classifier.predict(X_IRIS[:2]).shape == (2,)


TABLE_EXAMPLE = "{'name': 'fully_connected', 'n_out': 32, 'activation': 'relu'}"


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        ("fully_connected", f"layers must be a list of corenn layer tables (dicts such as {TABLE_EXAMPLE}), got 'fully_connected'"),
        ({"name": "fully_connected"}, f"layers must be a list of corenn layer tables (dicts such as {TABLE_EXAMPLE}), got {{'name': 'fully_connected'}}"),
        (
            [{"name": "fully_connected", "n_out": 4, "activation": "relu"}, "flatten"],
            f"layers[1] must be a corenn layer table (a dict of the layer's name and options, such as {TABLE_EXAMPLE}), got 'flatten'",
        ),
    ],
)  # fmt: skip
def test_layers_that_are_not_a_list_of_tables_are_refused_at_fit(layers, message):
    classifier = NeuralNetClassifier(layers=layers, epochs=2)
    with pytest.raises(ValueError) as caught:
        classifier.fit(X_IRIS, Y_IRIS)
    assert str(caught.value) == message


def test_layers_as_a_tuple_of_tables_train():
    table = {"name": "fully_connected", "n_out": np.int64(4), "activation": "relu"}
    classifier = NeuralNetClassifier(layers=(table,), epochs=2, random_state=0)
    assert classifier.run_config()["layers"][0] == {"name": "fully_connected", "n_out": 4, "activation": "relu"}
    assert type(classifier.run_config()["layers"][0]["n_out"]) is int
    assert classifier.fit(X_IRIS, Y_IRIS).predict(X_IRIS[:2]).shape == (2,)


# numpy numbers reach the run as Python's.


def test_numpy_numbers_reach_the_run_config_as_python_numbers():
    classifier = NeuralNetClassifier(
        epochs=np.int64(3), batch_size=np.int32(16), lr=np.float32(0.5), val_size=np.float32(0.25), patience=np.int64(2)
    )
    config = classifier.run_config()
    values = [config["epochs"], config["dataset"]["batch_size"], config["patience"]]
    assert values == [3, 16, 2] and all(type(value) is int for value in values)
    assert type(config["optimizer"]["lr"]) is float and type(config["dataset"]["val_size"]) is float
    assert config["dataset"]["val_size"] == 0.25


def test_fit_with_numpy_integer_parameters():
    classifier = NeuralNetClassifier(epochs=np.int64(2), batch_size=np.int32(16), random_state=0)
    assert classifier.fit(X_IRIS, Y_IRIS).n_iter_ == 2


def test_grid_search_over_numpy_epochs():
    search = GridSearchCV(NeuralNetClassifier(random_state=0), {"epochs": np.arange(2, 6, 2)}, cv=2)
    search.fit(X_IRIS, Y_IRIS)
    assert search.best_params_["epochs"] in (2, 4)
    assert search.best_estimator_.n_iter_ == search.best_params_["epochs"]
