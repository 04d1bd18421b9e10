"""Evaluating a trained run on a data set's split: accuracy, each class's precision and recall,
and the confusion matrix (rows: true classes, columns: predicted ones), with the class names; a
regression's mean squared error, mean absolute error and R^2, with its predictions against the
truth.

The model's outputs come from :func:`corenn.trained.predict.split_outputs`, so the run's
standardisation, ``test_augment`` and backend apply exactly as in training's own evaluations.

Each evaluation draws its plot under a name of its own in the run's folder (see
:func:`default_plot_name`): ``confusion.png`` for the run's own test split, as ever;
``confusion-val.png``, ``confusion-<data set>-test.png`` and ``confusion-input-<file>.png`` for
the others (a regression: ``predictions*.png``), so one evaluation never overwrites another's.
"""

from pathlib import Path

import numpy as np

from corenn.files import atomic_write
from corenn.records.folder import tested_parameters
from corenn.trained.predict import split_outputs

CONFUSION_PLOT = "confusion.png"
PREDICTIONS_PLOT = "predictions.png"  # a regression's: predicted against true values


def confusion_matrix(labels, predicted, n_classes):
    """``matrix[true, predicted]``: how many samples of each true class got each prediction."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def class_scores(matrix, class_names):
    """Per class: precision (of the samples predicted as it, the share that are it; ``None``
    when none were), recall (of its samples, the share found; ``None`` without samples) and support."""
    scores = []
    for index, name in enumerate(class_names):
        predicted_as, support, hits = int(matrix[:, index].sum()), int(matrix[index].sum()), int(matrix[index, index])
        scores.append(
            {
                "class": name,
                "precision": hits / predicted_as if predicted_as else None,
                "recall": hits / support if support else None,
                "support": support,
            }
        )
    return scores


def evaluate_run(
    run_dir, *, dataset=None, split="test", which=None, data_dir=None, backend=None, device=None, batch_size=None
):
    """The evaluation report of a run on ``split`` of ``dataset`` (default: the run's own), as a
    JSON-able dict: ``accuracy``, ``classes``, ``per_class`` (see :func:`class_scores`) and
    ``confusion`` (a list of rows), with what was evaluated and a ``warning`` (or ``None``) when
    the data set is not the one the run was trained on. A regression's report holds ``task``,
    ``mse``, ``mae``, ``r2`` and ``targets`` instead (see :func:`regression_report`)."""
    from corenn.trained.predict import other_data_warning

    which = tested_parameters(run_dir) if which is None else which
    outputs = split_outputs(
        run_dir,
        dataset=dataset,
        split=split,
        data_dir=data_dir,
        backend=backend,
        device=device,
        batch_size=batch_size,
        which=which,
    )
    about = {
        "run_dir": str(run_dir),
        "dataset": outputs.dataset,
        "split": split,
        "which": which,
        "parameters": str(outputs.parameters),
    }
    if outputs.task == "regression":
        return (
            about
            | regression_report(outputs.values, outputs.labels, outputs.class_names)
            | {"warning": other_data_warning(outputs, run_dir)}
        )
    predicted = outputs.predicted
    matrix = confusion_matrix(outputs.labels, predicted, len(outputs.class_names))
    samples = len(outputs.labels)
    return about | {
        "samples": samples,
        "accuracy": float(np.trace(matrix) / samples) if samples else None,
        "classes": list(outputs.class_names),
        "per_class": class_scores(matrix, outputs.class_names),
        "confusion": matrix.tolist(),
        "warning": other_data_warning(outputs, run_dir),
    }


def regression_report(predicted, truth, names):
    """A regression's scores (MSE, MAE and R^2, averaged over the targets) with the predicted
    and true values, in the targets' units, for the plot (``points``: at most 2,000 pairs of
    the first target)."""
    from corenn.data.tasks import scores_of

    predicted = np.asarray(predicted, dtype=np.float64).reshape(len(truth), -1)
    truth = np.asarray(truth, dtype=np.float64).reshape(len(truth), -1)
    scores = scores_of(predicted, truth) if len(truth) else {"mse": None, "mae": None, "r2": None}
    return {
        "task": "regression",
        "samples": len(truth),
        **scores,
        "targets": list(names),
        "points": {"true": truth[:2000, 0].tolist(), "predicted": predicted[:2000, 0].tolist()},
    }


def evaluate_input(run_dir, input_path, *, which=None, backend=None, device=None, batch_size=None, data_dir=None):
    """The evaluation report (as :func:`evaluate_run`'s) of a run on labelled samples in files: a
    CSV holding the run's label column, an ``.npz`` with ``y``, or a folder of class folders
    (``root/<class name>/*.png``, the ``image_folder`` layout), read and preprocessed as
    ``corenn predict --input`` reads them."""
    from corenn.data.image_folders import is_image_file
    from corenn.errors import DataError, ShapeError
    from corenn.trained.load import check_batch_size, load
    from corenn.trained.predict_input import read_inputs

    check_batch_size(batch_size, "--batch-size")
    model = load(run_dir, which=which, backend=backend, device=device, data_dir=data_dir)
    which = model.which
    X, _, ids, labels = read_inputs(input_path, model)
    if labels is None and Path(input_path).is_dir():
        labels = [Path(path).relative_to(input_path).parts[0] for path in ids]
        if any(len(Path(path).relative_to(input_path).parts) != 2 for path in ids) or not all(
            is_image_file(Path(path)) for path in ids
        ):
            labels = None
    if labels is None:
        if model.preprocessing.inputs.get("kind") == "image":
            ways = "a folder of class folders (root/<class>/image.png) or an .npz with X and y"
        else:
            ways = f"a CSV with the run's label column {model.preprocessing.inputs.get('label', '')!r} or an .npz with X and y"
        raise DataError(f"input {input_path} holds no labels to evaluate against: give {ways}")
    if len(labels) != len(ids):
        raise ShapeError(
            f"input {input_path} holds {len(ids)} samples but {len(labels)} labels (y); give one label per sample"
        )
    about = {
        "run_dir": str(run_dir),
        "dataset": str(input_path),
        "split": "input",
        "which": which,
        "parameters": str(model.parameters_path),
    }
    source = f"input {input_path}"
    if model.task == "regression":
        truth = model.targets(labels, len(ids), source=f"the labels of {input_path}")
        predicted = model.predict(X, batch_size, source=source)
        return about | regression_report(predicted, truth, model.classes) | {"warning": None}
    truth = model.class_indices(labels, source=f"the labels of {input_path}")
    probabilities = model.predict_proba(X, batch_size, source=source)
    matrix = confusion_matrix(truth, probabilities.argmax(axis=1), len(model.classes))
    samples = len(truth)
    return about | {
        "samples": samples,
        "accuracy": float(np.trace(matrix) / samples) if samples else None,
        "classes": list(model.classes),
        "per_class": class_scores(matrix, model.classes),
        "confusion": matrix.tolist(),
        "warning": None,
    }


def default_plot_name(report):
    """The file an evaluation draws its plot in, inside the run's folder: ``confusion.png`` (a
    regression: ``predictions.png``) for the run's own test split; for another split, data set
    or input file, a name that says which, so no evaluation overwrites another's plot."""
    stem = "predictions" if report.get("task") == "regression" else "confusion"
    if report["split"] == "input":
        name = Path(report["dataset"]).name.split(".")[0] or "input"
        return f"{stem}-input-{_file_safe(name)}.png"
    if not report.get("warning"):  # the run's own data set (another one is warned about)
        return f"{stem}.png" if report["split"] == "test" else f"{stem}-{report['split']}.png"
    return f"{stem}-{_file_safe(report['dataset'])}-{report['split']}.png"


def _file_safe(text):
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(text))[:80]


def write_plot(report, path):
    """The report's plot: the confusion matrix, or a regression's predicted against true values."""
    if report.get("task") == "regression":
        return write_predictions_plot(report, path)
    return write_confusion_plot(report, path)


def _title(report, score, width=36):
    """The plot's title on three short lines (the run; what was evaluated: a file's name, or the
    data set and split; the score), so that it fits a narrow figure (a 2-class confusion matrix)."""
    what = (
        f"{Path(report['dataset']).name} (input)"
        if report["split"] == "input"
        else f"{report['dataset']} {report['split']}"
    )
    lines = [Path(report["run_dir"]).name, what, score]
    return "\n".join(line if len(line) <= width else line[: width - 3] + "..." for line in lines)


def write_predictions_plot(report, path):
    """A regression's predicted values against the true ones (the first target), with the
    diagonal where they would be equal."""
    from corenn.records.plots import _pyplot, _save_figure

    plt = _pyplot()
    truth, predicted = report["points"]["true"], report["points"]["predicted"]
    figure, axes = plt.subplots(figsize=(5.5, 5), dpi=100)
    axes.scatter(truth, predicted, s=10, alpha=0.6)
    if truth:
        low, high = min(min(truth), min(predicted)), max(max(truth), max(predicted))
        axes.plot([low, high], [low, high], color="grey", linewidth=1, linestyle="--")
    axes.set_xlabel(f"true {report['targets'][0]}")
    axes.set_ylabel(f"predicted {report['targets'][0]}")
    r2 = "-" if report["r2"] is None else f"{report['r2']:.4f}"
    axes.set_title(_title(report, f"R^2 {r2}"), fontsize=10)
    axes.grid(alpha=0.3)
    return _save_figure(plt, figure, Path(path))


def write_confusion_plot(report, path):
    """The confusion matrix as a heat map with the counts written in (class names on both axes)."""
    from corenn.records.plots import _pyplot, _save_figure

    plt = _pyplot()
    matrix = np.asarray(report["confusion"])
    names = report["classes"]
    size = max(4.5, 0.5 * len(names) + 2)
    figure, axes = plt.subplots(figsize=(size + 1, size), dpi=100)
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    axes.set_xticks(range(len(names)), labels=names, rotation=45, ha="right")
    axes.set_yticks(range(len(names)), labels=names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    accuracy = "-" if report["accuracy"] is None else f"{report['accuracy']:.4f}"
    axes.set_title(_title(report, f"accuracy {accuracy}"), fontsize=10)
    threshold = matrix.max() / 2 if matrix.size else 0
    if len(names) <= 30:  # beyond that the numbers would not be readable
        for (row, column), count in np.ndenumerate(matrix):
            color = "white" if count > threshold else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=color, fontsize=8)
    return _save_figure(plt, figure, Path(path))


def format_report(report):
    """The report as a person reads it: accuracy, a per-class table, the confusion matrix (a
    regression: its MSE, MAE and R^2)."""
    if report.get("task") == "regression":

        def score(name):
            return "-" if report[name] is None else f"{report[name]:.6g}"

        return (
            f"{report['run_dir']} ({report['which']} parameters) on {report['dataset']} {report['split']}: "
            f"{report['samples']} samples, regression of {', '.join(report['targets'])}\n\n"
            f"MSE {score('mse')}  MAE {score('mae')}  R^2 {score('r2')}"
        )
    names = report["classes"]
    width = max(5, *(len(name) for name in names))
    lines = [
        f"{report['run_dir']} ({report['which']} parameters) on {report['dataset']} {report['split']}: "
        f"{report['samples']} samples, accuracy "
        + ("-" if report["accuracy"] is None else f"{report['accuracy']:.4f}"),
        "",
        f"{'class':<{width}}  precision  recall  support",
    ]

    def score(value):
        return f"{'-':>9}" if value is None else f"{value:>9.4f}"

    for row in report["per_class"]:
        lines.append(
            f"{row['class']:<{width}}  {score(row['precision'])}  {score(row['recall'])[3:]:>6}  {row['support']:>7}"
        )
    lines += ["", "confusion matrix (rows: true class, columns: predicted class)"]
    cell = max(
        5, min(10, max(len(name) for name in names)), *(len(str(count)) for row in report["confusion"] for count in row)
    )
    lines.append(" " * width + "  " + " ".join(f"{name[:cell]:>{cell}}" for name in names))
    for name, row in zip(names, report["confusion"], strict=True):
        lines.append(f"{name:<{width}}  " + " ".join(f"{count:>{cell}}" for count in row))
    return "\n".join(lines)


def write_report_json(report, path):
    import json

    atomic_write(path, json.dumps(report, indent=2) + "\n")
