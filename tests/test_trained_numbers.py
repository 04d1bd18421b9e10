"""Using a trained run from Python, pinned by its numbers and its edges: what the mutation check
(``python bench/mutation_check.py --only trained``) found passing every other test. Each test
names the one-line change it catches."""

import numpy as np
import pytest

import corenn
from corenn.errors import CorennError
from corenn.run.config import load_preset
from corenn.trained.predict import predict_labels, split_outputs, values_csv

IRIS_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.3, 3.3, 6.0, 2.5], [5.9, 3.0, 4.2, 1.5], [6.7, 3.0, 5.2, 2.3]]


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    config = load_preset("iris-ffnn").to_dict() | {"epochs": 30}
    return corenn.train(config, out_dir=tmp_path_factory.mktemp("runs"), verbose=False)["run_dir"]


def test_one_sample_may_be_given_without_its_batch_axis(iris_run):
    """``X.ndim == 0`` made ``== 1``: one row given as a flat list was refused as "a single number"."""
    model = corenn.load(iris_run)
    (alone,) = model.predict(IRIS_ROWS[1])
    assert alone == model.predict(IRIS_ROWS)[1]
    with pytest.raises(CorennError, match="X is a single number"):
        model.predict(5.1)


def test_evaluate_scores_the_predictions_it_makes(iris_run):
    """The accuracy is the share of rows whose most probable class is the label, and the loss the
    mean cross-entropy of the labels' probabilities (``argmax(axis=1)`` made ``axis=2``)."""
    model = corenn.load(iris_run)
    labels = ["setosa", "virginica", "virginica", "virginica"]  # the third row is a versicolor
    predicted = model.predict(IRIS_ROWS)
    probabilities = model.predict_proba(IRIS_ROWS)
    indices = [list(model.classes).index(label) for label in labels]
    scores = model.evaluate(IRIS_ROWS, labels)
    assert scores["samples"] == 4
    assert scores["accuracy"] == np.mean(predicted == np.array(labels))
    assert scores["loss"] == pytest.approx(-np.mean(np.log(probabilities[np.arange(4), indices])))
    assert model.evaluate(IRIS_ROWS, indices) == scores  # class indices as integers score the same


def test_a_class_index_past_the_last_class_is_refused(iris_run):
    """``y.max() >= len(classes)`` made ``>``: index 3 of three classes passed, and failed later
    as a raw IndexError."""
    model = corenn.load(iris_run)
    assert model.evaluate(IRIS_ROWS, [0, 2, 1, 2])["samples"] == 4
    with pytest.raises(CorennError, match=r"y holds class indices 0\.\.3; the run has 3 classes"):
        model.evaluate(IRIS_ROWS, [0, 2, 1, 3])


def test_a_non_finite_value_is_refused_naming_its_row_and_column(iris_run):
    """Row and column named from the first bad value (``rows[0]`` made ``rows[1]``, the flat
    reshape's ``-1`` made ``1``), and only float inputs are checked (``!= "f"`` made ``==``)."""
    model = corenn.load(iris_run)
    rows = np.array(IRIS_ROWS)
    rows[1, 2] = np.nan
    rows[3, 0] = np.inf
    with pytest.raises(CorennError) as refused:
        model.predict(rows)
    message = str(refused.value)
    assert message.startswith("X row 2 (index 1), column 'petal_length': nan is not a finite number (2 row(s)")
    assert len(model.predict(np.array(IRIS_ROWS, dtype=np.int64))) == 4  # integers are finite: not checked


def test_prediction_in_batches_of_one_is_allowed(iris_run):
    """``batch_size <= 0`` made ``<= 1``: a batch of one sample was refused."""
    one_by_one = split_outputs(iris_run, split="test", batch_size=1)
    whole = split_outputs(iris_run, split="test")
    np.testing.assert_allclose(one_by_one.outputs, whole.outputs, rtol=1e-12)
    np.testing.assert_array_equal(predict_labels(iris_run, batch_size=1), whole.predicted)
    with pytest.raises(CorennError, match="--batch-size must be a positive integer, got 0"):
        predict_labels(iris_run, split="test", batch_size=0)


def test_a_regressions_values_file_counts_rows_from_one():
    """``enumerate(values, start=1)`` made ``start=2``: the file's ``Id`` must match
    ``submission_csv``'s, counting from 1."""
    assert values_csv(np.array([[1.5], [-2.0]]), ["y"]) == "Id,y\n1,1.5\n2,-2.0\n"
    assert values_csv(np.array([[1.0, 2.0]]), ["a", "b"]) == "Id,a,b\n1,1.0,2.0\n"
