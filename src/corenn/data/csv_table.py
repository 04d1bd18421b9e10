"""The ``csv`` data set: a table of feature columns (numbers or text) and one label column,
read with pyarrow's multi-threaded CSV reader (a million rows of 30 numbers in a few seconds;
see ``bench/csv_load.py``).

Config (``[dataset]``)::

    name = "csv"
    path = "measurements.csv"     # or train = "train.csv" and test = "test.csv"
    label = "species"             # the label column: a name or a 0-based index (default: the last)
    task = "auto"                 # "classification", "regression" or "auto" (see corenn.data.tasks)
    features = ["a", "b"]         # the feature columns (names or 0-based indices; default: all others)
    drop = ["id"]                 # or: every other column but these
    missing = "error"             # missing values: "error", "mean" or "drop" (see corenn.data.columns)
    header = "auto"               # true, false, or "auto": a first line with text where the
                                  # second has numbers is a header, and so is a line of text
                                  # none of whose values recur in their column (see _has_header)
    delimiter = ","
    val_size = 0.1                # a fraction or a number of rows (0: no validation split)
    test_size = 0.2               # only with `path`: rows held out for testing
    split_seed = 20240601         # the fixed seed of the split (stratified for classification)

Relative paths are relative to the working directory. For classification the labels may be
text or numbers; they are kept as class names (numbers in numeric order, text in alphabetical
order). For regression the label column holds the numbers to predict. A feature column of
numbers is one input; a column of text is one-hot encoded (its categories fitted on the
training split, see :mod:`corenn.data.columns`). A ragged row, a text cell in a column of
numbers, a missing value the ``missing`` policy does not accept, a quoted value running over
several lines (a stray quote), a line longer than :data:`MAX_LINE_CHARACTERS`, a missing label
column or a class found only in the test file is a one-line error naming the file, the line and
the column. A file may start with a byte-order mark (Excel's UTF-8 export); header names are
stripped of surrounding spaces and may be quoted. A file that is not UTF-8 is refused naming the
line of its first such byte, and one that is not text (a zip archive such as an Excel workbook,
a compressed file, UTF-16, binary bytes) by what it starts like. Labels are stripped of
surrounding spaces; an empty one or one of :data:`MISSING_TEXTS` is missing.
"""

import codecs
import collections
import csv
import itertools
from pathlib import Path

import attrs
import numpy as np

from corenn.data.columns import (
    MISSING_POLICIES,
    MISSING_TEXTS,
    TableEncoding,
    check_missing,
    huge_value_notes,
)
from corenn.data.tasks import TASK_CHOICES, check_task
from corenn.data.user_splits import (
    DEFAULT_VAL_SIZE,
    SPLIT_OPTION_DEFAULTS,
    SPLIT_OPTION_VALUES,
    SPLIT_SEED,
    check_classes,
    class_names_of,
    make_splits,
    split_indices,
)
from corenn.errors import ConfigError, DataError

HEADER_MODES = (True, False, "auto")
MAX_LINE_CHARACTERS = 1 << 22  # 4 Mi characters: longer lines are refused, memory stays bounded
BLOCK_BYTES = 1 << 24  # pyarrow's block: any line within the limit fits one (4 bytes a character at most)
MANY_NUMERIC_CLASSES = 20  # a classification with more classes, all numbers, is said to be one
HEADER_HINT = "if its first line is the header, set dataset.header = true"
HEADER_LOOKAHEAD_ROWS = 1000  # rows searched for a first line's values (is a line of text a header?)
SNIFFED_BYTES = 4096  # the start of a file, looked at for the signature of a binary or UTF-16 file
# The first bytes of files people save as .csv by mistake, and what to do instead.
FILE_SIGNATURES = (
    (b"PK\x03\x04", "it starts like a zip archive, as an Excel workbook does: save it as CSV"),
    (b"PK\x05\x06", "it starts like a zip archive, as an Excel workbook does: save it as CSV"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "it starts like an old Excel workbook (.xls): save it as CSV"),
    (b"\x1f\x8b", "it starts like a gzip-compressed file: decompress it first, e.g. with gunzip"),
    *(
        (b"BZh%d1AY&SY" % level, "it starts like a bzip2-compressed file: decompress it first, e.g. with bunzip2")
        for level in range(1, 10)
    ),
    (b"\xfd7zXZ\x00", "it starts like an xz-compressed file: decompress it first, e.g. with unxz"),
    (b"\x28\xb5\x2f\xfd", "it starts like a zstd-compressed file: decompress it first, e.g. with unzstd"),
    (b"7z\xbc\xaf\x27\x1c", "it starts like a 7-Zip archive: extract the CSV file from it"),
    (b"%PDF-", "it starts like a PDF document"),
    (b"\x89PNG", "it starts like a PNG image"),
    (b"\xff\xd8\xff", "it starts like a JPEG image"),
    (b"\xff\xfe\x00\x00", "it starts with a UTF-32 byte-order mark: save it as UTF-8"),
    (b"\x00\x00\xfe\xff", "it starts with a UTF-32 byte-order mark: save it as UTF-8"),
    (b"\xff\xfe", "it is UTF-16 text, by its byte-order mark: save it as UTF-8"),
    (b"\xfe\xff", "it is UTF-16 text, by its byte-order mark: save it as UTF-8"),
)


@attrs.frozen
class Table:
    """A CSV file read: its feature ``columns`` (``{name: array}``: float64 with NaN for a
    missing number, or objects, stripped text with None for a missing one), their ``kinds``
    (``"number"`` or ``"category"``) and the labels as text (a pyarrow array, or None for a
    file of features only)."""

    path: Path
    columns: dict
    kinds: dict
    labels: object
    features: tuple
    label: str | None
    with_header: bool = True
    delimiter: str = ","
    header_guessed: bool = False  # header = "auto" found no header (numbers as names look like data)

    @property
    def num_rows(self):
        if self.columns:
            return len(next(iter(self.columns.values())))
        return 0 if self.labels is None else len(self.labels)

    @property
    def X(self):
        """The features as one float64 array (a table of number columns only)."""
        if any(kind != "number" for kind in self.kinds.values()):
            raise DataError(f"{self.path} has text columns; encode them (corenn.data.columns) to get numbers")
        X = np.empty((self.num_rows, len(self.features)), order="F")  # filled column by column
        for index, name in enumerate(self.features):
            X[:, index] = self.columns[name]
        return X

    def take(self, rows):
        """The table of the rows ``rows`` (a boolean mask or an index array)."""
        columns = {name: values[rows] for name, values in self.columns.items()}
        labels = None
        if self.labels is not None:
            import pyarrow as pa

            index = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows)
            labels = self.labels.take(pa.array(index, type=pa.int64()))
        return attrs.evolve(self, columns=columns, labels=labels)

    def line_of(self, row):
        """Where data row ``row`` (from 0) is, in words: ``"FILE line N"``."""
        return f"line {_line_of_row(self.path, row, self.with_header, self.delimiter)}"


def load_csv(
    data_dir=None,
    path: str | None = None,
    train: str | None = None,
    test: str | None = None,
    label: str | int = -1,
    header: bool | str = "auto",
    delimiter: str = ",",
    features: list | None = None,
    drop: list | None = None,
    missing: str = "error",
    task: str = "auto",
    val_size: float | int = DEFAULT_VAL_SIZE,
    test_size: float | int | None = None,
    split_seed: int = SPLIT_SEED,
):
    """Train / validation / test splits of a CSV file (``path``) or of a training and a test
    file (``train``, ``test``). ``data_dir`` is accepted for a uniform signature and unused.
    ``task = "auto"`` reads a classification (a run's config says which task it is: see
    :func:`corenn.run.config.task_of`)."""
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
    if not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '\r\n"':
        raise ConfigError(f"dataset.delimiter must be one character (not a quote or a line break), got {delimiter!r}")
    if isinstance(label, bool) or not isinstance(label, (str, int)):
        raise ConfigError(f"dataset.label must be a column name or a 0-based column index, got {label!r}")
    check_missing(missing)
    task = "classification" if check_task(task) == "auto" else task
    selection = _selection(features, drop)
    table = read_table(
        path if path is not None else train, label=label, header=header, delimiter=delimiter, **selection
    )
    first_line_notes = _first_line_class_notes(table, task)
    table, notes = _without_missing_rows(table, missing)
    notes += first_line_notes + huge_value_notes(table.columns, str(table.path))
    class_names, y = _targets(table, task)
    notes += _class_notes(table, class_names, task)
    test_table = None
    if test is not None:
        test_table = read_table(test, label=label, header=header, delimiter=delimiter, like=table)
        test_table, test_notes = _without_missing_rows(test_table, missing)
        notes += test_notes
    check_classes(class_names, f"{table.path} (column {table.label!r})", task)
    strata = np.zeros(len(y), dtype=np.int64) if task == "regression" else y
    indices = split_indices(
        strata, has_test=test is not None, val_size=val_size, test_size=test_size, split_seed=split_seed
    )
    encoding = TableEncoding.fit(table.columns, table.kinds, missing, rows=indices[0])
    X, _ = encoding.encode(table.columns, source=str(table.path), line_of=table.line_of)
    test_pair = None
    if test_table is not None:
        X_test, test_notes = encoding.encode(
            test_table.columns, source=str(test_table.path), line_of=test_table.line_of
        )
        notes += test_notes
        _, y_test = _targets(test_table, task, class_names=class_names, test_only=True)
        test_pair = (X_test, y_test)
    notes += _encoding_notes(encoding)
    inputs = {"kind": "table", "features": list(table.features), "label": table.label}
    if not encoding.is_plain:  # a plain table's record stays what it always was
        inputs |= encoding.to_dict()
    return make_splits(
        "csv",
        X,
        y,
        class_names=class_names,
        test=test_pair,
        val_size=val_size,
        test_size=test_size,
        split_seed=split_seed,
        standardize="feature",
        inputs=inputs,
        task=task,
        notes=notes,
        indices=indices,
    )


# What ``corenn describe dataset csv`` shows beside the signature (see corenn.cli.describe).
load_csv.option_values = SPLIT_OPTION_VALUES | {
    "path": "a CSV file, split into train, validation and test (or give train)",
    "train": "a CSV file to train on (instead of path), with an optional test file",
    "test": "a CSV file of the same columns, the test split (only with train)",
    "label": "the label column: a name, or a 0-based index (-1: the last column)",
    "header": HEADER_MODES,
    "delimiter": "one character",
    "features": "the feature columns: names or 0-based indices (unset: every column but the label)",
    "drop": "columns left out: names or 0-based indices (instead of features)",
    "missing": MISSING_POLICIES,
    "task": TASK_CHOICES,
}
load_csv.option_defaults = SPLIT_OPTION_DEFAULTS


def _selection(features, drop):
    """``features`` / ``drop`` checked: lists of column names or 0-based indices, not both."""
    for key, value in (("features", features), ("drop", drop)):
        if value is None:
            continue
        if not isinstance(value, list) or not value or not all(_is_column_key(item) for item in value):
            raise ConfigError(
                f"dataset.{key} must be a non-empty list of column names or 0-based column indices, got {value!r}"
            )
    if features is not None and drop is not None:
        raise ConfigError("dataset.features and dataset.drop are two ways to choose columns: give one of them")
    return {"features": features, "drop": drop}


def _is_column_key(item):
    return isinstance(item, str) or (isinstance(item, int) and not isinstance(item, bool))


def _without_missing_rows(table, missing):
    """The table less rows with a missing label (always) or feature (``missing = "drop"``), and
    the line saying so; a missing label is otherwise an error naming its line."""
    if table.labels is None:
        return table, []
    no_label = missing_labels(table.labels)
    dropped = no_label.copy()
    if missing == "drop":
        for values in table.columns.values():
            dropped |= _missing(values)
    elif no_label.any():
        row = int(np.flatnonzero(no_label)[0])
        value = table.labels[row].as_py()
        what = "is empty" if value == "" else f"holds {value!r}, a missing value"
        raise DataError(
            f"{table.path} {table.line_of(row)}: the label column {table.label!r} {what}; every row needs a "
            'label (or set [dataset] missing = "drop" to leave such rows out)'
        )
    if not dropped.any():
        return table, []
    kept = table.take(~dropped)
    if kept.num_rows == 0:
        raise DataError(f'{table.path}: every row has a missing value, so missing = "drop" leaves no row')
    return kept, [
        f'{table.path}: left out {int(dropped.sum())} of {len(dropped)} rows with missing values (missing = "drop")'
    ]


def missing_labels(labels):
    """Which of ``labels`` (stripped texts, a pyarrow array) are missing: empty, or one of the
    texts missing in a feature column (:data:`MISSING_TEXTS`: ``NA``, ``nan``...)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    missing = pc.is_in(labels, value_set=pa.array(sorted(MISSING_TEXTS)))
    return np.asarray(missing.to_numpy(zero_copy_only=False), dtype=bool)


def _missing(values):
    if values.dtype == object:
        return np.asarray([value is None for value in values.tolist()], dtype=bool)
    return np.isnan(values)


def _targets(table, task, *, class_names=None, test_only=False):
    """``(class names, y)``: for classification the classes and every row's class index; for
    regression the target column's name and its values, float64 ``(rows, 1)``."""
    if task == "regression":
        return (table.label,), _numeric_labels(table)
    if class_names is None:
        class_names = class_names_of(_distinct(table.labels))
    return class_names, encode_labels(table, class_names, test_only=test_only)


def _numeric_labels(table):
    import pyarrow as pa
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim_whitespace(table.labels)
    try:
        values = pc.cast(trimmed, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        values = None
    if values is None or not np.isfinite(values).all():
        for row, text in enumerate(trimmed.to_pylist()):
            if not (_is_number(text) and np.isfinite(float(text))):
                raise DataError(
                    f"{table.path} {table.line_of(row)}, label column {table.label!r}: {text[:40]!r} is not a finite "
                    'number; a regression (task = "regression") predicts numbers'
                )
    return values.reshape(-1, 1)


def _class_notes(table, class_names, task):
    """A classification whose classes are many numbers may be a regression: said as a warning (on
    stderr, even with --quiet), with how to choose."""
    if task != "classification" or len(class_names) <= MANY_NUMERIC_CLASSES:
        return []
    if not all(_is_number(name) for name in class_names):
        return []
    return [
        f"warning: {table.path}: label column {table.label!r} holds {len(class_names)} distinct numbers, each taken "
        "as a class; "
        'if they are values to predict, set [dataset] task = "regression" (with loss = "l2" and a linear last layer)'
    ]


def _first_line_class_notes(table, task):
    """A first line read as data (``header = "auto"``) whose label is a class of that row alone
    may be a header of numbers (``2000,2001,...,target``): said as a warning, with the fix."""
    if task != "classification" or not table.header_guessed or table.labels is None or table.num_rows < 2:
        return []
    import pyarrow.compute as pc

    first = table.labels[0].as_py()
    if first in MISSING_TEXTS or pc.sum(pc.equal(table.labels, first)).as_py() > 1:
        return []
    return [
        f'warning: {table.path} line 1 was read as data (header = "auto" found no header), so its label {first!r} '
        f"is a class of that one row; {HEADER_HINT}"
    ]


def _encoding_notes(encoding):
    notes = []
    encoded = [column for column in encoding.columns if column.kind == "category"]
    if encoded:
        listed = ", ".join(f"{column.name!r} ({len(column.categories)})" for column in encoded)
        notes.append(f"text column(s) one-hot encoded, categories from the training split: {listed}")
    filled = [column.name for column in encoding.columns if column.fill is not None]
    if filled:
        notes.append(
            f'missing numbers are filled with the training split\'s mean (missing = "mean"): {len(filled)} column(s)'
        )
    return notes


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
    except (TypeError, ValueError):
        return False
    return True


def _bounded_lines(stream, path):
    """The lines of ``stream``, each read with at most :data:`MAX_LINE_CHARACTERS` characters
    held: a longer line is a DataError naming its number, never a line read whole into memory."""
    number = 0
    while True:
        line = stream.readline(MAX_LINE_CHARACTERS + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARACTERS:
            raise DataError(
                f"{path} line {number} is longer than {MAX_LINE_CHARACTERS:,} characters; a CSV line may hold at most "
                "that many (is this a CSV file?)"
            )
        yield line


def _records(path, delimiter):
    """``(first line number, fields)`` of every non-empty record of ``path``, parsed by Python's
    ``csv`` module from bounded lines (utf-8, a byte-order mark dropped; a byte that is not
    UTF-8 is an error naming its line)."""
    with open(path, encoding="utf-8-sig", newline="") as stream:
        reader = csv.reader(_bounded_lines(stream, path), delimiter=delimiter)
        last = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise not_utf8_error(path) from None
            except csv.Error as exc:
                raise DataError(
                    f"{path} line {last + 1}: a quoted value that starts there is still open "
                    f"{_plural(reader.line_num - last, 'line')} later ({exc}); is a quote missing or stray?"
                ) from None
            start, last = last + 1, reader.line_num
            if fields:
                yield start, fields


def _plural(count, word):
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _first_records(path, delimiter, count=2):
    """The first ``count`` non-empty records, their fields stripped (enough to detect a header)."""
    return list(itertools.islice(_stripped_records(path, delimiter), count))


def _stripped_records(path, delimiter):
    for _, fields in _records(path, delimiter):
        yield [field.strip() for field in fields]


def has_header(path, delimiter=","):
    """Whether the first line of ``path`` is a header (see :func:`_has_header`)."""
    return _has_header(_first_records(path, delimiter), path=path, delimiter=delimiter)


def _has_header(records, *, path=None, delimiter=","):
    """A first line is a header when one of its fields is text where the second line has a
    number (a text label column alone says nothing), or when all its fields are text and none
    of them occurs again in its column among the next :data:`HEADER_LOOKAHEAD_ROWS` rows (a
    table of text columns: a data row's categories recur, a header's names do not); a lone line
    is a header if it holds text. Header names that are all numbers cannot be told from data:
    ``header = true`` says so."""
    if not records:
        return False
    if len(records) == 1:
        return not all(_is_number(field) for field in records[0])
    first, second = records[:2]
    if _text_over_number(first, second):
        return True
    if any(_is_number(field) for field in first):
        return False
    rows = itertools.islice(_stripped_records(path, delimiter), 1, HEADER_LOOKAHEAD_ROWS + 1) if path else records[1:]
    return not any(a == b for fields in rows for a, b in zip(first, fields, strict=False))


def _text_over_number(first, second):
    return any(not _is_number(a) and _is_number(b) for a, b in zip(first, second, strict=False))


def _has_header_like(records, like):
    """Whether the first line of a file read for a trained table (``like``: its feature names
    and label) is a header: it is when it names one of those columns (in any order, among others)
    or holds text where the second line has a number; else, for a table of text columns only, it
    is a row of data (new categories are no header); else :func:`_has_header` says."""
    known = set(like.features) | ({like.label} if like.label else set())
    if known & set(_header_names(records[0])):
        return True
    if len(records) > 1 and _text_over_number(records[0], records[1]):
        return True
    if like.kinds and all(kind == "category" for kind in like.kinds.values()):
        return False
    return _has_header(records[:2])


def _check_file(path, what="CSV file"):
    path = Path(path)
    if not path.exists():
        raise DataError(f"{what} {path} does not exist")
    if not path.is_file():
        raise DataError(f"{what} {path} is not a file")
    check_text_file(path)
    return path


def check_text_file(path):
    """Refuse, in one line and before any parsing, a file whose first bytes say it is no CSV
    text: a zip archive (an Excel workbook), a compressed file, UTF-16 text, binary bytes.
    Its bytes are never quoted: they could drive the terminal."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(SNIFFED_BYTES)
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}") from None
    reason = next((reason for signature, reason in FILE_SIGNATURES if head.startswith(signature)), None)
    if reason is None and b"\x00" in head:
        even, odd = head[0::2], head[1::2]
        if head.count(b"\x00") * 3 >= len(head) and (even.count(0) == 0 or odd.count(0) == 0):
            reason = "it holds a NUL byte beside every character, as UTF-16 text does: save it as UTF-8"
        else:
            reason = "it holds NUL bytes, as binary files do"
    if reason is not None:
        raise DataError(f"{path} is not a text CSV file ({reason})")


def not_utf8_error(path):
    """The DataError for a file that is not UTF-8 (a Latin-1 or Windows-1252 export), naming
    the line of its first such byte (one pass over the file's bytes, only once it failed)."""
    where = _first_non_utf8(path)
    if where is None:
        return DataError(f"{path} is not UTF-8 text: save it as UTF-8 (in Excel: CSV UTF-8)")
    line, byte = where
    return DataError(
        f"{path} line {line} is not UTF-8 text (it holds the byte 0x{byte:02X}, as a Latin-1 or Windows-1252 "
        "file does): save the file as UTF-8 (in Excel: CSV UTF-8)"
    )


def _first_non_utf8(path):
    """``(line, byte)`` of the first byte of ``path`` that is not UTF-8, or None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    line = 1
    try:
        with open(path, "rb") as stream:
            while chunk := stream.read(1 << 20):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:  # exc.object: the bytes held back (no line break) and chunk
                    return line + exc.object[: exc.start].count(b"\n"), exc.object[exc.start]
                line += chunk.count(b"\n")
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:  # a multi-byte character cut short at the end
        return line, exc.object[exc.start]
    except OSError:
        return None
    return None


def _header_names(fields):
    """The header's column names, stripped; an empty one is named by its position."""
    return [field or f"column_{index + 1}" for index, field in enumerate(fields)]


def read_table(
    path,
    *,
    label=-1,
    header="auto",
    delimiter=",",
    features=None,
    drop=None,
    like=None,
    require_label=True,
):
    """A :class:`Table` of ``path``; ``like`` (another Table, or a trained run's) requires the
    same feature columns, read as the same kinds.

    Without ``require_label`` (new samples to predict) the label column may be absent: then
    every column is a feature (a file with a header may hold other columns too; they are left
    alone).
    """
    path = _check_file(path)
    records = _first_records(path, delimiter)
    if not records:
        raise DataError(f"{path} is empty: a CSV file needs at least one row of data")
    if header != "auto":
        with_header = header
    elif like is not None:
        with_header = _has_header_like(records, like)
    else:
        with_header = _has_header(records, path=path, delimiter=delimiter)
    guessed = header == "auto" and not with_header
    n_columns = len(records[0])
    if n_columns == 1:
        _check_delimiter(path, records[0][0], delimiter)
    names = _header_names(records[0]) if with_header else [f"column_{i + 1}" for i in range(n_columns)]
    if any("\n" in name or "\r" in name for name in names):
        raise DataError(f"{path} line 1: a quoted column name runs over several lines (a stray quote?)")
    counts = collections.Counter(names)
    duplicated = sorted(name for name, count in counts.items() if count > 1)
    if duplicated:
        raise DataError(f"{path}: the header names column(s) {', '.join(map(repr, duplicated[:10]))} more than once")
    label_name = _label_column(path, names, label, with_header, like, require_label, guessed)
    if like is None:
        chosen = _chosen_columns(path, names, label_name, features, drop, header_hint(with_header, guessed))
        columns, kinds, labels = _read(path, names, chosen, label_name, None, with_header, delimiter)
        return Table(path, columns, kinds, labels, tuple(chosen), label_name, with_header, delimiter, guessed)
    chosen = _same_columns(path, names, label_name, like, with_header)  # in the model's order
    model_names = dict(zip(chosen, like.features, strict=True))
    kinds = {name: like.kinds[model_names[name]] for name in chosen}
    columns, _, labels = _read(path, names, chosen, label_name, kinds, with_header, delimiter)
    columns = {model_names[name]: values for name, values in columns.items()}
    return Table(
        path, columns, dict(like.kinds), labels, tuple(like.features), label_name, with_header, delimiter, guessed
    )


def header_hint(with_header, guessed):
    """``" (if its first line is the header, set dataset.header = true)"`` where ``header =
    "auto"`` read the first line as data, else ''."""
    return f" ({HEADER_HINT})" if guessed and not with_header else ""


OTHER_DELIMITERS = (";", "\t", "|")


def _check_delimiter(path, first_line, delimiter):
    """A first line read as one column that holds another usual delimiter (a European CSV's
    ';', a TSV's tab): say so, rather than that the file has no feature column."""
    found = next((other for other in OTHER_DELIMITERS if other != delimiter and other in first_line), None)
    if found is not None:
        raise DataError(
            f"{path} line 1 is one column: it holds no {delimiter!r} but {found!r}; if {found!r} separates "
            f"the file's columns, set dataset.delimiter = {found!r}"
        )


def _chosen_columns(path, names, label_name, features, drop, hint=""):
    """The feature columns: ``features`` (names or indices), all but ``drop``, or all but the label;
    ``hint`` ends the error for a column name not found."""

    def resolve(items, key):
        resolved = []
        for item in items:
            if isinstance(item, int):
                if not -len(names) <= item < len(names):
                    raise DataError(f"{path} has {len(names)} columns, so dataset.{key} index {item} is out of range")
                item = names[item % len(names)]
            if item not in names:
                raise DataError(f"{path} has no column {item!r} (dataset.{key}); its columns: {_listed(names)}{hint}")
            if item == label_name:
                raise DataError(f"dataset.{key} names {item!r}, the label column; it cannot be a feature as well")
            resolved.append(item)
        return resolved

    if features is not None:
        chosen = resolve(features, "features")
        if len(set(chosen)) != len(chosen):
            raise DataError(f"dataset.features names a column twice: {chosen}")
    else:
        dropped = set(resolve(drop or [], "drop"))
        chosen = [name for name in names if name != label_name and name not in dropped]
    if not chosen:
        raise DataError(f"{path} has no feature column besides the label column {label_name!r}")
    return chosen


def _listed(names, limit=30):
    """Column names for a message; one holding a control character is quoted with escapes, so
    a message never sends the terminal a raw control sequence."""
    shown = [name if name.isprintable() else repr(name) for name in names[:limit]]
    return ", ".join(shown) + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def _read(path, names, chosen, label_name, kinds, with_header, delimiter):
    """``({name: column}, kinds, labels)`` of the chosen columns read by pyarrow (the labels
    as a pyarrow text array, None without a label column). Without ``kinds``
    (training) each column's kind is found: pyarrow's number types are numbers; a column pyarrow
    reads as text is a category, unless it mostly holds numbers (a stray text in a number column,
    an error naming its line). Labels are stripped of surrounding whitespace."""
    import pyarrow as pa
    import pyarrow.compute as pc

    forced = {}
    if kinds is not None:
        forced = {name: pa.float64() if kinds[name] == "number" else pa.string() for name in chosen}
    while True:
        table = _pyarrow_read(path, names, chosen, label_name, forced, with_header, delimiter, retry=kinds is None)
        if not isinstance(table, _Retry):
            break
        forced[table.column] = pa.float64() if table.column not in forced else pa.string()
    if table.num_rows == 0:
        raise DataError(f"{path} holds a header but no rows of data")
    if any(pa.types.is_binary(kind) or pa.types.is_large_binary(kind) for kind in table.schema.types):
        raise not_utf8_error(path)  # pyarrow reads a column of text that is not UTF-8 as bytes
    columns, found = {}, {}
    for name in chosen:
        column = table.column(name)
        kind = kinds[name] if kinds is not None else _kind(column)
        if kind == "number":
            values = _as_floats(column)
            if np.isinf(values).any():
                raise DataError(
                    _diagnose(path, names, label_name, with_header, delimiter, found | {name: kind})
                    or f"{path} has infinite values"
                )
        else:
            _check_text(path, names, label_name, with_header, delimiter, column, name)
            if kinds is None and _mostly_numbers(column):
                numeric = {n: k for n, k in found.items()} | {name: "number"}
                raise DataError(
                    _diagnose(path, names, label_name, with_header, delimiter, numeric)
                    or f"{path}: column {name!r} mixes numbers and text"
                )
            values = _as_texts(column)
        columns[name], found[name] = values, kind
    labels = None
    if label_name is not None:
        labels = table.column(label_name).combine_chunks()
        _check_text(path, names, label_name, with_header, delimiter, labels, label_name)
        labels = pc.utf8_trim_whitespace(labels)  # ' a' and 'a ' are class 'a', as in a text feature
    return columns, found, labels


@attrs.frozen
class _Retry:
    column: str


def _pyarrow_read(path, names, chosen, label_name, forced, with_header, delimiter, retry=True):
    """The pyarrow table of the chosen columns, or a :class:`_Retry` naming a column whose type
    pyarrow inferred from the first block and a later block contradicted (read it as a wider
    type); any other failure is a DataError saying where, in words."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = dict(forced)
    if label_name is not None:
        types[label_name] = pa.string()
    include = list(chosen) + ([label_name] if label_name is not None else [])
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1 if with_header else 0, block_size=BLOCK_BYTES, use_threads=True
            ),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=include, strings_can_be_null=False, timestamp_parsers=[]
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        if "utf8" in str(exc).lower():
            raise not_utf8_error(path) from None
        column = _contradicted_column(exc, names)
        if retry and column is not None and column in chosen and types.get(column) != pa.string():
            return _Retry(column)
        numeric = {name: "number" for name, kind in types.items() if kind == pa.float64()}
        raise DataError(
            _diagnose(path, names, label_name, with_header, delimiter, numeric) or f"{path}: {_first_line(exc)}"
        ) from None
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None


def _contradicted_column(exc, names):
    """The column of pyarrow's ``In CSV column #3: CSV conversion error to int64: ...``, or None."""
    text = str(exc)
    marker = "In CSV column #"
    if marker not in text or "conversion error" not in text:
        return None
    digits = text[text.index(marker) + len(marker) :].split(":")[0]
    return names[int(digits)] if digits.isdigit() and int(digits) < len(names) else None


def _first_line(exc):
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def _kind(column):
    import pyarrow as pa

    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind) or pa.types.is_null(kind):
        return "number"
    if pa.types.is_decimal(kind):
        return "number"
    return "category"


def _as_floats(column):
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pc.cast(column, pa.float64()) if column.type != pa.float64() else column
    return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64)  # nulls become NaN


def _as_texts(column):
    """Stripped texts, None for a missing one (empty, or one of :data:`MISSING_TEXTS`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    trimmed = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    missing = pc.is_in(trimmed, value_set=pa.array(sorted(MISSING_TEXTS)))
    values = trimmed.to_numpy(zero_copy_only=False).astype(object)
    values[missing.to_numpy(zero_copy_only=False)] = None
    return values


def _mostly_numbers(column):
    """Whether at least half of a text column's distinct values are numbers: a column of
    numbers with a stray text, not a category."""
    import pyarrow as pa
    import pyarrow.compute as pc

    distinct = [v for v in pc.unique(pc.utf8_trim_whitespace(pc.cast(column, pa.string()))).to_pylist()]
    present = [value for value in distinct if value not in MISSING_TEXTS]
    numbers = sum(_is_number(value) for value in present)
    return numbers > 0 and 2 * numbers >= len(present)


def _check_text(path, names, label_name, with_header, delimiter, column, name):
    """A text value holding a line break is a quoted value running over several lines: a stray
    or missing quote has swallowed rows; said with the lines."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(column, pa.string())
    if pc.any(pc.match_substring_regex(text, "[\r\n]")).as_py():
        raise DataError(
            _diagnose(path, names, label_name, with_header, delimiter, {})
            or f"{path}: a value of column {name!r} runs over several lines (a stray quote?)"
        )


def _label_column(path, names, label, with_header, like, require_label, guessed=False):
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
                f"give label as a 0-based column index, or add a header{header_hint(with_header, guessed)}"
            )
        if label not in names:
            raise DataError(f"{path} has no column {label!r} (dataset.label); its columns: {_listed(names)}")
        return label
    return names[_index(label, len(names), path)]


def _index(label, n_columns, path):
    if not -n_columns <= label < n_columns:
        raise DataError(
            f"{path} has {n_columns} columns, so dataset.label = {label} is out of range "
            f"(0..{n_columns - 1}, or negative from the end)"
        )
    return label % n_columns


def _same_columns(path, names, label_name, like, with_header):
    """The feature columns of ``path`` in ``like``'s order: found by name when both files have a
    header (other columns of ``path`` are left alone), else the same number of columns."""
    features = [name for name in names if name != label_name]
    if with_header and like.features and not like.features[0].startswith("column_"):
        missing = [name for name in like.features if name not in features]
        if missing:
            raise DataError(
                f"{path} has feature columns {_listed(features)}, but the model takes {len(like.features)}: "
                f"{_listed(list(like.features))} (missing: {_listed(missing)})"
            )
        return list(like.features)
    if len(features) != len(like.features):
        raise DataError(
            f"{path} has {len(features)} feature column(s), but the model takes {len(like.features)} "
            f"({_listed(list(like.features))})"
        )
    return features


def _line_of_row(path, row, with_header, delimiter):
    """The line number where data row ``row`` (from 0, as pyarrow counts them) starts."""
    seen = -1 if with_header else 0
    for start, _ in _records(path, delimiter):
        if seen == row:
            return start
        seen += 1
    return "?"


def _diagnose(path, names, label_name, with_header, delimiter, kinds):
    """The first bad line of a file, in words (file, line, column), or None.

    Only run after a read failed, to say where: it walks the file record by record with
    Python's own ``csv`` module (lines bounded, see :func:`_records`), which is slow but knows
    every line's number. ``kinds`` names the columns that must hold numbers (``"number"``).
    """
    expected = len(names)
    first = True
    for start, fields in _records(path, delimiter):
        if first and with_header:
            first = False
            continue
        first = False
        if len(fields) != expected:
            return (
                f"{path} line {start} has {len(fields)} field(s), expected {expected} "
                f"(columns: {_listed(names)}): every row needs one value per column"
            )
        for name, field in zip(names, fields, strict=True):
            if "\n" in field or "\r" in field:
                lines = field.count("\n") + 1
                return (
                    f"{path} line {start}, column {name!r}: a quoted value runs over {lines} lines (a stray quote?); "
                    "values may not hold line breaks"
                )
            if name == label_name:
                if not field.strip():
                    return f"{path} line {start}: the label column {name!r} is empty; every row needs a label"
                continue
            if kinds.get(name) != "number":
                continue
            value = field.strip()
            if value in MISSING_TEXTS:
                continue
            if not _is_number(value):
                return (
                    f"{path} line {start}, column {name!r}: {value[:40]!r} is not a number; the column holds numbers "
                    f"elsewhere, so it must hold numbers throughout (the label column is {label_name!r})"
                )
            if not np.isfinite(float(value)):
                return f"{path} line {start}, column {name!r}: {value!r} is not a finite number"
    return None
