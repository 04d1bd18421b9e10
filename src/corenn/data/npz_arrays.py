"""The ``npz`` data set: numpy arrays saved with ``np.savez`` (``X``, ``y``, and optionally
``X_test``, ``y_test`` and ``classes``), read with pickling disabled, so a file cannot run code.

Config (``[dataset]``)::

    name = "npz"
    path = "data.npz"
    val_size = 0.1          # a fraction or a number of samples (0: no validation split)
    test_size = 0.2         # only without X_test / y_test in the file
    split_seed = 20240601   # the fixed seed of the stratified split

``X`` is ``(samples, features)`` for tables (standardised per feature), ``(samples, h, w)`` or
``(samples, h, w, channels)`` for images (NHWC, standardised per channel; a missing channel
axis is added). ``y`` holds class indices or labels (numbers or text); ``classes`` names the
classes when ``y`` holds indices 0..k-1. An array of Python objects (a pickle) is refused
before it is read, with the file and the array named.
"""

import zipfile
from pathlib import Path

import numpy as np

from corenn.data.user_splits import DEFAULT_VAL_SIZE, SPLIT_SEED, class_names_of, encode, make_splits
from corenn.errors import ConfigError, DataError

REQUIRED = ("X", "y")
OPTIONAL = ("X_test", "y_test", "classes")


def read_npz(path, names=None):
    """``{name: array}`` of the arrays of ``path`` (all, or those in ``names`` present), each
    read with ``allow_pickle=False``: an object array is a DataError naming it, never loaded."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f".npz file {path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path} is not a readable .npz file ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path} holds a single array, not an .npz archive of named arrays (save it with np.savez)")
    arrays = {}
    with archive:
        for name in archive.files:
            if names is not None and name not in names:
                continue
            try:
                arrays[name] = archive[name]
            except ValueError as exc:
                if "pickle" in str(exc):
                    raise DataError(
                        f"{path}: array {name!r} holds Python objects (a pickle), which corenn never loads because "
                        "loading one can run code; save numbers or text (np.savez with numeric or str arrays)"
                    ) from None
                raise DataError(f"{path}: array {name!r} cannot be read ({exc})") from None
            except (OSError, zipfile.BadZipFile, EOFError) as exc:
                raise DataError(f"{path}: array {name!r} is damaged ({exc})") from None
    return arrays


def as_samples(X, path, name="X"):
    """``X`` as float-able samples: tables stay 2-d, images become NHWC (a channel axis added to
    ``(m, h, w)``); anything else is an error naming the array and its shape."""
    if X.dtype.kind not in "biuf":
        raise DataError(f"{path}: array {name!r} holds {X.dtype} values; inputs must be numbers")
    if X.ndim == 3:
        X = X[..., np.newaxis]
    if X.ndim not in (2, 4):
        raise DataError(
            f"{path}: array {name!r} has shape {X.shape}; expected (samples, features), (samples, height, width) "
            "or (samples, height, width, channels)"
        )
    return X


def load_npz(data_dir=None, path=None, val_size=DEFAULT_VAL_SIZE, test_size=None, split_seed=SPLIT_SEED):
    """Train / validation / test splits of an ``.npz`` file. ``data_dir`` is unused."""
    if path is None:
        raise ConfigError('dataset "npz" needs path = "data.npz" (arrays X and y, optionally X_test, y_test, classes)')
    arrays = read_npz(path, REQUIRED + OPTIONAL)
    missing = [name for name in REQUIRED if name not in arrays]
    if missing:
        raise DataError(
            f"{path} lacks array(s) {', '.join(missing)}; it needs X (inputs) and y (labels), and may hold "
            "X_test, y_test and classes"
        )
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{path} holds one of X_test and y_test without the other; give both or neither")
    X = as_samples(arrays["X"], path)
    y = _labels(arrays["y"], len(X), path, "y")
    names = _class_names(arrays.get("classes"), y, path)
    y_index = encode(_named(y, names, arrays.get("classes")), names, f"{path} array 'y'")
    test = None
    if "X_test" in arrays:
        X_test = as_samples(arrays["X_test"], path, "X_test")
        if X_test.shape[1:] != X.shape[1:]:
            raise DataError(f"{path}: X_test has samples of shape {X_test.shape[1:]}, X of shape {X.shape[1:]}")
        y_test = _labels(arrays["y_test"], len(X_test), path, "y_test")
        test = (X_test, encode(_named(y_test, names, arrays.get("classes")), names, f"{path} array 'y_test'"))
    is_image = X.ndim == 4
    return make_splits(
        "npz",
        X,
        y_index,
        class_names=names,
        test=test,
        val_size=val_size,
        test_size=test_size,
        split_seed=split_seed,
        standardize="channel" if is_image else "feature",
        inputs={"kind": "array"},
    )


def _labels(y, n_samples, path, name):
    if y.ndim != 1 or len(y) != n_samples:
        raise DataError(f"{path}: array {name!r} has shape {y.shape}; expected ({n_samples},), one label per sample")
    if y.dtype.kind not in "biuU":
        raise DataError(f"{path}: array {name!r} holds {y.dtype} values; labels must be integers or text")
    return y


def _class_names(classes, y, path):
    if classes is None:
        return class_names_of(y.tolist())
    if classes.ndim != 1 or len(set(classes.tolist())) != len(classes):
        raise DataError(f"{path}: array 'classes' must list distinct class names, got shape {classes.shape}")
    if y.dtype.kind not in "iu":
        raise DataError(f"{path}: with an array 'classes', 'y' must hold class indices 0..{len(classes) - 1}")
    if len(y) and (y.min() < 0 or y.max() >= len(classes)):
        raise DataError(
            f"{path}: 'y' holds indices {int(y.min())}..{int(y.max())}, but 'classes' names {len(classes)} classes"
        )
    return tuple(str(name) for name in classes.tolist())


def _named(y, names, classes):
    """Labels as class names: indices looked up in ``classes`` when given, else the values."""
    if classes is None:
        return y.tolist()
    return [names[index] for index in y.tolist()]
