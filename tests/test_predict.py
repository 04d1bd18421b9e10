"""``corenn predict``: a run's predictions as an ``Id,Category`` CSV file, and its errors."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

import corenn
from corenn.cli.predict import add_arguments, run
from corenn.data.iris import load_iris
from corenn.data.splits import DatasetSplits, Split
from corenn.errors import ConfigError, CorruptFileError, DataError, ShapeError
from corenn.files import load_arrays, save_arrays
from corenn.run.build import build
from corenn.run.config import config_from_dict, load_preset
from corenn.run.train import train
from corenn.testing import plugin_system_from, plugins_in_use
from corenn.trained.predict import predict_labels


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory):
    """A short recorded Iris run (numpy)."""
    data = load_preset("iris-ffnn").to_dict() | {"epochs": 20}
    result = train(data, out_dir=tmp_path_factory.mktemp("runs"), verbose=False)
    return result["run_dir"]


def run_predict(*argv):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return run(parser.parse_args([str(arg) for arg in argv]))


def expected_labels(run_dir, split):
    """The run's model rebuilt by hand, predicting the prepared split."""
    data, model, *_ = build(config_from_dict(load_preset("iris-ffnn").to_dict() | {"epochs": 20}))
    model.load_parameters(f"{run_dir}/parameters.npz")
    return model.predict(getattr(data, split).X)


@pytest.mark.parametrize("split", ["test", "val"])
def test_predict_writes_ids_from_one_and_the_models_classes(iris_run, tmp_path, capsys, split):
    out = tmp_path / "submission.csv"
    assert run_predict(iris_run, "--split", split, "--out", out) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "Id,Category"
    ids, labels = zip(*(map(int, line.split(",")) for line in lines[1:]), strict=True)
    expected = expected_labels(iris_run, split)
    assert list(ids) == list(range(1, len(expected) + 1))
    assert np.array_equal(labels, expected)
    assert set(labels) <= {0, 1, 2}
    assert f"wrote {len(expected)} predictions ({split} split) to {out}" in capsys.readouterr().out


def test_predict_of_the_test_split_matches_the_runs_test_accuracy(iris_run, tmp_path):
    import json
    from pathlib import Path

    labels = predict_labels(iris_run)
    truth = load_iris().test.y
    recorded = json.loads((Path(iris_run) / "result.json").read_text())["test_accuracy"]
    assert np.mean(labels == truth) == pytest.approx(recorded)


def test_predict_replaces_an_existing_file_whole(iris_run, tmp_path):
    out = tmp_path / "submission.csv"
    out.write_text("old content that is longer than nothing\n" * 100)
    run_predict(iris_run, "--out", out)
    assert out.read_text().startswith("Id,Category\n1,")
    assert not list(tmp_path.glob(".*.tmp"))


def test_an_unknown_split_is_named_with_the_allowed_ones(iris_run, tmp_path):
    with pytest.raises(ConfigError, match=r"unknown split 'holdout'; splits: train, val, test"):
        run_predict(iris_run, "--split", "holdout", "--out", tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()


def test_parameters_that_do_not_fit_the_model_name_the_parameter_and_shapes(iris_run, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(iris_run, run_dir)
    arrays = load_arrays(run_dir / "parameters.npz")
    arrays["0.W"] = np.zeros((4, 7))
    save_arrays(run_dir / "parameters.npz", arrays)
    with pytest.raises(
        CorruptFileError,
        match=r"parameter 0\.W of layers\[0\] \(fully_connected\) has shape \(4, 7\), the model expects \(4, 32\)",
    ):
        run_predict(run_dir, "--out", tmp_path / "x.csv")


def wide_iris(data_dir=None):
    """Iris with two extra zero features: inputs of shape (6,)."""
    splits = load_iris(data_dir)
    parts = {
        name: Split(
            np.hstack([getattr(splits, name).X, np.zeros((len(getattr(splits, name)), 2))]), getattr(splits, name).y
        )
        for name in ("train", "val", "test")
    }
    return DatasetSplits(name="wide_iris", class_names=splits.class_names, **parts)


def iris_without_test(data_dir=None):
    splits = load_iris(data_dir)
    return DatasetSplits(
        name="iris_without_test", class_names=splits.class_names, train=splits.train, val=splits.val, test=None
    )


def renamed_iris(data_dir=None):
    """Iris under another name and other class names: fits an Iris model by shape alone."""
    splits = load_iris(data_dir)
    return DatasetSplits(
        name="renamed_iris", class_names=("a", "b", "c"), train=splits.train, val=splits.val, test=splits.test
    )


class DatasetsPlugin:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("dataset", "renamed_iris", renamed_iris)
        register("dataset", "wide_iris", wide_iris)
        register("dataset", "iris_without_test", iris_without_test)


@pytest.fixture
def more_datasets():
    with plugins_in_use(plugin_system_from(DatasetsPlugin)):
        yield


def test_a_data_set_whose_inputs_do_not_fit_the_model_is_a_shape_error(iris_run, tmp_path, more_datasets):
    with pytest.raises(
        ShapeError,
        match=r"data set 'wide_iris' has inputs of shape \(6,\) and 3 classes, which the model of run .* \(trained on 'iris'\) "
        r"does not take: .*parameter 0\.W of layers\[0\] \(fully_connected\) has shape \(4, 32\), the model expects \(6, 32\)",
    ):
        run_predict(iris_run, "--dataset", "wide_iris", "--out", tmp_path / "x.csv")


def test_a_data_set_without_the_split_says_so(iris_run, tmp_path, more_datasets):
    with pytest.raises(DataError, match=r"data set 'iris_without_test' has no test split"):
        run_predict(iris_run, "--dataset", "iris_without_test", "--out", tmp_path / "x.csv")


def test_predict_needs_a_run_directory(tmp_path):
    from corenn.errors import CorennError

    with pytest.raises(CorennError, match=r"is not a corenn run directory \(it has no config.toml\)"):
        run_predict(tmp_path, "--out", tmp_path / "x.csv")


def test_predict_writes_beside_the_run_by_default_and_names_the_classes(iris_run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run_predict(iris_run) == 0
    out = Path(iris_run) / "predictions-iris-test.csv"
    assert out.is_file() and not (tmp_path / "submission.csv").exists()
    printed = capsys.readouterr().out
    labels = expected_labels(iris_run, "test")
    counts = np.bincount(labels, minlength=3)
    assert f"0 setosa: {counts[0]}, 1 versicolor: {counts[1]}, 2 virginica: {counts[2]}" in printed
    assert run_predict(iris_run, "--json", "--which", "last") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["classes"] == ["setosa", "versicolor", "virginica"]
    assert summary["predicted_per_class"] == {"setosa": counts[0], "versicolor": counts[1], "virginica": counts[2]}


def test_predict_with_best_uses_best_npz(iris_run, tmp_path):
    assert run_predict(iris_run, "--which", "best", "--out", tmp_path / "best.csv") == 0
    data, model, *_ = build(config_from_dict(load_preset("iris-ffnn").to_dict() | {"epochs": 20}))
    model.load_parameters(f"{iris_run}/best.npz")
    rows = (tmp_path / "best.csv").read_text().splitlines()[1:]
    assert [int(row.split(",")[1]) for row in rows] == list(model.predict(data.test.X))


def test_predicting_another_data_set_than_the_runs_says_so(iris_run, tmp_path, more_datasets, capsys):
    assert run_predict(iris_run, "--dataset", "renamed_iris", "--out", tmp_path / "x.csv") == 0
    err = capsys.readouterr().err
    assert "warning: run" in err and "was trained on 'iris', not 'renamed_iris'" in err
    assert run_predict(iris_run, "--out", tmp_path / "y.csv") == 0
    assert "warning" not in capsys.readouterr().err
