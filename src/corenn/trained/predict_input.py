"""``corenn predict RUN_DIR --input PATH``: a trained run's predictions for new samples read
from files, as CSV rows.

The input is a CSV file of feature rows (a header naming the training columns, in any order, or
no header and the columns in training order; a first line naming one of the run's columns is the
header, so a table of text columns tells its header from a row; a label column, if present, is
ignored), an ``.npz`` holding an array ``X`` (or one array; an image run given floats all within
[0, 1] warns that it learnt from pixel values 0..255), one image, or a folder of images
(searched recursively, sorted by path, hidden files and folders left out). The run's own preprocessing applies (see
:mod:`corenn.records.preprocessing`): its standardisation, image size and colour mode.

The CSV written has one row per sample: its id (``row``, the CSV's data row counting from 1;
``index``, the ``.npz`` array's index from 0; or ``path`` of the image), the ``prediction``
(a class name), then each class's probability in a column named after the class; with
``top_k``, the K most probable classes instead, as ``class_1, probability_1, ...``. A
regression's has, after the id, one column per target (named after it) with the predicted value.

A table whose text columns were one-hot encoded reads them as in training (a category the
training split did not hold is encoded as none and said on stderr); a missing value is filled
when the run's ``missing`` policy is ``"mean"``. Any other NaN, infinity or missing value is
refused with its row and column named, before anything is predicted: a bad row never changes
another row's probabilities.
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
    from corenn.data.image_folders import decode_image, images_below

    if path.is_dir():
        paths = [p for p in images_below(path) if p.is_file()]
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
    if X.ndim == 0:
        raise ShapeError(
            f"input {path}: X is a single number; the model of {model.run_dir} takes {model.describe_input()}"
        )
    if X.shape == tuple(model.input_shape) or (model.encoding is not None and X.ndim == 1):
        X = X[np.newaxis]  # one sample alone
    if model.preprocessing.inputs.get("kind") == "image" and _pixels_within_one(X):
        import warnings

        from corenn.data.columns import InputWarning

        warnings.warn(
            f"input {path}: X holds floats within [0, 1], but the model of {model.run_dir} was trained on pixel "
            "values 0..255: multiply them by 255, or its predictions are not what it learnt",
            InputWarning,
            stacklevel=2,
        )
    return X, "index", list(range(len(X))), arrays.get("y")


def _pixels_within_one(X):
    """Whether ``X`` is floats, every one within [0, 1] (black images alone aside): images scaled
    to 0..1, not 0..255."""
    return X.dtype.kind == "f" and X.size > 0 and bool(X.min() >= 0) and bool(0 < X.max() <= 1)


def _read_csv(path, model):
    from corenn.data.csv_table import Table, read_table

    inputs = model.preprocessing.inputs
    if inputs.get("kind") == "image" or (len(model.input_shape) != 1):
        raise ShapeError(
            f"input {path} is read as a CSV file of feature rows, but the model of {model.run_dir} takes "
            f"{model.describe_input()}: give an image, a folder of images or an .npz"
        )
    encoding = model.encoding
    if encoding is not None:
        features, kinds = tuple(encoding.names), encoding.kinds()
    else:
        features = tuple(inputs.get("features") or (f"column_{i + 1}" for i in range(model.input_shape[0])))
        kinds = dict.fromkeys(features, "number")
    like = Table(Path(str(model.run_dir)), {}, kinds, None, features, inputs.get("label", ""))
    table = read_table(path, like=like, require_label=False)
    labels = table.labels.to_pylist() if table.labels is not None else None
    X = table.columns if encoding is not None else table.X
    return X, "row", list(range(1, table.num_rows + 1)), labels


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


def value_rows(model, ids, id_column, values):
    """The CSV text of a regression's predictions: the id, then one column per target (named
    after it) holding the predicted value in the target's units, written in full."""
    values = np.asarray(values, dtype=np.float64).reshape(len(ids), -1)
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([id_column, *model.classes])
    for sample_id, row in zip(ids, values, strict=True):
        writer.writerow([sample_id, *(repr(float(value)) for value in row)])
    return stream.getvalue()


def predict_input(
    run_dir, input_path, *, top_k=None, which=None, backend=None, device=None, batch_size=None, data_dir=None
):
    """``(csv text, number of samples)`` of the run's predictions for the samples in
    ``input_path``: each class's probability (a regression: the predicted values).

    An input holding NaN or infinity the run cannot fill is refused, naming its row and
    column, before anything is predicted (see :meth:`corenn.trained.load.TrainedModel.transform`):
    no row's prediction depends on another row."""
    from corenn.errors import ConfigError
    from corenn.trained.load import check_batch_size, load

    check_batch_size(batch_size, "--batch-size")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0):
        raise ConfigError(f"--top-k must be a positive integer, got {top_k!r}")
    model = load(run_dir, which=which, backend=backend, device=device, data_dir=data_dir)
    X, id_column, ids, _ = read_inputs(input_path, model)
    source = f"input {input_path}"
    if model.task == "regression":
        if top_k is not None:
            raise ConfigError("--top-k ranks classes; this run is a regression, which predicts values")
        return value_rows(model, ids, id_column, model.predict(X, batch_size, source=source)), len(ids)
    probabilities = model.predict_proba(X, batch_size, source=source)
    return prediction_rows(model, ids, id_column, probabilities, top_k), len(ids)
