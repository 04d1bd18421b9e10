"""The ``arrays`` data set: numpy arrays handed to :func:`corenn.train` in Python (``X=``,
``y=``, and optionally ``X_val=`` / ``y_val=``, ``X_test=`` / ``y_test=``), split and prepared
as the ``npz`` data set's are, without writing a file.

Config (``[dataset]``; ``corenn.train(config, X=..., y=...)`` sets ``name = "arrays"``)::

    task = "auto"           # "classification", "regression" or "auto" (see corenn.data.tasks)
    missing = "error"       # NaN inputs: "error", "mean" or "drop" (see corenn.data.npz_arrays)
    classes = ["a", "b"]    # names of the classes when y holds indices 0..k-1 (default: y's values)
    val_size = 0.1          # without X_val: a fraction or a number of samples (0: none)
    test_size = 0.2         # without X_test: held out for testing (default: none)
    split_seed = 20240601

The arrays live in the process only: :func:`supplied` hands them to the factory while a run is
being built (a context variable, so threads and nested runs keep theirs apart). A recorded
run of arrays predicts from its ``preprocessing.json`` like any other; reading its splits again
(``corenn evaluate RUN`` without ``--input``) needs the arrays and is refused with a word.
"""

import contextlib
import contextvars

import attrs
import numpy as np

from corenn.data.columns import MISSING_POLICIES
from corenn.data.npz_arrays import load_npz_arrays
from corenn.data.tasks import TASK_CHOICES
from corenn.data.user_splits import DEFAULT_VAL_SIZE, SPLIT_OPTION_VALUES, SPLIT_SEED
from corenn.errors import DataError

_SUPPLIED = contextvars.ContextVar("corenn_arrays", default=None)
NAMES = ("X", "y", "X_val", "y_val", "X_test", "y_test")


@attrs.define
class SuppliedArrays:
    """The arrays of one :func:`corenn.train` call, and the splits made of them (``splits``,
    kept for the trained model's preprocessing)."""

    X: object
    y: object
    X_val: object = None
    y_val: object = None
    X_test: object = None
    y_test: object = None
    splits: object = None


@contextlib.contextmanager
def supplied(arrays):
    """Within this block the ``arrays`` data set reads ``arrays`` (a :class:`SuppliedArrays`)."""
    token = _SUPPLIED.set(arrays)
    try:
        yield
    finally:
        _SUPPLIED.reset(token)


def current_splits():
    """The splits the ``arrays`` data set made in the current :func:`supplied` block (or None)."""
    arrays = _SUPPLIED.get()
    return None if arrays is None else arrays.splits


def load_arrays(
    data_dir=None,
    task: str = "auto",
    missing: str = "error",
    classes: list | None = None,
    val_size: float | int = DEFAULT_VAL_SIZE,
    test_size: float | int | None = None,
    split_seed: int = SPLIT_SEED,
):
    """The splits of the arrays given to :func:`corenn.train`. ``data_dir`` is unused."""
    arrays = _SUPPLIED.get()
    if arrays is None:
        raise DataError(
            'data set "arrays" holds numpy arrays given in Python (corenn.train(config, X=..., y=...)); they are not '
            "kept on disk, so this run's splits cannot be read again: evaluate it with --input FILE"
        )
    named = {"X": arrays.X, "y": arrays.y}
    for name in ("X_val", "y_val", "X_test", "y_test"):
        value = getattr(arrays, name)
        if value is not None:
            named[name] = value
    for first, second in (("X_val", "y_val"), ("X_test", "y_test")):
        if (first in named) != (second in named):
            raise DataError(
                f"corenn.train got {first if first in named else second} without {second if first in named else first}; give both or neither"
            )
    if classes is not None:
        if not isinstance(classes, list) or not all(isinstance(name, str) for name in classes):
            raise DataError(f"dataset.classes must be a list of class names (texts), got {classes!r}")
        named["classes"] = np.asarray(classes)
    arrays.splits = load_npz_arrays(
        {name: _as_array(value, name) for name, value in named.items()},
        "the arrays given to corenn.train",
        name="arrays",
        task=task,
        missing=missing,
        val_size=val_size,
        test_size=0 if test_size is None and "X_test" not in named else test_size,  # none drawn unless asked
        split_seed=split_seed,
    )
    return arrays.splits


# What ``corenn describe dataset arrays`` shows beside the signature (see corenn.cli.describe).
load_arrays.option_values = SPLIT_OPTION_VALUES | {
    "test_size": "a fraction in [0, 1) or a number of samples; unset: no test split (X_test, when given, is one)",
    "missing": MISSING_POLICIES,
    "task": TASK_CHOICES,
    "classes": "the class names, when y holds indices 0..k-1",
}


def _as_array(value, name):
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"corenn.train's {name} cannot be read as an array ({exc})") from None
    if array.dtype.hasobject:
        try:  # a list of texts, or of numbers with None
            array = array.astype(str if all(isinstance(v, str) for v in array.ravel().tolist()) else np.float64)
        except (TypeError, ValueError):
            raise DataError(f"corenn.train's {name} holds objects that are neither numbers nor texts") from None
    return array
