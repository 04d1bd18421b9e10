"""``corenn predict RUN_DIR --input PATH``: a trained run's predictions for new samples read
from files, as CSV rows.

The input is a CSV file of feature rows (a header naming the training columns, in any order, or
no header and the columns in training order; a label column, if present, is ignored), an
``.npz`` holding an array ``X`` (or one array), one image, or a folder of images (searched
recursively, sorted by path). The run's own preprocessing applies (see
:mod:`corenn.records.preprocessing`): its standardisation, image size and colour mode.

The CSV written has one row per sample: its id (``row``, the CSV's data row counting from 1;
``index``, the ``.npz`` array's index from 0; or ``path`` of the image), the ``prediction``
(a class name), then each class's probability in a column named after the class; with
``top_k``, the K most probable classes instead, as ``class_1, probability_1, ...``.
"""

import csv
import io
from pathlib import Path

import numpy as np

from corenn.errors import DataError, ShapeError

PROBABILITY_FORMAT = "{:.6f}"


def read_inputs(path, model):
    """``(X, id column name, ids, labels or None)`` of the samples in ``path`` for ``model``
    (a :class:`corenn.trained.load.TrainedModel`); labels when the file holds the run's label
    column (a CSV) or ``y`` (an ``.npz``)."""
    from corenn.data.image_folders import is_image_file

    path = Path(path)
    if not path.exists():
        raise DataError(f"input {path} does not exist")
    inputs = model.preprocessing.inputs
    if path.is_dir() or is_image_file(path):
        if inputs.get("kind") != "image":
            raise ShapeError(
                f"input {path} is an image{' folder' if path.is_dir() else ''}, but the model of {model.run_dir} "
                f"takes {model.describe_input()}: give a CSV file or an .npz"
            )
        return _read_images(path, model)
    if path.suffix.lower() == ".npz":
        return _read_npz(path, model)
    return _read_csv(path, model)


def _read_images(path, model):
    from corenn.data.image_folders import decode_image, is_image_file

    if path.is_dir():
        paths = sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p))
        if not paths:
            raise DataError(f"input folder {path} holds no images")
    else:
        paths = [path]
    inputs = model.preprocessing.inputs
    height, width = inputs["size"]
    grayscale = bool(inputs.get("grayscale"))
    resize = (height, width) if inputs.get("resize") else None
    images = []
    for image_path in paths:
        image = decode_image(image_path, resize, grayscale)
        if image.shape[:2] != (height, width):
            raise ShapeError(
                f"image {image_path} is {image.shape[1]}x{image.shape[0]} (width x height), but the model of "
                f"{model.run_dir} takes {width}x{height} images (it was trained without dataset.size, so it does not resize)"
            )
        images.append(image)
    return np.stack(images), "path", [str(p) for p in paths], None


def _read_npz(path, model):
    from corenn.data.npz_arrays import read_npz

    arrays = read_npz(path)
    if "X" in arrays:
        X = arrays["X"]
    elif len(arrays) == 1:
        (X,) = arrays.values()
    else:
        raise DataError(f"{path} holds arrays {', '.join(arrays)}; name the inputs X (np.savez(path, X=...))")
    return X, "index", list(range(len(X))), arrays.get("y")


def _read_csv(path, model):
    from corenn.data.csv_table import Table, read_table

    inputs = model.preprocessing.inputs
    if inputs.get("kind") == "image" or len(model.input_shape) != 1:
        raise ShapeError(
            f"input {path} is read as a CSV file of feature rows, but the model of {model.run_dir} takes "
            f"{model.describe_input()}: give an image, a folder of images or an .npz"
        )
    features = tuple(inputs.get("features") or (f"column_{i + 1}" for i in range(model.input_shape[0])))
    like = Table(Path(str(model.run_dir)), None, None, features, inputs.get("label", ""))
    table = read_table(path, like=like, require_label=False)
    labels = table.labels.to_pylist() if table.labels is not None else None
    return table.X, "row", list(range(1, len(table.X) + 1)), labels


def prediction_rows(model, ids, id_column, probabilities, top_k=None):
    """The CSV text of the predictions (see the module's docstring)."""
    classes = list(model.classes)
    if top_k is not None:
        top_k = min(top_k, len(classes))
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    if top_k is None:
        writer.writerow([id_column, "prediction", *classes])
    else:
        writer.writerow(
            [
                id_column,
                "prediction",
                *[name for k in range(1, top_k + 1) for name in (f"class_{k}", f"probability_{k}")],
            ]
        )
    order = np.argsort(-probabilities, axis=1, kind="stable")
    for sample_id, row, ranked in zip(ids, probabilities, order, strict=True):
        if top_k is None:
            cells = [PROBABILITY_FORMAT.format(p) for p in row]
        else:
            cells = [cell for c in ranked[:top_k] for cell in (classes[c], PROBABILITY_FORMAT.format(row[c]))]
        writer.writerow([sample_id, classes[ranked[0]], *cells])
    return stream.getvalue()


def predict_input(run_dir, input_path, *, top_k=None, which="last", device=None, batch_size=None, data_dir=None):
    """``(csv text, number of samples)`` of the run's predictions for the samples in ``input_path``."""
    from corenn.errors import ConfigError
    from corenn.trained.load import load

    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0):
        raise ConfigError(f"--top-k must be a positive integer, got {top_k!r}")
    model = load(run_dir, which=which, device=device, data_dir=data_dir)
    X, id_column, ids, _ = read_inputs(input_path, model)
    probabilities = model.predict_proba(X, batch_size, source=f"input {input_path}")
    return prediction_rows(model, ids, id_column, probabilities, top_k), len(ids)
