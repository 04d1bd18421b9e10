"""What a run does to a raw sample before its model sees it, kept with the run as
``preprocessing.json``, so a trained run predicts new samples without its training data.

The file holds the class names (the data set's own: text labels of a CSV, folder names of an
image folder), the shape of one raw sample, what a raw sample is (``inputs``: a table's feature
columns and label column, an image's size and colour mode; see
:class:`corenn.data.splits.DatasetSplits`) and the standardisation fitted on the training split
(``x / scale - mean) / std``, per feature or per channel). JSON writes floats exactly (shortest
round-trip form), so the statistics read back are the ones trained with.

Runs recorded before this file existed have none: :func:`run_preprocessing` then refits the
statistics from the run's data set, as corenn used to.
"""

from pathlib import Path

import attrs
import numpy as np

from corenn.data.loader import Standardizer
from corenn.errors import CorruptFileError

PREPROCESSING_FILE = "preprocessing.json"
FORMAT = 1
INPUT_KINDS = ("table", "image", "array")
STANDARDIZE_KEYS = ("scale", "mean", "std")


@attrs.frozen
class Preprocessing:
    """A run's classes, raw input description and standardisation; for a regression
    (``task``), its target columns (``class_names``) and their standardisation."""

    dataset: str
    class_names: tuple = attrs.field(converter=tuple)
    input_shape: tuple = attrs.field(converter=tuple)
    inputs: dict
    standardizer: Standardizer
    task: str = "classification"
    target_standardizer: Standardizer | None = None

    @classmethod
    def of(cls, data, dataset):
        """The preprocessing of a :class:`corenn.data.loader.PreparedData` of data set ``dataset``."""
        return cls(
            dataset,
            data.class_names,
            data.input_shape,
            dict(data.inputs),
            data.standardizer,
            getattr(data, "task", "classification"),
            getattr(data, "target_standardizer", None),
        )

    @classmethod
    def of_splits(cls, splits, dataset):
        """The preprocessing :func:`corenn.data.loader.prepare` fits on ``splits`` (the same
        statistics, without preparing the arrays)."""
        from corenn.data.loader import fitted_standardizers

        standardizer, target_standardizer = fitted_standardizers(splits)
        task = getattr(splits, "task", "classification")
        return cls(
            dataset,
            splits.class_names,
            splits.input_shape,
            dict(splits.inputs),
            standardizer,
            task,
            target_standardizer,
        )

    def to_dict(self):
        data = {
            "format": FORMAT,
            "dataset": self.dataset,
            "classes": [str(name) for name in self.class_names],
            "input_shape": [int(n) for n in self.input_shape],
            "inputs": self.inputs,
            "standardize": _standardizer_dict(self.standardizer),
        }
        if self.task == "regression":  # a classification's record stays what it always was
            data["task"] = "regression"
            data["targets"] = _standardizer_dict(self.target_standardizer)
        return data

    @classmethod
    def from_dict(cls, data, origin):
        """The preprocessing a run recorded, checked (:func:`check_preprocessing`): a damaged
        or tampered file is one :class:`CorruptFileError` naming it and the key."""
        try:
            standardize = data["standardize"]
            task = data.get("task", "classification")
            targets = data.get("targets")
            preprocessing = cls(
                dataset=str(data["dataset"]),
                class_names=[str(name) for name in data["classes"]],
                input_shape=[_whole(n, "input_shape") for n in data["input_shape"]],
                inputs=dict(data["inputs"]),
                standardizer=_standardizer(standardize, "standardize"),
                task=task,
                target_standardizer=None if targets is None else _standardizer(targets, "targets"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptFileError(f"{origin} is incomplete or damaged ({type(exc).__name__}: {exc})") from None
        check_preprocessing(preprocessing, origin)
        return preprocessing


def _standardizer_dict(standardizer):
    return {
        "scale": float(standardizer.scale),
        "mean": np.asarray(standardizer.mean, dtype=np.float64).tolist(),
        "std": np.asarray(standardizer.std, dtype=np.float64).tolist(),
    }


def _whole(value, key):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must hold whole numbers, got {value!r}")
    return value


def _standardizer(table, key):
    if not isinstance(table, dict) or set(table) < set(STANDARDIZE_KEYS):
        raise ValueError(f"{key} must be a table of {', '.join(STANDARDIZE_KEYS)}")
    for name in ("mean", "std"):
        values = table[name]
        flat = values if isinstance(values, list) else [values]
        while flat and isinstance(flat[0], list):
            flat = [item for inner in flat for item in (inner if isinstance(inner, list) else [inner])]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in flat):
            raise ValueError(f"{key}.{name} must hold numbers")
    scale = table["scale"]
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise ValueError(f"{key}.scale must be a number, got {scale!r}")
    return Standardizer(
        np.asarray(table["mean"], dtype=np.float64), np.asarray(table["std"], dtype=np.float64), float(scale)
    )


def check_preprocessing(preprocessing, origin):
    """What a run's predictions rest on, checked before any is made: the classes (distinct
    names), the sample shape (positive sizes), what a raw sample is (a known ``kind``, a table's
    columns adding up to the sample's inputs, an image's size and channels) and the
    standardisations (finite statistics of a shape that fits the sample, positive spreads), so
    a tampered or damaged ``preprocessing.json`` is refused rather than giving NaN or
    predictions of another model. Raises :class:`CorruptFileError` naming ``origin`` and the key."""

    def refuse(message):
        raise CorruptFileError(f"{origin} is damaged or was edited: {message}")

    names, shape = preprocessing.class_names, tuple(preprocessing.input_shape)
    if preprocessing.task not in ("classification", "regression"):
        refuse(f'task is {preprocessing.task!r}; expected "classification" or "regression"')
    if not names or len(set(names)) != len(names):
        refuse(f"classes must name distinct classes (or a regression's targets), got {list(names)[:10]}")
    if not 1 <= len(shape) <= 3 or any(n <= 0 for n in shape):
        refuse(f"input_shape must hold 1 to 3 positive sizes, got {list(shape)}")
    _check_inputs(preprocessing.inputs, shape, refuse)
    _check_standardizer(preprocessing.standardizer, shape, "standardize", refuse)
    if preprocessing.task == "regression":
        if preprocessing.target_standardizer is None:
            refuse("a regression's targets (their mean and std) are missing")
        _check_standardizer(preprocessing.target_standardizer, (len(names),), "targets", refuse, per_column=True)


def _check_inputs(inputs, shape, refuse):
    if not inputs:
        return  # an older run's: nothing recorded about its raw samples
    kind = inputs.get("kind")
    if kind not in INPUT_KINDS:
        refuse(f"inputs.kind is {kind!r}; expected one of {', '.join(INPUT_KINDS)}")
    if kind == "table":
        features = inputs.get("features")
        if not isinstance(features, list) or not features or not all(isinstance(f, str) for f in features):
            refuse("inputs.features must list the table's feature columns")
        if len(set(features)) != len(features):
            refuse("inputs.features names a column twice")
        if "columns" not in inputs and [len(features)] != list(shape):
            refuse(f"inputs.features lists {len(features)} columns, but input_shape is {list(shape)}")
    if kind == "image":
        size = inputs.get("size")
        if not (isinstance(size, list) and len(size) == 2 and all(isinstance(n, int) and n > 0 for n in size)):
            refuse(f"inputs.size must be [height, width], got {size!r}")
        if len(shape) != 3 or list(shape[:2]) != size:
            refuse(f"inputs.size {size} does not match input_shape {list(shape)}")
        if inputs.get("grayscale") and shape[2] != 1:
            refuse(f"input_shape {list(shape)} has {shape[2]} channels, but inputs.grayscale says the images are grey")
    if "columns" in inputs:
        from corenn.data.columns import TableEncoding

        try:
            encoding = TableEncoding.from_dict(inputs, "inputs")
        except CorruptFileError as exc:
            refuse(str(exc))
        if [encoding.width] != list(shape):
            refuse(f"inputs.columns make {encoding.width} inputs, but input_shape is {list(shape)}")
        if kind == "table" and encoding.names != inputs["features"]:
            refuse("inputs.columns and inputs.features name different columns")


def _check_standardizer(standardizer, shape, key, refuse, per_column=False):
    mean, std, scale = np.asarray(standardizer.mean), np.asarray(standardizer.std), standardizer.scale
    if not (np.isfinite(scale) and scale > 0):
        refuse(f"{key}.scale must be a positive finite number, got {scale!r}")
    fitting = {tuple(shape)} if per_column else {(), tuple(shape), tuple(shape[-1:])}
    for name, values in (("mean", mean), ("std", std)):
        if values.shape not in fitting:
            refuse(
                f"{key}.{name} has shape {list(values.shape)}, which does not fit samples of shape {list(shape)} "
                f"(allowed: {' or '.join(str(list(s)) for s in sorted(fitting, key=len))})"
            )
        if not np.isfinite(values).all():
            refuse(f"{key}.{name} holds NaN or infinity")
    if mean.shape != std.shape:
        refuse(f"{key}.mean and {key}.std have different shapes ({list(mean.shape)} and {list(std.shape)})")
    if not (std > 0).all():
        refuse(f"{key}.std holds zero or negative values (a standard deviation is positive)")


def write_preprocessing(run_dir, preprocessing):
    from corenn.files import write_json

    write_json(Path(run_dir) / PREPROCESSING_FILE, preprocessing.to_dict())


def read_preprocessing(run_dir):
    """The run's recorded :class:`Preprocessing`, or None for a run recorded without one."""
    path = Path(run_dir) / PREPROCESSING_FILE
    if not path.is_file():
        return None
    from corenn.files import read_json_record

    try:  # a regular file of bounded size (corenn.files)
        data = read_json_record(path, what="preprocessing record")
    except OSError as exc:
        raise CorruptFileError(f"{path} cannot be read ({exc})") from None
    if not isinstance(data, dict):
        raise CorruptFileError(f"{path} does not hold a JSON object")
    return Preprocessing.from_dict(data, path)


def run_preprocessing(run_dir, config, data_dir=None):
    """The run's :class:`Preprocessing`: its ``preprocessing.json``, or for an older run without
    one, refitted from its data set's training split (which must then be at hand)."""
    recorded = read_preprocessing(run_dir)
    if recorded is not None:
        return recorded
    from corenn.data.loader import prepare
    from corenn.errors import CorennError
    from corenn.plugins import create

    try:
        splits = create("dataset", config.dataset.name, **config.dataset.options, data_dir=data_dir)
    except CorennError as exc:
        raise type(exc)(
            f"{run_dir} has no {PREPROCESSING_FILE} (recorded by an older corenn), so its standardisation is refitted "
            f"from its data set {config.dataset.name!r}, which failed: {exc}"
        ) from exc
    return Preprocessing.of(prepare(splits, config.dtype), config.dataset.name)
