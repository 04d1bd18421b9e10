"""A user's own data: scikit-learn's wine, breast_cancer and digits written out as CSV files,
``.npz`` archives and PNG image folders, trained on through the command line, then predicted
with ``corenn predict --input`` and ``corenn.load`` without the training files."""

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import corenn
from corenn.data import image_folders
from corenn.data.csv_table import load_csv, read_table
from corenn.data.image_folders import load_image_folder
from corenn.data.npz_arrays import load_npz

from own_data_files import digit_images, mlp_config, sklearn_data, write_csv, write_image_folder
from suite_helpers import run_command

pytest.importorskip("sklearn")
ACCURACY_FLOOR = {"wine": 0.9, "breast_cancer": 0.9, "digits": 0.9}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Every data set written out once: ``{(reader, data set): dataset table of a config}``."""
    root = tmp_path_factory.mktemp("own_data")
    written = {}
    for name in ("wine", "breast_cancer", "digits"):
        X, labels, names = sklearn_data(name)
        written["csv", name] = {"name": "csv", "path": write_csv(root / f"{name}.csv", X, labels, names)}
        if name == "digits":  # images (n, 8, 8), class indices with a table of class names
            classes = np.unique(labels)
            np.savez(root / "digits.npz", X=digit_images(X), y=np.searchsorted(classes, labels), classes=classes)
            written["image_folder", name] = {
                "name": "image_folder",
                "root": write_image_folder(root / "digits_png", digit_images(X), labels),
                "grayscale": True,
            }
        else:  # a table with text labels
            np.savez(root / f"{name}.npz", X=X, y=labels)
        written["npz", name] = {"name": "npz", "path": root / f"{name}.npz"}
    return written


RUNS = [
    ("csv", "wine"),
    ("csv", "breast_cancer"),
    ("csv", "digits"),
    ("npz", "wine"),
    ("npz", "breast_cancer"),
    ("npz", "digits"),
    ("image_folder", "digits"),
]


@pytest.mark.parametrize(("reader", "name"), RUNS)
def test_trains_on_real_data_through_the_cli(files, reader, name, tmp_path, capsys, monkeypatch, no_plots):
    monkeypatch.setenv("CORENN_CACHE_DIR", str(tmp_path / "cache"))
    dataset = dict(files[reader, name])
    flatten = reader != "csv" and name == "digits"
    config = tmp_path / "run.toml"
    config.write_text(mlp_config(f"{reader}-{name}", dataset, epochs=25 if name == "digits" else 40, flatten=flatten))
    code, out, err = run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs", "--quiet", "--json")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    print(f"{reader} {name}: test accuracy {result['test_accuracy']:.3f}")
    assert result["test_accuracy"] >= ACCURACY_FLOOR[name]
    recorded = json.loads((tmp_path / "runs" / f"{reader}-{name}" / "preprocessing.json").read_text())
    X, labels, _ = sklearn_data(name)
    assert recorded["classes"] == sorted(set(labels.tolist()), key=float if name == "digits" else str)


def test_a_csv_run_predicts_new_rows_without_its_training_file(files, tmp_path, capsys, no_plots):
    source = files["csv", "wine"]["path"]
    training = tmp_path / "wine.csv"
    shutil.copy(source, training)
    config = tmp_path / "wine.toml"
    config.write_text(mlp_config("wine", {"name": "csv", "path": training, "label": "label"}))
    assert run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs", "--quiet")[0] == 0
    rows = list(csv.reader(source.open()))
    new = tmp_path / "new.csv"  # the columns shuffled and the label column dropped: matched by name
    header = rows[0][:-1]
    order = list(reversed(range(len(header))))
    with new.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow([header[i] for i in order])
        for row in rows[1:6]:
            writer.writerow([row[i] for i in order])
    training.unlink()  # predicting needs the run only
    code, out, err = run_command(capsys, "predict", tmp_path / "runs" / "wine", "--input", new)
    assert code == 0, err
    table = list(csv.reader(io.StringIO(out)))
    assert table[0] == ["row", "prediction", "class_0", "class_1", "class_2"]
    assert [r[0] for r in table[1:]] == ["1", "2", "3", "4", "5"]
    assert [r[1] for r in table[1:]] == [r[-1] for r in rows[1:6]]  # the first wines are class_0
    for r in table[1:]:
        assert abs(sum(float(p) for p in r[2:]) - 1) < 1e-5
    code, out, _ = run_command(capsys, "predict", tmp_path / "runs" / "wine", "--input", new, "--top-k", "2")
    table = list(csv.reader(io.StringIO(out)))
    assert table[0] == ["row", "prediction", "class_1", "probability_1", "class_2", "probability_2"]
    assert table[1][1] == table[1][2] and float(table[1][3]) >= float(table[1][5])

    model = corenn.load(tmp_path / "runs" / "wine")
    X = np.array([[float(v) for v in row[:-1]] for row in rows[1:]])
    labels = [row[-1] for row in rows[1:]]
    assert model.classes == ("class_0", "class_1", "class_2")
    assert list(model.predict(X[:5])) == labels[:5]
    assert model.predict_proba(X[0]).shape == (1, 3)
    scores = model.evaluate(X, labels)
    assert scores["samples"] == len(labels) and scores["accuracy"] >= 0.9
    assert model.evaluate(X, np.searchsorted(model.classes, labels))["accuracy"] == scores["accuracy"]


def test_an_image_run_predicts_one_image_and_a_folder(files, tmp_path, capsys, monkeypatch, no_plots):
    monkeypatch.setenv("CORENN_CACHE_DIR", str(tmp_path / "cache"))
    root = files["image_folder", "digits"]["root"]
    config = tmp_path / "digits.toml"
    dataset = {"name": "image_folder", "root": root, "grayscale": True, "size": [8, 8]}
    config.write_text(mlp_config("digits", dataset, epochs=15, flatten=True))
    assert run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs", "--quiet")[0] == 0
    run = tmp_path / "runs" / "digits"
    code, out, err = run_command(capsys, "predict", run, "--input", root / "3")
    assert code == 0, err
    table = list(csv.reader(io.StringIO(out)))
    assert table[0] == ["path", "prediction", *[str(d) for d in range(10)]]
    assert len(table) - 1 == len(list((root / "3").iterdir()))
    assert sum(r[1] == "3" for r in table[1:]) >= 0.9 * (len(table) - 1)
    one = sorted((root / "7").iterdir())[0]
    code, out, _ = run_command(capsys, "predict", run, "--input", one, "--out", tmp_path / "one.csv")
    assert code == 0 and "wrote 1 predictions" in out
    assert (tmp_path / "one.csv").read_text().splitlines()[1].startswith(f"{one},")
    model = corenn.load(run)
    images = np.stack([np.asarray(__import__("PIL.Image").Image.open(p)) for p in sorted((root / "7").iterdir())[:5]])
    assert list(model.predict(images)).count("7") >= 4  # (n, h, w) grey images: the channel axis is added


def test_the_second_image_folder_load_does_not_decode(files, tmp_path, monkeypatch):
    monkeypatch.setenv("CORENN_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "digits"
    shutil.copytree(files["image_folder", "digits"]["root"], root)
    decoded = []
    original = image_folders.decode_image
    monkeypatch.setattr(image_folders, "decode_image", lambda *a, **k: decoded.append(a[0]) or original(*a, **k))
    first = load_image_folder(root=str(root), grayscale=True)
    n_images = len(decoded)
    assert n_images == 1797
    assert list((tmp_path / "cache" / "image_folder").glob("*.npz"))
    second = load_image_folder(root=str(root), grayscale=True)
    assert len(decoded) == n_images, "the second load decoded images again"
    np.testing.assert_array_equal(first.train.X, second.train.X)
    touched = sorted((root / "5").iterdir())[0]
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    load_image_folder(root=str(root), grayscale=True)
    assert len(decoded) == n_images, "the cache is keyed by the images' contents: touching one changes nothing"
    os.rename(touched, root / "5" / "moved.png")
    load_image_folder(root=str(root), grayscale=True)
    assert len(decoded) == 2 * n_images, "a renamed image must invalidate the cache"
    load_image_folder(root=str(root), grayscale=True, size=[4, 4])
    assert len(decoded) == 3 * n_images, "another size is another cache entry"


def test_splits_are_stratified_fixed_and_sized(files):
    path = files["csv", "wine"]["path"]
    splits = load_csv(path=str(path), val_size=0.1, test_size=0.2)
    again = load_csv(path=str(path), val_size=0.1, test_size=0.2)
    np.testing.assert_array_equal(splits.test.X, again.test.X)
    assert len(splits.test) == round(0.2 * 178) and len(splits.val) == round(0.1 * (178 - len(splits.test)))
    total = np.bincount(np.concatenate([splits.train.y, splits.val.y, splits.test.y]))
    for split in (splits.train, splits.test):
        shares = np.bincount(split.y, minlength=3) / len(split)
        np.testing.assert_allclose(shares, total / total.sum(), atol=0.05)
    other = load_csv(path=str(path), split_seed=7)
    assert not np.array_equal(other.test.X, splits.test.X)
    counted = load_csv(path=str(path), val_size=0, test_size=30)
    assert counted.val is None and len(counted.test) == 30 and len(counted.train) == 148


def test_csv_header_label_and_test_file_options(tmp_path):
    headerless = tmp_path / "plain.csv"
    headerless.write_text("1,0.5,a\n2,0.25,b\n3,0.75,a\n4,0.5,b\n5,1.5,a\n6,2.5,b\n")
    table = read_table(headerless)
    assert table.features == ("column_1", "column_2") and table.label == "column_3"
    np.testing.assert_array_equal(table.X[:, 0], [1, 2, 3, 4, 5, 6])
    label_first = tmp_path / "label_first.csv"
    label_first.write_text("a,1,0.5\nb,2,0.25\n")
    first_column = read_table(label_first, label=0)
    assert first_column.label == "column_1" and first_column.labels.to_pylist() == ["a", "b"]
    assert first_column.features == ("column_2", "column_3")
    train = tmp_path / "train.csv"
    train.write_text("y;x1;x2\ncat;1;2\ndog;3;4\ncat;1;2.5\ndog;3;4.5\ncat;1.5;2\ndog;3.5;4\n")
    test = tmp_path / "test.csv"
    test.write_text("x2;y;x1\n2;cat;1\n4;dog;3\n")  # same columns, another order
    splits = load_csv(train=str(train), test=str(test), label="y", delimiter=";", val_size=0)
    assert splits.class_names == ("cat", "dog")
    np.testing.assert_array_equal(splits.test.X, [[1, 2], [3, 4]])
    assert splits.inputs == {"kind": "table", "features": ["x1", "x2"], "label": "y"}


def test_npz_labels_as_indices_with_class_names(files):
    splits = load_npz(path=str(files["npz", "digits"]["path"]))
    assert splits.class_names == tuple(str(d) for d in range(10))
    assert splits.input_shape == (8, 8, 1) and splits.standardize == "channel"


def test_corenn_train_is_the_run_trainer_and_import_stays_cheap():
    from corenn.trained.from_arrays import train
    from corenn.trained.load import load

    assert corenn.train is train and corenn.load is load  # train: corenn.run.train.train, or on arrays
    code = "import sys, corenn; assert 'corenn.run.train' not in sys.modules and 'pyarrow' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def _readme_blocks():
    """The bash and python blocks of the docs' own-data example (docs/own-data.md), as a newcomer
    copies them (```` ```bash exec ````: the docs tests run them too)."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "own-data.md").read_text(encoding="utf-8")
    example = page[page.index("<!-- own-data example") :]
    bash = example[example.index("\n", example.index("```bash")) + 1 :]
    python = example[example.index("\n", example.index("```python")) + 1 :]
    return bash[: bash.index("```")], python[: python.index("```")]


def test_the_readme_example_runs(tmp_path):
    bash, python = _readme_blocks()
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run(
        ["bash", "-e", "-c", bash], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    table = list(csv.reader(io.StringIO(done.stdout[done.stdout.index("row,prediction") :])))
    assert table[0] == ["row", "prediction", "class_1", "probability_1", "class_2", "probability_2"]
    assert [row[1] for row in table[1:]] == ["setosa"] * 3
    done = subprocess.run([sys.executable, "-c", python], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "('setosa', 'versicolor', 'virginica')" in done.stdout and "['setosa' 'virginica']" in done.stdout
    assert "'accuracy': 1.0" in done.stdout


def test_the_recorded_standardisation_is_the_training_splits(files, tmp_path, capsys, no_plots):
    path = files["csv", "breast_cancer"]["path"]
    config = tmp_path / "bc.toml"
    config.write_text(mlp_config("bc", {"name": "csv", "path": path}, epochs=1))
    assert run_command(capsys, "train", "--config", config, "--out", tmp_path / "runs", "--quiet")[0] == 0
    recorded = json.loads((tmp_path / "runs" / "bc" / "preprocessing.json").read_text())["standardize"]
    splits = load_csv(path=str(path))
    np.testing.assert_array_equal(recorded["mean"], splits.train.X.mean(axis=0))  # exactly: JSON keeps every bit
    all_rows = np.concatenate([splits.train.X, splits.val.X, splits.test.X])
    assert not np.allclose(recorded["mean"], all_rows.mean(axis=0), rtol=1e-6), "fitted on more than the training split"


def test_a_run_recorded_without_preprocessing_refits_it_from_its_data_set(tmp_path, capsys, no_plots):
    assert run_command(capsys, "train", "--out", tmp_path / "runs", "--epochs", 20, "--quiet")[0] == 0
    run = tmp_path / "runs" / "iris-ffnn"
    recorded = corenn.load(run)
    (run / "preprocessing.json").unlink()  # as an older corenn left it
    refitted = corenn.load(run)
    assert refitted.classes == recorded.classes == ("setosa", "versicolor", "virginica")
    rows = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]])
    np.testing.assert_allclose(refitted.predict_proba(rows), recorded.predict_proba(rows))


def test_evaluate_on_labelled_files_a_csv_and_a_folder_of_class_folders(files, tmp_path, capsys, monkeypatch, no_plots):
    monkeypatch.setenv("CORENN_CACHE_DIR", str(tmp_path / "cache"))
    wine = tmp_path / "wine.toml"
    wine.write_text(mlp_config("wine", {"name": "csv", "path": files["csv", "wine"]["path"], "label": "label"}))
    assert run_command(capsys, "train", "--config", wine, "--out", tmp_path / "runs", "--quiet")[0] == 0
    run = tmp_path / "runs" / "wine"
    code, out, err = run_command(capsys, "evaluate", run, "--input", files["csv", "wine"]["path"], "--json")
    assert code == 0, err
    report = json.loads(out)
    model = corenn.load(run)
    rows = list(csv.reader(files["csv", "wine"]["path"].open()))
    X = np.array([[float(v) for v in row[:-1]] for row in rows[1:]])
    assert report["split"] == "input" and report["samples"] == len(X) == sum(map(sum, report["confusion"]))
    assert report["accuracy"] == model.evaluate(X, [row[-1] for row in rows[1:]])["accuracy"]
    assert report["classes"] == ["class_0", "class_1", "class_2"]

    digits = tmp_path / "digits.toml"
    root = files["image_folder", "digits"]["root"]
    dataset = {"name": "image_folder", "root": root, "grayscale": True, "size": [8, 8]}
    digits.write_text(mlp_config("digits", dataset, epochs=15, flatten=True))
    assert run_command(capsys, "train", "--config", digits, "--out", tmp_path / "runs", "--quiet")[0] == 0
    code, out, err = run_command(capsys, "evaluate", tmp_path / "runs" / "digits", "--input", root)
    assert code == 0, err
    assert out.startswith(
        f"{tmp_path / 'runs' / 'digits'} (last parameters) on {root} input: 1797 samples, accuracy 0.9"
    )
    assert "confusion matrix (rows: true class, columns: predicted class)" in out

    unlabelled = tmp_path / "unlabelled"
    unlabelled.mkdir()
    shutil.copy(sorted((root / "3").iterdir())[0], unlabelled / "one.png")
    code, _, err = run_command(capsys, "evaluate", tmp_path / "runs" / "digits", "--input", unlabelled)
    assert code == 1
    assert err.strip().splitlines() == [
        f"corenn evaluate: error: input {unlabelled} holds no labels to evaluate against: give a folder of class "
        "folders (root/<class>/image.png) or an .npz with X and y"
    ]
