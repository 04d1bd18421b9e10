"""Evaluating a trained run on a data set's split: accuracy, each class's precision and recall,
and the confusion matrix (rows: true classes, columns: predicted ones), with the class names.

The model's outputs come from :func:`corenn.trained.predict.split_outputs`, so the run's
standardisation, ``test_augment`` and backend apply exactly as in training's own evaluations.
"""

from pathlib import Path

import numpy as np

from corenn.files import atomic_write
from corenn.trained.predict import split_outputs

CONFUSION_PLOT = "confusion.png"


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


def evaluate_run(run_dir, *, dataset=None, split="test", which="last", data_dir=None, device=None, batch_size=None):
    """The evaluation report of a run on ``split`` of ``dataset`` (default: the run's own), as a
    JSON-able dict: ``accuracy``, ``classes``, ``per_class`` (see :func:`class_scores`) and
    ``confusion`` (a list of rows), with what was evaluated and a ``warning`` (or ``None``) when
    the data set is not the one the run was trained on."""
    from corenn.trained.predict import other_data_warning

    outputs = split_outputs(
        run_dir, dataset=dataset, split=split, data_dir=data_dir, device=device, batch_size=batch_size, which=which
    )
    predicted = outputs.predicted
    matrix = confusion_matrix(outputs.labels, predicted, len(outputs.class_names))
    samples = len(outputs.labels)
    return {
        "run_dir": str(run_dir),
        "dataset": outputs.dataset,
        "split": split,
        "which": which,
        "parameters": str(outputs.parameters),
        "samples": samples,
        "accuracy": float(np.trace(matrix) / samples) if samples else None,
        "classes": list(outputs.class_names),
        "per_class": class_scores(matrix, outputs.class_names),
        "confusion": matrix.tolist(),
        "warning": other_data_warning(outputs, run_dir),
    }


def evaluate_input(run_dir, input_path, *, which="last", device=None, batch_size=None, data_dir=None):
    """The evaluation report (as :func:`evaluate_run`'s) of a run on labelled samples in files: a
    CSV holding the run's label column, an ``.npz`` with ``y``, or a folder of class folders
    (``root/<class name>/*.png``, the ``image_folder`` layout), read and preprocessed as
    ``corenn predict --input`` reads them."""
    from corenn.data.image_folders import is_image_file
    from corenn.errors import DataError
    from corenn.trained.load import load
    from corenn.trained.predict_input import read_inputs

    model = load(run_dir, which=which, device=device, data_dir=data_dir)
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
    truth = model.class_indices(labels, source=f"the labels of {input_path}")
    probabilities = model.predict_proba(X, batch_size, source=f"input {input_path}")
    matrix = confusion_matrix(truth, probabilities.argmax(axis=1), len(model.classes))
    samples = len(truth)
    return {
        "run_dir": str(run_dir),
        "dataset": str(input_path),
        "split": "input",
        "which": which,
        "parameters": str(model.parameters_path),
        "samples": samples,
        "accuracy": float(np.trace(matrix) / samples) if samples else None,
        "classes": list(model.classes),
        "per_class": class_scores(matrix, model.classes),
        "confusion": matrix.tolist(),
        "warning": None,
    }


def write_confusion_plot(report, path):
    """The confusion matrix as a heat map with the counts written in (class names on both axes)."""
    from corenn.records.plots import _pyplot, _save_figure

    plt = _pyplot()
    matrix = np.asarray(report["confusion"])
    names = report["classes"]
    size = max(4.0, 0.5 * len(names) + 2)
    figure, axes = plt.subplots(figsize=(size + 1, size), dpi=100)
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    axes.set_xticks(range(len(names)), labels=names, rotation=45, ha="right")
    axes.set_yticks(range(len(names)), labels=names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    accuracy = "-" if report["accuracy"] is None else f"{report['accuracy']:.4f}"
    axes.set_title(f"{Path(report['run_dir']).name}: {report['dataset']} {report['split']}, accuracy {accuracy}")
    threshold = matrix.max() / 2 if matrix.size else 0
    if len(names) <= 30:  # beyond that the numbers would not be readable
        for (row, column), count in np.ndenumerate(matrix):
            color = "white" if count > threshold else "black"
            axes.text(column, row, str(count), ha="center", va="center", color=color, fontsize=8)
    return _save_figure(plt, figure, Path(path))


def format_report(report):
    """The report as a person reads it: accuracy, a per-class table, the confusion matrix."""
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
