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

import json
from pathlib import Path

import attrs
import numpy as np

from corenn.data.loader import Standardizer
from corenn.errors import CorruptFileError

PREPROCESSING_FILE = "preprocessing.json"
FORMAT = 1


@attrs.frozen
class Preprocessing:
    """A run's classes, raw input description and standardisation."""

    dataset: str
    class_names: tuple = attrs.field(converter=tuple)
    input_shape: tuple = attrs.field(converter=tuple)
    inputs: dict
    standardizer: Standardizer

    @classmethod
    def of(cls, data, dataset):
        """The preprocessing of a :class:`corenn.data.loader.PreparedData` of data set ``dataset``."""
        return cls(dataset, data.class_names, data.input_shape, dict(data.inputs), data.standardizer)

    def to_dict(self):
        standardizer = self.standardizer
        return {
            "format": FORMAT,
            "dataset": self.dataset,
            "classes": [str(name) for name in self.class_names],
            "input_shape": [int(n) for n in self.input_shape],
            "inputs": self.inputs,
            "standardize": {
                "scale": float(standardizer.scale),
                "mean": np.asarray(standardizer.mean, dtype=np.float64).tolist(),
                "std": np.asarray(standardizer.std, dtype=np.float64).tolist(),
            },
        }

    @classmethod
    def from_dict(cls, data, origin):
        try:
            standardize = data["standardize"]
            return cls(
                dataset=str(data["dataset"]),
                class_names=[str(name) for name in data["classes"]],
                input_shape=[int(n) for n in data["input_shape"]],
                inputs=dict(data["inputs"]),
                standardizer=Standardizer(
                    np.asarray(standardize["mean"], dtype=np.float64),
                    np.asarray(standardize["std"], dtype=np.float64),
                    float(standardize["scale"]),
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptFileError(f"{origin} is incomplete or damaged ({type(exc).__name__}: {exc})") from None


def write_preprocessing(run_dir, preprocessing):
    from corenn.files import write_json

    write_json(Path(run_dir) / PREPROCESSING_FILE, preprocessing.to_dict())


def read_preprocessing(run_dir):
    """The run's recorded :class:`Preprocessing`, or None for a run recorded without one."""
    path = Path(run_dir) / PREPROCESSING_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
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
