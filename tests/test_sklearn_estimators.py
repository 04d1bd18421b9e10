"""The scikit-learn estimators (issue 20, item 2): :class:`corenn.sklearn.NeuralNetClassifier`
and :class:`NeuralNetRegressor` pass scikit-learn's own estimator checks (each a test here;
none is marked as expected to fail), and work inside ``Pipeline``, ``GridSearchCV`` and
``cross_val_score``.

Why the checks take about five seconds in all: each of the 100-odd checks fits a network."""

import pickle

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_diabetes, load_iris  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from corenn.sklearn import NeuralNetClassifier, NeuralNetRegressor  # noqa: E402


@parametrize_with_checks([NeuralNetClassifier(), NeuralNetRegressor()])
def test_scikit_learns_own_checks(estimator, check):
    check(estimator)


def test_pipeline_grid_search_and_cross_validation():
    X, y = load_iris(return_X_y=True)
    names = np.asarray(["setosa", "versicolor", "virginica"])[y]
    search = GridSearchCV(
        make_pipeline(StandardScaler(), NeuralNetClassifier(epochs=30, random_state=0)),
        {"neuralnetclassifier__lr": [0.01, 0.001]},
        cv=3,
    )
    search.fit(X, names)
    assert search.best_params_ == {"neuralnetclassifier__lr": 0.01}
    assert search.best_score_ > 0.9
    assert set(search.predict(X[:5])) <= set(names)
    scores = cross_val_score(NeuralNetClassifier(epochs=30, random_state=0), X, y, cv=3)
    assert scores.mean() > 0.9


def test_the_regressor_on_diabetes_and_pickling():
    X, y = load_diabetes(return_X_y=True)
    model = NeuralNetRegressor(epochs=40, random_state=0).fit(X[:350], y[:350])
    assert model.score(X[350:], y[350:]) > 0.3
    assert model.result_["task"] == "regression" and model.n_iter_ == 40
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(X[350:]), model.predict(X[350:]))


def test_parameters_reach_the_run():
    model = NeuralNetClassifier(hidden_layer_sizes=(8, 4), activation="tanh", optimizer="sgd", lr=0.1, epochs=3)
    config = model.run_config(seed=5)
    assert [layer.get("n_out") for layer in config["layers"]] == [8, 4, "auto"]
    assert config["layers"][0]["activation"] == "tanh" and config["optimizer"] == {"name": "sgd", "lr": 0.1}
    X, y = load_iris(return_X_y=True)
    model.set_params(epochs=2).fit(X, y)
    assert model.n_iter_ == 2
    layered = NeuralNetClassifier(layers=({"name": "fully_connected", "n_out": 5, "activation": "relu"},), epochs=1)
    assert layered.fit(X, y).model_.model.layers[0].n_out == 5
    with pytest.raises(ValueError, match="optimizer"):
        NeuralNetClassifier(optimizer="no_such", epochs=1).fit(X, y)
    with pytest.raises(ValueError, match=r"needs a validation split \(val_size > 0\)"):
        NeuralNetClassifier(patience=3, epochs=1).fit(X, y)
    stopped = NeuralNetClassifier(patience=2, val_size=0.2, epochs=200, lr=0.05, random_state=0).fit(X, y)
    assert stopped.n_iter_ < 200 and stopped.result_["best_epoch"] is not None


def test_the_readme_examples_of_arrays_and_estimators_run(tmp_path):
    """The docs' two Python blocks on arrays and the estimators (docs/python.md), as a reader copies them."""
    import subprocess
    import sys
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "python.md").read_text(encoding="utf-8")
    section = page[page.index("Arrays train without any file") : page.index("<!-- end python-use examples -->")]
    blocks = [block.split("\n", 1)[1].split("```")[0] for block in section.split("```python")[1:]]
    assert len(blocks) == 2
    for block in blocks:
        done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        assert list(tmp_path.iterdir()) == [], "the example wrote files"
    assert "{'neuralnetclassifier__lr': 0.01}" in done.stdout


def test_without_scikit_learn_the_import_says_what_to_install(monkeypatch):
    """Before: it said ``pip install "corenn[sklearn]"``, and no corenn is published on PyPI."""
    import importlib
    import sys

    for name in [name for name in sys.modules if name.partition(".")[0] == "sklearn"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if scikit-learn were not installed
    monkeypatch.delitem(sys.modules, "corenn.sklearn")
    with pytest.raises(ImportError, match=r'pip install "scikit-learn>=1\.6" .*pip install "\.\[sklearn\]"'):
        importlib.import_module("corenn.sklearn")
