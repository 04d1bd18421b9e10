"""The ``npz`` data set: numpy arrays saved with ``np.savez`` (``X``, ``y``, and optionally
``X_test``, ``y_test`` and ``classes``), read with pickling disabled, so a file cannot run code,
and with bounded memory, so a small crafted file (a zip bomb) cannot exhaust it.

Config (``[dataset]``)::

    name = "npz"
    path = "data.npz"
    task = "auto"           # "classification", "regression" or "auto" (see corenn.data.tasks)
    missing = "error"       # NaN inputs: "error", "mean" (2-d tables: the training mean) or "drop"
    val_size = 0.1          # a fraction or a number of samples (0: no validation split)
    test_size = 0.2         # only without X_test / y_test in the file
    split_seed = 20240601   # the fixed seed of the split (stratified for classification)

``X`` is ``(samples, features)`` for tables (standardised per feature), ``(samples, h, w)`` or
``(samples, h, w, channels)`` for images (NHWC, standardised per channel; a missing channel
axis is added). For classification ``y`` holds class indices or labels (numbers or text), and
``classes`` names the classes when ``y`` holds indices 0..k-1; for regression ``y`` holds the
values to predict, ``(samples,)`` or ``(samples, targets)``. An array of Python objects (a
pickle) is refused before it is read, with the file and the array named; so is an array whose
header asks for more memory than the machine has available, or whose member holds more (or
less) data than its header declares.
"""

import math
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from corenn.data.columns import MISSING_POLICIES, TableEncoding, check_missing, huge_value_notes
from corenn.data.tasks import TASK_CHOICES, check_task
from corenn.data.user_splits import (
    DEFAULT_VAL_SIZE,
    SPLIT_OPTION_DEFAULTS,
    SPLIT_OPTION_VALUES,
    SPLIT_SEED,
    check_classes,
    class_names_of,
    encode,
    make_splits,
    split_indices,
)
from corenn.errors import ConfigError, DataError

REQUIRED = ("X", "y")
OPTIONAL = ("X_test", "y_test", "classes")
MEMORY_SHARE = 0.5  # of the available memory, the most an .npz's arrays may take
# What reading a damaged zip or .npy member can raise (a zip member packed with an unknown
# method: NotImplementedError; an encrypted one: RuntimeError); each means "not a whole file".
_DAMAGED = (
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    OSError,
    EOFError,
    KeyError,
    ValueError,
    SyntaxError,
    NotImplementedError,
    RuntimeError,
)
_CHUNK_BYTES = 1 << 22


def memory_budget():
    """The bytes an ``.npz``'s arrays may take: half the memory available (training makes
    copies of them), or None where the machine does not say."""
    from corenn.machine import host_memory_available

    available = host_memory_available()
    return None if available is None else int(available * MEMORY_SHARE)


def read_npz(path, names=None, *, budget=None):
    """``{name: array}`` of the arrays of ``path`` (all, or those in ``names`` present), read
    member by member with bounded memory (see :func:`_read_member`): an object array is a
    DataError naming it (never unpickled), and so are arrays that would take more than
    ``budget`` bytes together (default: :func:`memory_budget`), before any is read."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f".npz file {path} does not exist" if not path.exists() else f"{path} is not a file")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as stream:
            head = stream.read(6)
        if head == b"\x93NUMPY":
            raise DataError(f"{path} holds a single array, not an .npz archive of named arrays (save it with np.savez)")
        raise DataError(f"{path} is not a readable .npz file (not a zip archive)")
    budget = memory_budget() if budget is None else budget
    try:
        with zipfile.ZipFile(path) as archive:
            members = {
                info.filename[: -len(".npy")]: info for info in archive.infolist() if info.filename.endswith(".npy")
            }
            wanted = {name: info for name, info in members.items() if names is None or name in names}
            headers = {name: _header(archive, info, path, name) for name, info in wanted.items()}
            total = sum(nbytes for _, _, _, nbytes, _ in headers.values())
            if budget is not None and total > budget:
                needed, allowed = _size(total), _size(budget)
                if needed == allowed:  # rounded alike: the exact figures say which is larger
                    needed, allowed = f"{total:,} bytes", f"{budget:,} bytes"
                raise DataError(
                    f"{path}: its arrays would take {needed} in memory ({_sizes(headers)}), more than the "
                    f"{allowed} corenn allows on this machine (half the memory available); is the file what "
                    "it should be?"
                )
            return {name: _read_member(archive, wanted[name], path, name, headers[name]) for name in wanted}
    except _DAMAGED as exc:
        raise DataError(f"{path} is not a readable .npz file ({type(exc).__name__}: {exc})") from None


def _size(nbytes):
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} bytes"


def _sizes(headers):
    return ", ".join(f"{name!r} {shape}: {_size(nbytes)}" for name, (shape, _, _, nbytes, _) in headers.items())


def _header(archive, info, path, name):
    """``(shape, fortran order, dtype, data bytes, header bytes)`` of a member's ``.npy``
    header, checked against the member's declared size; an object dtype is refused."""
    with archive.open(info) as stream:
        try:
            version = np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
            else:
                raise ValueError(f"unknown .npy format version {version}")
        except (ValueError, SyntaxError, EOFError) as exc:
            raise DataError(f"{path}: array {name!r} cannot be read ({exc})") from None
        header_bytes = stream.tell()
    if dtype.hasobject:
        raise DataError(
            f"{path}: array {name!r} holds Python objects (a pickle), which corenn never loads because "
            "loading one can run code; save numbers or text (np.savez with numeric or str arrays)"
        )
    nbytes = math.prod(shape) * dtype.itemsize
    if header_bytes + nbytes != info.file_size:
        raise DataError(
            f"{path}: array {name!r} of shape {shape} ({dtype}) needs {nbytes:,} bytes, but its member declares "
            f"{max(info.file_size - header_bytes, 0):,}; the file is damaged or crafted"
        )
    return shape, fortran, dtype, nbytes, header_bytes


def _read_member(archive, info, path, name, header):
    """The array of a member, read into a buffer of the size its header declares, chunk by
    chunk: a member holding more data than that (or less) is refused, so memory never grows
    past the declared arrays, whatever the compressed stream holds."""
    shape, fortran, dtype, nbytes, header_bytes = header
    buffer = np.empty(nbytes, dtype=np.uint8)
    view = memoryview(buffer)
    with archive.open(info) as stream:
        stream.read(header_bytes)
        filled = 0
        while filled < nbytes:
            count = stream.readinto(view[filled : filled + _CHUNK_BYTES])
            if not count:
                raise DataError(f"{path}: array {name!r} is truncated ({_size(filled)} of {_size(nbytes)})")
            filled += count
        if stream.read(1):
            raise DataError(
                f"{path}: array {name!r} holds more data than its header declares; the file is damaged or crafted"
            )
    array = buffer.view(dtype)
    return array.reshape(shape[::-1]).transpose() if fortran else array.reshape(shape)


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


def load_npz(
    data_dir=None,
    path: str | None = None,
    task: str = "auto",
    missing: str = "error",
    val_size: float | int = DEFAULT_VAL_SIZE,
    test_size: float | int | None = None,
    split_seed: int = SPLIT_SEED,
):
    """Train / validation / test splits of an ``.npz`` file. ``data_dir`` is unused;
    ``task = "auto"`` reads a classification (a run's config says which task it is)."""
    if path is None:
        raise ConfigError('dataset "npz" needs path = "data.npz" (arrays X and y, optionally X_test, y_test, classes)')
    check_task(task)
    check_missing(missing)
    arrays = read_npz(path, REQUIRED + OPTIONAL)
    return load_npz_arrays(
        arrays, path, task=task, missing=missing, val_size=val_size, test_size=test_size, split_seed=split_seed
    )


# What ``corenn describe dataset npz`` shows beside the signature (see corenn.cli.describe).
load_npz.option_values = SPLIT_OPTION_VALUES | {
    "path": "an .npz file of arrays X and y (optionally X_test, y_test, classes)",
    "missing": MISSING_POLICIES,
    "task": TASK_CHOICES,
}
load_npz.option_defaults = SPLIT_OPTION_DEFAULTS


def load_npz_arrays(
    arrays,
    source,
    *,
    name="npz",
    task="classification",
    missing="error",
    val_size=DEFAULT_VAL_SIZE,
    test_size=None,
    split_seed=SPLIT_SEED,
):
    """The splits of ``arrays`` (``X``, ``y``, optionally ``X_val``/``y_val``,
    ``X_test``/``y_test``, ``classes``) read from ``source`` (named in messages): an ``.npz``
    file's, or the arrays given to :func:`corenn.train` (data set ``name``). Given validation
    arrays are the validation split (``val_size`` is then not drawn)."""
    task = "classification" if check_task(task) == "auto" else task
    check_missing(missing)
    missing_arrays = [array for array in REQUIRED if array not in arrays]
    if missing_arrays:
        raise DataError(
            f"{source} lacks array(s) {', '.join(missing_arrays)}; it needs X (inputs) and y (labels), and may hold "
            "X_test, y_test and classes"
        )
    if ("X_test" in arrays) != ("y_test" in arrays):
        raise DataError(f"{source} holds one of X_test and y_test without the other; give both or neither")
    X = as_samples(arrays["X"], source)
    notes = []
    X, y, dropped = _drop_incomplete(X, arrays["y"], missing, source, "X")
    notes += dropped
    names, y_index = _targets(y, len(X), source, "y", task, arrays.get("classes"))
    if X.ndim == 2:
        notes += huge_value_notes({f"X[:, {index}]": X[:, index] for index in range(X.shape[1])}, str(source))
    extra = {}
    for split in ("val", "test"):
        if f"X_{split}" not in arrays:
            continue
        X_other = as_samples(arrays[f"X_{split}"], source, f"X_{split}")
        if X_other.shape[1:] != X.shape[1:]:
            raise DataError(f"{source}: X_{split} has samples of shape {X_other.shape[1:]}, X of shape {X.shape[1:]}")
        X_other, y_other, dropped = _drop_incomplete(X_other, arrays[f"y_{split}"], missing, source, f"X_{split}")
        notes += dropped
        extra[split] = (
            X_other,
            _targets(y_other, len(X_other), source, f"y_{split}", task, arrays.get("classes"), names)[1],
        )
    check_classes(names, f"{source} (array 'y')", task)
    is_image = X.ndim == 4
    strata = np.zeros(len(y_index), dtype=np.int64) if task == "regression" else y_index
    indices = split_indices(
        strata,
        has_test="test" in extra,
        val_size=0 if "val" in extra else val_size,
        test_size=test_size,
        split_seed=split_seed,
    )
    inputs, rows = {"kind": "array"}, X
    if missing == "mean" and not is_image:
        encoding = _table_encoding(X, indices[0])
        inputs |= encoding.to_dict()
        rows = _encoded_rows(encoding, X, source)
        extra = {
            split: (_encoded_rows(encoding, X_other, source, f"X_{split}")(slice(None)), y_other)
            for split, (X_other, y_other) in extra.items()
        }
        notes.append(
            f'{source}: NaN inputs are filled with the training split\'s mean of their feature (missing = "mean")'
        )
    else:
        _refuse_nan(X, source, "X", missing)
        for split, (X_other, _) in extra.items():
            _refuse_nan(X_other, source, f"X_{split}", missing)
    return make_splits(
        name,
        rows,
        y_index,
        class_names=names,
        test=extra.get("test"),
        val=extra.get("val"),
        val_size=val_size,
        test_size=test_size,
        split_seed=split_seed,
        standardize="channel" if is_image else "feature",
        inputs=inputs,
        task=task,
        notes=notes,
        indices=indices,
    )


def _table_encoding(X, train_rows):
    columns = {str(index): X[:, index].astype(np.float64) for index in range(X.shape[1])}
    return TableEncoding.fit(columns, dict.fromkeys(columns, "number"), "mean", rows=train_rows)


def _encoded_rows(encoding, X, path, name="X"):
    """A function giving the encoded inputs of an index array of ``X`` (NaN filled)."""

    def rows(index):
        part = X[index]
        columns = {str(column): part[:, column].astype(np.float64) for column in range(part.shape[1])}
        return encoding.encode(columns, source=f"{path} array {name!r}")[0]

    return rows


def _refuse_nan(X, path, name, missing):
    if X.dtype.kind != "f":
        return
    bad = ~np.isfinite(X)
    if not bad.any():
        return
    sample, *position = np.unravel_index(int(np.flatnonzero(bad)[0]), X.shape)
    what = "NaN" if np.isnan(X[(sample, *position)]) else "infinite"
    where = f"feature {position[0]}" if len(position) == 1 else f"position {tuple(int(p) for p in position)}"
    advice = (
        ' (set [dataset] missing = "mean" or "drop" to accept NaN as missing)'
        if what == "NaN" and missing == "error" and X.ndim == 2
        else ""
    )
    raise DataError(
        f"{path}: array {name!r} holds {int(bad.sum())} NaN or infinite value(s) (first: sample {sample}, {where}, "
        f"{what}){advice}"
    )


def _drop_incomplete(X, y, missing, path, name):
    """``(X, y, notes)``: without the samples holding NaN under ``missing = "drop"``."""
    if missing != "drop" or X.dtype.kind != "f":
        return X, y, []
    incomplete = np.isnan(X.reshape(len(X), -1)).any(axis=1)
    if not incomplete.any():
        return X, y, []
    if len(y) != len(X):
        return X, y, []  # _targets names the mismatch
    if incomplete.all():
        raise DataError(f'{path}: every sample of array {name!r} holds NaN, so missing = "drop" leaves none')
    note = f'{path}: left out {int(incomplete.sum())} of {len(X)} samples of {name!r} holding NaN (missing = "drop")'
    return X[~incomplete], y[~incomplete], [note]


def _targets(y, n_samples, path, name, task, classes, names=None):
    """``(class names, y)``: a classification's class names and indices, or a regression's
    target names and float targets ``(samples, targets)``."""
    if task == "regression":
        if y.ndim not in (1, 2) or len(y) != n_samples:
            raise DataError(
                f"{path}: array {name!r} has shape {y.shape}; expected ({n_samples},) or ({n_samples}, targets), "
                "the values to predict for each sample"
            )
        if y.dtype.kind not in "biuf":
            raise DataError(f"{path}: array {name!r} holds {y.dtype} values; a regression predicts numbers")
        targets = y.astype(np.float64).reshape(n_samples, -1)
        if not np.isfinite(targets).all():
            row = int(np.flatnonzero(~np.isfinite(targets).all(axis=1))[0])
            raise DataError(f"{path}: array {name!r} holds NaN or infinite targets (first: sample {row})")
        own = ("y",) if targets.shape[1] == 1 else tuple(f"y_{index}" for index in range(targets.shape[1]))
        if names is not None and len(names) != len(own):
            raise DataError(f"{path}: array {name!r} has {len(own)} target column(s), 'y' has {len(names)}")
        return own, targets
    y = _labels(y, n_samples, path, name)
    if names is None:
        names = _class_names(classes, y, path)
    return names, encode(_named(y, names, classes), names, f"{path} array {name!r}")


def _labels(y, n_samples, path, name):
    if y.ndim != 1 or len(y) != n_samples:
        raise DataError(f"{path}: array {name!r} has shape {y.shape}; expected ({n_samples},), one label per sample")
    if y.dtype.kind not in "biuU":
        hint = ' (values to predict? set [dataset] task = "regression")' if y.dtype.kind == "f" else ""
        raise DataError(f"{path}: array {name!r} holds {y.dtype} values; labels must be integers or text{hint}")
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
