"""A table's columns as the network's inputs: numbers as they are, text one-hot encoded, missing
values by a stated policy. Fitted on the training split, kept in the run's
``preprocessing.json`` (``inputs.columns``) and applied again to every row a trained run is
asked about, so ``corenn predict``, ``corenn evaluate`` and ``corenn.load`` encode new rows
exactly as the training rows were.

- A **number column** is one input. A missing value (an empty cell, ``NA``, ``nan``...) is an
  error under ``missing = "error"`` (the default), replaced by the column's mean over the
  training split under ``missing = "mean"``, and its row left out under ``missing = "drop"``
  (in training; a row to predict must then be whole).
- A **text column** (category) is one input per category seen in the training split, 1 for the
  row's category and 0 for the others (one-hot). A category the training split did not hold
  (met in validation, test or new rows) is encoded as none of them (all zeros) and said; a
  missing value likewise under ``missing = "mean"``.

Columns are given as ``{name: array}``: float64 arrays (NaN: missing) for number columns,
object arrays of stripped strings (``None``: missing) for text columns; see
:func:`corenn.data.csv_table.read_table`.
"""

import contextlib
import warnings

import attrs
import numpy as np

from corenn.errors import ConfigError, CorruptFileError, DataError

MISSING_POLICIES = ("error", "mean", "drop")
KINDS = ("number", "category")
# What pyarrow reads as a missing number; the same texts are missing in a text feature column
# and in a label column.
MISSING_TEXTS = frozenset(
    ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN")
    + ("N/A", "NA", "NULL", "NaN", "n/a", "nan", "null")
)
MAX_CATEGORIES = 1000  # a text column with more distinct values is an identifier, not a category


class InputWarning(UserWarning):
    """Samples to predict that the run will read, but likely not as meant (said on stderr)."""


class UnknownCategoryWarning(InputWarning):
    """Rows to predict hold text a column's training split never held: encoded as no category."""


@contextlib.contextmanager
def unknown_categories_said(say):
    """Within this block, each :class:`InputWarning` (such as an :class:`UnknownCategoryWarning`)
    goes to ``say(message)`` (the command line's stderr) once, instead of Python's warning
    display; other warnings pass."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        if issubclass(warning.category, InputWarning):
            say(str(warning.message))
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def check_missing(missing, key="dataset.missing"):
    if missing not in MISSING_POLICIES:
        raise ConfigError(
            f'{key} must be "error" (a missing value is an error), "mean" (replaced by the training '
            f'split\'s mean; a missing text is no category) or "drop" (its row is left out), got {missing!r}'
        )
    return missing


@attrs.frozen
class ColumnEncoding:
    """One raw column: its ``kind``, the value replacing a missing number (``fill``, under
    ``missing = "mean"``) and a text column's ``categories``, in the order of its inputs."""

    name: str
    kind: str = attrs.field(validator=attrs.validators.in_(KINDS))
    fill: float | None = None
    categories: tuple = attrs.field(default=(), converter=tuple)

    @property
    def width(self):
        return len(self.categories) if self.kind == "category" else 1

    @property
    def input_names(self):
        return [f"{self.name}={category}" for category in self.categories] if self.kind == "category" else [self.name]

    def to_dict(self):
        if self.kind == "category":
            return {"name": self.name, "kind": "category", "categories": list(self.categories)}
        return {"name": self.name, "kind": "number", "fill": self.fill}


def _where(row, line_of):
    return line_of(row) if line_of is not None else f"row {row + 1}"


@attrs.frozen
class TableEncoding:
    """How a table's raw columns become the network's inputs (see the module's docstring)."""

    columns: tuple = attrs.field(converter=tuple)
    missing: str = "error"
    # Read back from a trained run's records (to predict): its missing policy can no longer change.
    recorded: bool = attrs.field(default=False, eq=False)

    @classmethod
    def fit(cls, columns, kinds, missing="error", rows=None, source="the training split"):
        """The encoding of ``columns`` (``{name: array}``) fitted on ``rows`` (an index array;
        all rows when None): the categories of text columns, the means that fill numbers."""
        check_missing(missing)
        fitted = []
        for name, values in columns.items():
            if kinds[name] == "number" and missing != "mean":
                fitted.append(ColumnEncoding(name, "number"))  # nothing to fit: no copy of the rows
                continue
            values = values if rows is None else values[rows]
            if kinds[name] == "category":
                present = [value for value in values.tolist() if value is not None]
                categories = sorted(set(present))
                if len(categories) > MAX_CATEGORIES:
                    raise DataError(
                        f"text column {name!r} holds {len(categories):,} distinct values in {source}, more than "
                        f"{MAX_CATEGORIES:,}: one-hot encoding would add an input for each; leave it out "
                        f"(dataset.drop = [{name!r}]) or turn it into numbers"
                    )
                fitted.append(ColumnEncoding(name, "category", categories=categories))
                continue
            fill = None
            if missing == "mean":
                known = values[~np.isnan(values)]
                if not len(known):
                    raise DataError(
                        f'column {name!r} holds no value in {source}, so missing = "mean" has no mean to '
                        f"fill it with; leave it out (dataset.drop = [{name!r}])"
                    )
                fill = float(np.mean(known))
            fitted.append(ColumnEncoding(name, "number", fill=fill))
        return cls(tuple(fitted), missing)

    @property
    def names(self):
        """The raw columns, in order."""
        return [column.name for column in self.columns]

    @property
    def width(self):
        """The number of inputs the columns become."""
        return sum(column.width for column in self.columns)

    @property
    def input_names(self):
        return [name for column in self.columns for name in column.input_names]

    @property
    def is_plain(self):
        """Numbers only, none filled: the inputs are the columns themselves (what corenn
        recorded before it encoded columns, so such runs' records are unchanged)."""
        return all(column.kind == "number" and column.fill is None for column in self.columns)

    def kinds(self):
        return {column.name: column.kind for column in self.columns}

    def encode(self, columns, *, source="the data", line_of=None, warn_unknown=False):
        """``(X, notes)``: the inputs of ``columns`` (``{name: array}``, every column of this
        encoding) as float64 ``(rows, width)``, and lines worth telling the user (categories
        never seen in training). ``line_of(row)`` names a row in messages (``"data.csv line
        7"``); ``warn_unknown`` also issues each note as an :class:`UnknownCategoryWarning`."""
        n_rows = len(next(iter(columns.values()))) if columns else 0
        X = np.zeros((n_rows, self.width), order="F")  # filled column by column
        notes = []
        position = 0
        for column in self.columns:
            values = columns[column.name]
            if column.kind == "number":
                X[:, position] = self._numbers(column, values, source, line_of)
            else:
                notes += self._one_hot(column, values, X[:, position : position + column.width], source, line_of)
            position += column.width
        if warn_unknown:
            for note in notes:
                warnings.warn(note, UnknownCategoryWarning, stacklevel=3)
        return X, notes

    def _numbers(self, column, values, source, line_of):
        values = np.asarray(values, dtype=np.float64)
        if np.isfinite(values).all():
            return values
        missing = np.isnan(values)
        if missing.any():
            if column.fill is None:
                row = int(np.flatnonzero(missing)[0])
                raise DataError(
                    f"{source} {_where(row, line_of)}, column {column.name!r}: the value is empty or missing "
                    f"({int(missing.sum())} missing in all); {self._missing_advice()}"
                )
            values = np.where(missing, column.fill, values)
        infinite = np.isinf(values)
        if infinite.any():
            row = int(np.flatnonzero(infinite)[0])
            raise DataError(
                f"{source} {_where(row, line_of)}, column {column.name!r}: {values[row]!r} is not a finite number"
            )
        return values

    def _one_hot(self, column, values, out, source, line_of):
        values = np.asarray(values, dtype=object)
        missing = np.asarray([value is None for value in values.tolist()], dtype=bool)
        if missing.any() and self.missing != "mean":
            row = int(np.flatnonzero(missing)[0])
            raise DataError(
                f"{source} {_where(row, line_of)}, column {column.name!r}: the value is empty or missing "
                f"({int(missing.sum())} missing in all); {self._missing_advice()}"
            )
        index = {category: position for position, category in enumerate(column.categories)}
        positions = np.asarray([index.get(value, -1) for value in values.tolist()], dtype=np.int64)
        found = positions >= 0
        out[np.flatnonzero(found), positions[found]] = 1.0
        unknown = ~found & ~missing
        if not unknown.any():
            return []
        shown = sorted({str(value) for value in values[unknown].tolist()})
        listed = ", ".join(repr(value) for value in shown[:5]) + (", ..." if len(shown) > 5 else "")
        return [
            f"{source}: column {column.name!r} holds {int(unknown.sum())} value(s) its training split did not "
            f"({listed}); they are encoded as none of its {len(column.categories)} categories"
        ]

    def _missing_advice(self):
        if self.missing == "drop":
            return 'the run left out rows with missing values in training (missing = "drop"); a row to predict must be whole'
        if self.recorded:
            return (
                'the run was trained with missing = "error", so a row to predict must be whole: fill the value in, '
                'or train a run with [dataset] missing = "mean", which fills it with the training mean'
            )
        return 'set [dataset] missing = "mean" (fill with the training mean) or "drop" (leave the row out) to accept missing values'

    def to_dict(self):
        return {"missing": self.missing, "columns": [column.to_dict() for column in self.columns]}

    @classmethod
    def from_dict(cls, inputs, origin):
        """The encoding recorded in a run's ``inputs`` (``columns`` and ``missing``), checked:
        a damaged or tampered record is a :class:`CorruptFileError` naming ``origin``."""
        columns, missing = inputs.get("columns"), inputs.get("missing", "error")
        if missing not in MISSING_POLICIES:
            raise CorruptFileError(
                f"{origin}: inputs.missing is {missing!r}; expected one of {', '.join(MISSING_POLICIES)}"
            )
        if not isinstance(columns, list) or not columns:
            raise CorruptFileError(f"{origin}: inputs.columns must be a non-empty list of columns")
        encoded = []
        for index, column in enumerate(columns):
            where = f"{origin}: inputs.columns[{index}]"
            if not isinstance(column, dict) or not isinstance(column.get("name"), str):
                raise CorruptFileError(f"{where} must be a table with a name")
            kind = column.get("kind")
            if kind == "category":
                categories = column.get("categories")
                if (
                    not isinstance(categories, list)
                    or not all(isinstance(c, str) for c in categories)
                    or len(set(categories)) != len(categories)
                ):
                    raise CorruptFileError(f"{where}.categories must be a list of distinct texts")
                encoded.append(ColumnEncoding(column["name"], "category", categories=categories))
            elif kind == "number":
                fill = column.get("fill")
                if fill is not None and (
                    isinstance(fill, bool) or not isinstance(fill, (int, float)) or not np.isfinite(fill)
                ):
                    raise CorruptFileError(f"{where}.fill must be a finite number or null, got {fill!r}")
                if missing == "mean" and fill is None:
                    raise CorruptFileError(f'{where}.fill is missing, but inputs.missing is "mean"')
                encoded.append(ColumnEncoding(column["name"], "number", fill=None if fill is None else float(fill)))
            else:
                raise CorruptFileError(f'{where}.kind is {kind!r}; expected "number" or "category"')
        names = [column.name for column in encoded]
        if len(set(names)) != len(names):
            raise CorruptFileError(f"{origin}: inputs.columns names a column twice")
        return cls(tuple(encoded), missing, recorded=True)


HUGE = 1e150  # a square beyond float64's range: such values swamp their column's statistics


def huge_value_notes(columns, source):
    """A line for each number column holding values so large that their squares overflow
    float64 (a typo, or a code such as 1e308 for "missing"): the statistics are still computed
    (in scaled form, see :class:`corenn.data.loader.Standardizer`), but such a value swamps its
    column, which then tells the network little else."""
    notes = []
    for name, values in columns.items():
        if values.dtype.kind != "f" or float(np.finfo(values.dtype).max) <= HUGE:
            continue  # float16 and float32 hold no such value (and comparing made HUGE overflow them)
        if not len(values) or (np.fmax.reduce(values) <= HUGE and np.fmin.reduce(values) >= -HUGE):
            continue  # (fmax and fmin pass over NaN)
        with np.errstate(invalid="ignore"):
            huge = np.abs(values) > HUGE
        if huge.any():
            largest = float(np.nanmax(np.abs(values)))
            notes.append(
                f"warning: {source}: column {name!r} holds {int(huge.sum())} value(s) as large as {largest:.3g}, "
                "which swamp the rest of the column once standardised; is that a typo or a code for a missing value?"
            )
    return notes


def plain_encoding(names):
    """The encoding of a table of number columns with no missing values (and of a run recorded
    before corenn encoded columns)."""
    return TableEncoding(tuple(ColumnEncoding(str(name), "number") for name in names), "error")


def columns_of_rows(X, encoding, source="X"):
    """``{name: array}`` of raw rows ``X`` (2-d, one column per raw column of ``encoding``, in
    its order: numbers, or objects mixing numbers and text) typed for ``encoding``: number
    columns as float64 (None and NaN: missing), text columns as stripped text (None, NaN and
    empty text: missing)."""
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        X = X.astype(object)
    return {column.name: typed_column(X[:, index], column, source) for index, column in enumerate(encoding.columns)}


def typed_column(values, column, source="X"):
    """One raw column's values typed for ``column`` (a :class:`ColumnEncoding`): numbers as
    float64 (None and NaN: missing), texts stripped (None, NaN and empty: missing)."""
    values = np.asarray(values)
    if column.kind == "number":
        return values.astype(np.float64) if values.dtype.kind in "biuf" else _as_numbers(values, column.name, source)
    return np.asarray([_cell(value) for value in values.tolist()], dtype=object)


def _cell(value):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a category written as 3.0 is the text "3" it was read as
    text = str(value).strip()
    return text or None


def _as_numbers(values, name, source):
    """A column given as objects as float64 numbers, NaN for missing; a text that is not a
    number is an error naming the column."""
    numbers = np.empty(len(values))
    for row, value in enumerate(values.tolist()):
        if value is None or (isinstance(value, str) and not value.strip()):
            numbers[row] = np.nan
            continue
        try:
            numbers[row] = float(value)
        except (TypeError, ValueError):
            raise DataError(
                f"{source} row {row + 1}, column {name!r}: {str(value)[:40]!r} is not a number "
                "(the column held numbers in training)"
            ) from None
    return numbers
