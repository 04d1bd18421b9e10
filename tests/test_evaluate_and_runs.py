"""``corenn evaluate`` (accuracy, per-class precision/recall, confusion matrix, confusion.png),
``corenn runs`` (status of each run) and ``corenn compare`` (curves overlaid)."""

import json

import numpy as np
import pytest

from corenn.run.config import load_preset
from corenn.run.train import train
from corenn.testing import InterruptAtEpochEnd
from corenn.trained.evaluate import class_scores, confusion_matrix

from suite_helpers import run_command

PNG = b"\x89PNG\r\n\x1a\n"


def iris(epochs=15, **changes):
    data = load_preset("iris-ffnn").to_dict() | {"epochs": epochs} | changes
    data["layers"][0]["n_out"] = 8
    return data


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A folder with a finished, an interrupted and a diverged run."""
    out = tmp_path_factory.mktemp("runs")
    finished = train(iris(), out_dir=out, verbose=False)
    with pytest.raises(KeyboardInterrupt):
        train(iris(name="cut"), out_dir=out, verbose=False, callbacks=[InterruptAtEpochEnd(2)])
    from corenn.errors import TrainingDiverged

    with pytest.raises(TrainingDiverged):
        train(iris(name="exploded", optimizer={"name": "sgd", "lr": 1e6}), out_dir=out, verbose=False)
    return out, finished


def test_confusion_matrix_and_scores_by_hand():
    matrix = confusion_matrix([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    scores = class_scores(matrix, ("a", "b", "c"))
    assert scores[0] == {"class": "a", "precision": 0.5, "recall": 0.5, "support": 2}
    assert scores[1]["precision"] == pytest.approx(2 / 3) and scores[1]["recall"] == 1.0
    assert scores[2] == {"class": "c", "precision": None, "recall": 0.0, "support": 1}


def test_evaluate_json_agrees_with_the_runs_own_test_accuracy(runs, capsys):
    out, finished = runs
    run_dir = out / "iris-ffnn"
    code, printed, _ = run_command(capsys, "evaluate", run_dir, "--json")
    assert code == 0
    report = json.loads(printed)
    assert report["accuracy"] == pytest.approx(finished["test_accuracy"])
    assert report["classes"] == ["setosa", "versicolor", "virginica"]
    matrix = np.array(report["confusion"])
    assert matrix.sum() == report["samples"] == 30
    assert np.trace(matrix) / matrix.sum() == pytest.approx(report["accuracy"])
    assert [row["support"] for row in report["per_class"]] == matrix.sum(1).tolist()
    assert (run_dir / "confusion.png").read_bytes().startswith(PNG)


def test_evaluate_prints_a_table_with_class_names_and_takes_the_best_parameters(runs, capsys, tmp_path):
    out, _ = runs
    code, printed, _ = run_command(
        capsys, "evaluate", out / "iris-ffnn", "--which", "best", "--split", "val", "--plot", tmp_path / "c.png"
    )
    assert code == 0
    assert "(best parameters) on iris val" in printed
    assert "precision  recall  support" in printed and "confusion matrix (rows: true class" in printed
    for name in ("setosa", "versicolor", "virginica"):
        assert sum(line.startswith(name) for line in printed.splitlines()) == 2  # its score row and its matrix row
    assert (tmp_path / "c.png").read_bytes().startswith(PNG)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["{missing}"], "is not a corenn run directory"),
        (["{run}", "--split", "validation"], "unknown split 'validation'; splits: train, val, test"),
        (["{run}", "--dataset", "no_such_set"], "unknown dataset 'no_such_set'"),
        (["{cut}", "--which", "best", "--batch-size", "0"], "--batch-size must be a positive integer"),
    ],
)
def test_evaluate_bad_input_is_one_line(runs, capsys, tmp_path, argv, fragment):
    out, _ = runs
    places = {"{missing}": tmp_path / "nothing", "{run}": out / "iris-ffnn", "{cut}": out / "cut"}
    code, _, err = run_command(capsys, "evaluate", *[places.get(arg, arg) for arg in argv])
    assert code == 1 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and fragment in err


def test_runs_lists_each_run_with_its_status(runs, capsys):
    out, finished = runs
    code, printed, _ = run_command(capsys, "runs", out, "--json")
    assert code == 0
    rows = {row["name"]: row for row in json.loads(printed)}
    assert {name: row["status"] for name, row in rows.items()} == {
        "iris-ffnn": "finished",
        "cut": "interrupted",
        "exploded": "diverged",
    }
    done = rows["iris-ffnn"]
    assert done["dataset"] == "iris" and done["epochs"] == done["epochs_planned"] == 15
    assert done["test_accuracy"] == finished["test_accuracy"]
    history = json.loads((out / "iris-ffnn" / "metrics.json").read_text())
    assert done["best_val_accuracy"] == max(row["val_accuracy"] for row in history)
    assert rows["cut"]["epochs"] == 2 and rows["cut"]["test_accuracy"] is None
    code, table, _ = run_command(capsys, "runs", out)
    lines = table.splitlines()
    assert lines[0].split() == ["name", "dataset", "epochs", "best", "val", "test", "time", "status"]
    assert any(line.startswith("cut ") and line.endswith("interrupted") and " 2/15 " in line for line in lines)


def test_runs_of_a_missing_folder_is_one_line(capsys, tmp_path):
    code, _, err = run_command(capsys, "runs", tmp_path / "nowhere")
    assert code == 1 and "is not a folder" in err and len(err.strip().splitlines()) == 1


def test_compare_overlays_the_runs_curves(runs, capsys, tmp_path):
    out, _ = runs
    code, printed, _ = run_command(capsys, "compare", out / "iris-ffnn", out / "cut", "--out", tmp_path / "curves.png")
    assert code == 0 and "wrote" in printed
    assert (tmp_path / "curves.png").read_bytes().startswith(PNG)
    code, _, err = run_command(capsys, "compare", out / "iris-ffnn", tmp_path / "nothing", "--out", tmp_path / "c.png")
    assert code == 1 and "is not a corenn run directory" in err


def test_evaluate_writes_a_plot_of_its_own_for_each_split_and_input(runs, capsys, tmp_path):
    """Friction 8: ``evaluate --input`` overwrote the test split's ``confusion.png``."""
    out, _ = runs
    run_dir = out / "iris-ffnn"
    assert run_command(capsys, "evaluate", run_dir)[0] == 0
    test_plot = (run_dir / "confusion.png").read_bytes()
    rows = tmp_path / "flowers.csv"
    from corenn.data.iris import read_iris_table

    X, labels = read_iris_table()
    names = np.asarray(["setosa", "versicolor", "virginica"])[labels]
    rows.write_text(
        "sepal_length,sepal_width,petal_length,petal_width,species\n"
        + "".join(",".join(map(str, row)) + f",{name}\n" for row, name in zip(X[:20], names[:20], strict=True))
    )
    code, printed, err = run_command(capsys, "evaluate", run_dir, "--input", rows)
    assert code == 0, err
    assert printed.strip().endswith(f"confusion plot: {run_dir / 'confusion-input-flowers.png'}")
    code, printed, _ = run_command(capsys, "evaluate", run_dir, "--split", "val")
    assert printed.strip().endswith(f"confusion plot: {run_dir / 'confusion-val.png'}")
    assert (run_dir / "confusion.png").read_bytes() == test_plot, "the test split's plot was overwritten"


def test_a_two_class_confusion_plots_title_fits(tmp_path, monkeypatch):
    """Friction 8: a 2-class plot (a narrow figure) cut its title off at both sides."""
    import corenn.records.plots as plots
    from corenn.trained.evaluate import write_confusion_plot

    drawn = {}
    original = plots._save_figure

    def keep(plt, figure, path):
        figure.tight_layout()
        figure.canvas.draw()
        drawn["title"] = figure.axes[0].title.get_window_extent()
        drawn["figure"] = figure.bbox
        return original(plt, figure, path)

    monkeypatch.setattr(plots, "_save_figure", keep)
    report = {
        "run_dir": "experiments/breast-cancer-mlp-2",
        "dataset": "/home/student/course/data/breast_cancer_new_patients.csv",
        "split": "input",
        "accuracy": 0.9736842105263158,
        "classes": ["benign", "malignant"],
        "confusion": [[70, 2], [1, 41]],
    }
    write_confusion_plot(report, tmp_path / "c.png")
    title, figure = drawn["title"], drawn["figure"]
    assert title.x0 >= figure.x0 and title.x1 <= figure.x1, f"title {title} outside the figure {figure}"


def test_runs_shows_an_early_stopped_run_as_such(runs, capsys, tmp_path):
    """Friction 3: an early-stopped run showed as ``finished 21/60``, like one that ran out its
    epochs. Both forms of ``stopped_early`` are read: the details, and an older run's ``true``."""
    import shutil

    out, _ = runs
    for name, stopped in (
        ("detailed", {"epoch": 9, "patience": 3, "best_epoch": 6, "metric": "val_accuracy", "value": 0.93}),
        ("older", True),
        ("whole", False),
    ):
        shutil.copytree(out / "iris-ffnn", tmp_path / name)
        result = json.loads((tmp_path / name / "result.json").read_text())
        (tmp_path / name / "result.json").write_text(json.dumps(result | {"stopped_early": stopped}))
    code, table, _ = run_command(capsys, "runs", tmp_path)
    lines = {line.split()[0]: line for line in table.splitlines()[1:]}
    assert lines["detailed"].endswith("finished, stopped early at epoch 9 (patience 3, best epoch 6)")
    assert lines["older"].endswith("finished, stopped early") and lines["whole"].endswith("  finished")
    code, printed, _ = run_command(capsys, "runs", tmp_path, "--json")
    rows = {row["name"]: row for row in json.loads(printed)}
    assert rows["detailed"]["stopped_early"]["best_epoch"] == 6 and rows["whole"]["stopped_early"] is None
