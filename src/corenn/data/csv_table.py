"""The ``csv`` data set: a table of numeric feature columns and one label column, read with
pyarrow's multi-threaded CSV reader (a million rows of 30 numbers in a few seconds; see
``bench/csv_load.py``).

Config (``[dataset]``)::

    name = "csv"
    path = "measurements.csv"     # or train = "train.csv" and test = "test.csv"
    label = "species"             # the label column: a name or a 0-based index (default: the last)
    header = "auto"               # true, false, or "auto": a first line with text where the
                                  # second has numbers is a header
    delimiter = ","
    val_size = 0.1                # a fraction or a number of rows (0: no validation split)
    test_size = 0.2               # only with `path`: rows held out for testing
    split_seed = 20240601         # the fixed seed of the stratified split

Relative paths are relative to the working directory. Labels may be text or numbers; they are
kept as class names (numbers in numeric order, text in alphabetical order). Every other column
must hold numbers: a ragged row, an empty or non-numeric value, a missing label column or a
class found only in the test file is a one-line error naming the file, the line and the column.
Standardisation is per column, fitted on the training split.
"""

from pathlib import Path

import attrs
import numpy as np

from corenn.data.user_splits import DEFAULT_VAL_SIZE, SPLIT_SEED, class_names_of, make_splits
from corenn.errors import ConfigError, DataError

HEADER_MODES = (True, False, "auto")


@attrs.frozen
class Table:
    """A CSV file read: features float64 (rows, columns) and labels as text (a pyarrow array)."""

    path: Path
    X: np.ndarray
    labels: object
    features: tuple
    label: str


def load_csv(
    data_dir=None,
    path=None,
    train=None,
    test=None,
    label=-1,
    header="auto",
    delimiter=",",
    val_size=DEFAULT_VAL_SIZE,
    test_size=None,
    split_seed=SPLIT_SEED,
):
    """Train / validation / test splits of a CSV file (``path``) or of a training and a test
    file (``train``, ``test``). ``data_dir`` is accepted for a uniform signature and unused."""
    if (path is None) == (train is None):
        raise ConfigError(
            'dataset "csv" needs either path = "data.csv" (split into train, validation and test) or '
            'train = "train.csv" (with an optional test = "test.csv")'
        )
    if path is not None and test is not None:
        raise ConfigError(
            'dataset.test goes with dataset.train, not with dataset.path: use train = "..." and test = "..."'
        )
    if header not in HEADER_MODES:
        raise ConfigError(f'dataset.header must be true, false or "auto", got {header!r}')
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise ConfigError(f"dataset.delimiter must be one character, got {delimiter!r}")
    if isinstance(label, bool) or not isinstance(label, (str, int)):
        raise ConfigError(f"dataset.label must be a column name or a 0-based column index, got {label!r}")
    table = read_table(path if path is not None else train, label=label, header=header, delimiter=delimiter)
    class_names = class_names_of(_distinct(table.labels))
    y = encode_labels(table, class_names)
    test_pair = None
    if test is not None:
        test_table = read_table(test, label=label, header=header, delimiter=delimiter, like=table)
        test_pair = (test_table.X, encode_labels(test_table, class_names, test_only=True))
    return make_splits(
        "csv",
        table.X,
        y,
        class_names=class_names,
        test=test_pair,
        val_size=val_size,
        test_size=test_size,
        split_seed=split_seed,
        standardize="feature",
        inputs={"kind": "table", "features": list(table.features), "label": table.label},
    )


def _distinct(labels):
    import pyarrow.compute as pc

    return pc.unique(labels).to_pylist()


def encode_labels(table, class_names, test_only=False):
    """The class index of every row's label; a label that is no class is an error."""
    import pyarrow as pa
    import pyarrow.compute as pc

    indices = pc.index_in(table.labels, value_set=pa.array(class_names, type=pa.string()))
    if indices.null_count:
        unknown = sorted({str(v) for v in pc.filter(table.labels, pc.is_null(indices)).to_pylist()})
        where = "only in the test file" if test_only else "not among the classes"
        raise DataError(
            f"{table.path}: class(es) {', '.join(map(repr, unknown[:5]))} of column {table.label!r} appear {where} "
            f"(training classes: {', '.join(class_names)}); a model can only predict classes it was trained on"
        )
    return indices.to_numpy(zero_copy_only=False).astype(np.int64)


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _first_lines(path, delimiter, count=2):
    """The first ``count`` non-empty lines, split on ``delimiter`` (enough to detect a header)."""
    lines = []
    with open(path, encoding="utf-8", errors="replace", newline="") as stream:
        for line in stream:
            if line.strip():
                lines.append([field.strip().strip('"') for field in line.rstrip("\r\n").split(delimiter)])
            if len(lines) == count:
                break
    return lines


def has_header(path, delimiter=","):
    """A first line is a header when one of its fields is text where the second line has a
    number (a text label column alone says nothing); a lone line is a header if it holds text."""
    lines = _first_lines(path, delimiter)
    if not lines:
        return False
    if len(lines) == 1:
        return not all(_is_number(field) for field in lines[0])
    first, second = lines
    return any(not _is_number(a) and _is_number(b) for a, b in zip(first, second, strict=False))


def _check_file(path, what="CSV file"):
    path = Path(path)
    if not path.exists():
        raise DataError(f"{what} {path} does not exist")
    if not path.is_file():
        raise DataError(f"{what} {path} is not a file")
    return path


def read_table(path, *, label=-1, header="auto", delimiter=",", like=None, require_label=True):
    """A :class:`Table` of ``path``; ``like`` (another Table) requires the same columns.

    Without ``require_label`` (new samples to predict) the label column may be absent: then
    every column is a feature.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    path = _check_file(path)
    with_header = has_header(path, delimiter) if header == "auto" else header
    first = _first_lines(path, delimiter, 1)
    if not first:
        raise DataError(f"{path} is empty: a CSV file needs at least one row of data")
    n_columns = len(first[0])
    names = first[0] if with_header else [f"column_{i + 1}" for i in range(n_columns)]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise DataError(f"{path}: the header names column(s) {', '.join(map(repr, duplicated))} more than once")
    label_name = _label_column(path, names, label, with_header, like, require_label)
    features = [name for name in names if name != label_name]
    if not features:
        raise DataError(f"{path} has no feature column besides the label column {label_name!r}")
    if like is not None:
        features = _same_columns(path, features, like, with_header)
    types = {name: pa.float64() for name in features}
    if label_name is not None:
        types[label_name] = pa.string()
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=None if with_header else names, block_size=1 << 22, use_threads=True
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(_diagnose(path, names, label_name, with_header, delimiter) or f"{path}: {exc}") from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if table.num_rows == 0:
        raise DataError(f"{path} holds a header but no rows of data")
    columns = [table.column(name) for name in features]
    if any(column.null_count for column in columns):
        raise DataError(_diagnose(path, names, label_name, with_header, delimiter) or f"{path} has empty values")
    X = np.empty((table.num_rows, len(features)), order="F")  # filled column by column, chunk by chunk
    for j, column in enumerate(columns):
        start = 0
        for chunk in column.chunks:
            X[start : start + len(chunk), j] = chunk.to_numpy(zero_copy_only=False)
            start += len(chunk)
    if not np.isfinite(X).all():
        raise DataError(_diagnose(path, names, label_name, with_header, delimiter) or f"{path} has non-finite values")
    labels = table.column(label_name).combine_chunks() if label_name is not None else None
    if labels is not None:
        import pyarrow.compute as pc

        if pc.any(pc.equal(pc.utf8_trim_whitespace(labels), "")).as_py():
            raise DataError(_diagnose(path, names, label_name, with_header, delimiter) or f"{path} has empty labels")
    return Table(path, X, labels, tuple(features), label_name)


def _label_column(path, names, label, with_header, like, require_label):
    """The label column's name, or None for a file of features only (new samples)."""
    if like is not None and not require_label:
        if like.label in names and with_header:
            return like.label
        if len(names) == len(like.features) + 1 and not with_header:
            return names[_index(label, len(names), path)]
        return None
    if isinstance(label, str):
        if not with_header:
            raise DataError(
                f"{path} has no header line, so its label column cannot be found by name ({label!r}): "
                "give label as a 0-based column index, or add a header"
            )
        if label not in names:
            raise DataError(f"{path} has no column {label!r} (dataset.label); its columns: {', '.join(names)}")
        return label
    return names[_index(label, len(names), path)]


def _index(label, n_columns, path):
    if not -n_columns <= label < n_columns:
        raise DataError(
            f"{path} has {n_columns} columns, so dataset.label = {label} is out of range "
            f"(0..{n_columns - 1}, or negative from the end)"
        )
    return label % n_columns


def _same_columns(path, features, like, with_header):
    """The feature columns of ``path`` in ``like``'s order: the same names when both files have a
    header, else the same number of columns."""
    if with_header and like.features and not like.features[0].startswith("column_"):
        if set(features) != set(like.features):
            missing = [name for name in like.features if name not in features]
            extra = [name for name in features if name not in like.features]
            raise DataError(
                f"{path} has feature columns {', '.join(features)}, but the model takes {len(like.features)}: "
                f"{', '.join(like.features)}"
                + (f" (missing: {', '.join(missing)})" if missing else "")
                + (f" (unknown: {', '.join(extra)})" if extra else "")
            )
        return list(like.features)
    if len(features) != len(like.features):
        raise DataError(
            f"{path} has {len(features)} feature column(s), but the model takes {len(like.features)} "
            f"({', '.join(like.features)})"
        )
    return features


def _diagnose(path, names, label_name, with_header, delimiter):
    """The first bad line of a file pyarrow refused, in words (file, line, column), or None.

    Only run after a read failed, to say where: it walks the file line by line with Python's
    own ``csv`` module, which is slow but knows every line's number.
    """
    import csv

    expected = len(names)
    with open(path, encoding="utf-8", errors="replace", newline="") as stream:
        reader = csv.reader(stream, delimiter=delimiter)
        for fields in reader:
            line = reader.line_num
            if not fields or (line == 1 and with_header):
                continue
            if len(fields) != expected:
                return (
                    f"{path} line {line} has {len(fields)} field(s), expected {expected} "
                    f"(columns: {', '.join(names)}): every row needs one value per column"
                )
            for name, field in zip(names, fields, strict=True):
                if name == label_name:
                    if not field.strip():
                        return f"{path} line {line}: the label column {name!r} is empty; every row needs a label"
                    continue
                value = field.strip()
                if not value:
                    return f"{path} line {line}, column {name!r}: the value is empty; feature columns must hold numbers"
                if not _is_number(value):
                    return (
                        f"{path} line {line}, column {name!r}: {value[:40]!r} is not a number; feature columns must "
                        f"hold numbers (the label column is {label_name!r})"
                    )
                if not np.isfinite(float(value)):
                    return f"{path} line {line}, column {name!r}: {value!r} is not a finite number"
    return None
