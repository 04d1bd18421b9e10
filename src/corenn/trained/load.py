"""A trained run as a model to ask: :func:`load` (exported as ``corenn.load``) reads a run
directory into a :class:`TrainedModel` with ``predict``, ``predict_proba``, ``evaluate`` and
``classes``, which applies the run's own preprocessing (``preprocessing.json``: the training
split's standardisation, a table's encoded columns, the image size and colour mode) to raw
inputs.

    import corenn
    model = corenn.load("experiments/wine")
    model.classes                  # ('class_0', 'class_1', 'class_2')
    model.predict(X)               # class names, one per row of X
    model.predict_proba(X)         # (rows, classes) probabilities
    model.evaluate(X, y)           # {'accuracy': ..., 'loss': ..., 'samples': ...}

A regression run's ``predict`` gives values in the targets' units (``(rows,)`` for one target,
``(rows, targets)`` for several), and its ``evaluate`` the mean squared error, the mean absolute
error and R^2; it has no ``predict_proba``.

``X`` holds raw samples as the data set gave them (table rows, or NHWC pixel values 0..255 for
images); one sample alone is taken as a batch of one. A table whose text columns were one-hot
encoded takes its raw rows (a 2-d array of objects, or ``{column: values}``). What is recorded
is checked as it is read (the preprocessing's shapes and statistics, the parameters' values),
and inputs holding NaN or infinity the run cannot fill are refused, naming the row and column:
a damaged run or a bad row never turns into NaN predictions.
"""

import os
import re
from pathlib import Path

import numpy as np

from corenn.errors import ConfigError, CorennError, CorruptFileError, DataError, ShapeError
from corenn.records.folder import parameters_file, tested_parameters


def check_run_dir(run_dir):
    from corenn.records.folder import CONFIG_FILE

    if not isinstance(run_dir, str | os.PathLike):
        raise CorennError(f"run_dir must be the path of a run directory (a str or a Path), got {run_dir!r}")
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file():
        raise CorennError(
            f"{run_dir} is not a corenn run directory (it has no {CONFIG_FILE}); pass a directory that corenn train created"
        )
    return run_dir


def load(run_dir, *, which=None, backend=None, device=None, data_dir=None):
    """The model trained in ``run_dir`` with its preprocessing, ready to predict.

    ``which`` chooses the parameters: ``"last"`` (``parameters.npz``, those of the last epoch),
    ``"best"`` (``best.npz``, those of the epoch with the best validation metric), or ``None``:
    those the run's own test used (``best`` where it restored them, ``restore_best``).
    ``backend`` rebuilds it on another backend than it trained on (a torch run on numpy, where
    torch is not installed; see :func:`config_on`), ``device`` moves a torch run (``cpu``,
    ``cuda``...). ``data_dir`` is only read for a run recorded before corenn kept
    ``preprocessing.json``, whose statistics are refitted from its data set.
    """
    from corenn.records.folder import CONFIG_FILE
    from corenn.records.preprocessing import run_preprocessing
    from corenn.run.config import config_on, load_config

    run_dir = check_run_dir(run_dir)
    which = tested_parameters(run_dir) if which is None else which
    path = parameters_file(run_dir, which)
    config = config_on(load_config(run_dir / CONFIG_FILE), backend=backend, device=device)
    preprocessing = run_preprocessing(run_dir, config, data_dir)
    return TrainedModel.build(config, preprocessing, path, run_dir=run_dir, which=which)


def check_finite_parameters(model, origin):
    """Refuse parameters holding NaN or infinity (a damaged or edited file): they would make
    every prediction NaN."""
    from corenn.files import as_numpy

    for name, value in model.parameter_arrays().items():
        array = np.asarray(as_numpy(value))
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            raise CorruptFileError(
                f"{origin}: parameter {name} holds {int((~np.isfinite(array)).sum())} NaN or infinite value(s); "
                "the file is damaged (or the run diverged): train again, or use --which best"
            )


def check_batch_size(batch_size, name="batch_size"):
    """``batch_size`` as an int, or None (the default): a positive integer, a numpy one too. A
    bool, a fraction or a number below 1 is refused (a negative one gave no batches at all, so
    no predictions and no error)."""
    from corenn.run.config import is_positive_integer

    if batch_size is None:
        return None
    if not is_positive_integer(batch_size):
        raise ConfigError(f"{name} must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def softmax_rows(outputs):
    """Each row's softmax: every row a distribution over the classes, computed from that row
    alone (so one bad row changes no other)."""
    shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class TrainedModel:
    """A trained run's model and preprocessing (see :func:`load`)."""

    def __init__(self, run_dir, config, preprocessing, model, arrays, which, parameters_path=None):
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.parameters_path = parameters_path  # the file the parameters came from
        self.config = config
        self.preprocessing = preprocessing
        self.model = model
        self.arrays = arrays
        self.which = which

    @classmethod
    def build(cls, config, preprocessing, parameters, *, run_dir=None, which="last"):
        """The model of ``config`` with ``parameters`` (a file, or ``{name: array}``), checked."""
        from corenn.nn.model import Sequential
        from corenn.plugins import get_backend
        from corenn.run.build import compute_dtype

        arrays = get_backend(config.backend).on(config.device)
        model = Sequential.from_config(
            config.layers, n_classes=len(preprocessing.class_names), backend=config.backend, seed=config.seed
        )
        if config.mixed_precision:  # predict as the run evaluated: products in bfloat16
            model.set_compute_dtype(compute_dtype(config))
        model.initialize(preprocessing.input_shape, config.dtype, to_device=arrays.to_device)
        model.load_parameters(parameters)
        check_finite_parameters(model, parameters if not isinstance(parameters, dict) else "the parameters")
        model.eval()
        path = None if isinstance(parameters, dict) else parameters
        return cls(run_dir, config, preprocessing, model, arrays, which, path)

    def __getstate__(self):
        """What a pickle of the model holds: its config, preprocessing and parameters as plain
        data and arrays (the model and its backend are rebuilt from them when unpickled)."""
        from corenn.files import as_numpy

        return {
            "run_dir": self.run_dir,
            "config": self.config.to_dict(),
            "preprocessing": self.preprocessing.to_dict(),
            "parameters": {name: np.asarray(as_numpy(value)) for name, value in self.model.parameter_arrays().items()},
            "which": self.which,
            "parameters_path": self.parameters_path,
        }

    def __setstate__(self, state):
        from corenn.records.preprocessing import Preprocessing
        from corenn.run.config import config_from_dict

        rebuilt = TrainedModel.build(
            config_from_dict(state["config"]),
            Preprocessing.from_dict(state["preprocessing"], "the pickled model's preprocessing"),
            state["parameters"],
            run_dir=state["run_dir"],
            which=state["which"],
        )
        self.__dict__.update(rebuilt.__dict__)
        self.parameters_path = state["parameters_path"]

    @property
    def task(self):
        """``"classification"`` or ``"regression"``."""
        return self.preprocessing.task

    @property
    def classes(self):
        """The class names, in the order of ``predict_proba``'s columns (a regression: the
        names of its target columns)."""
        return self.preprocessing.class_names

    @property
    def input_shape(self):
        """The shape of one raw sample (a table with encoded columns: of its encoded inputs)."""
        return self.preprocessing.input_shape

    @property
    def encoding(self):
        """How a table's raw columns become inputs (:class:`corenn.data.columns.TableEncoding`),
        or None for a run whose inputs are its raw samples."""
        from corenn.data.columns import TableEncoding

        inputs = self.preprocessing.inputs
        return TableEncoding.from_dict(inputs, "preprocessing.json") if "columns" in inputs else None

    @property
    def _name(self):
        return f"the model of {self.run_dir}" if self.run_dir is not None else "the model"

    def describe_input(self):
        """One sample as the run takes it, in words (for error messages)."""
        inputs, shape = self.preprocessing.inputs, self.input_shape
        if inputs.get("kind") == "table":
            features = inputs["features"]
            return (
                f"rows of {len(features)} features ({', '.join(features[:30])}{', ...' if len(features) > 30 else ''})"
            )
        if inputs.get("kind") == "image" or len(shape) == 3:
            colour = "grey" if shape[-1] == 1 else f"{shape[-1]}-channel"
            return f"{colour} images of {shape[0]}x{shape[1]} pixels (height x width), as arrays of shape (n, {shape[0]}, {shape[1]}, {shape[2]})"
        return f"samples of shape {shape}"

    def _encoded(self, X, source):
        """A table's raw rows (2-d, one column per raw column; or ``{column: values}``, a
        DataFrame too) as the network's inputs, through the run's encoding."""
        from corenn.data.columns import columns_of_rows, typed_column

        encoding = self.encoding
        if _is_mapping(X):
            absent = [name for name in encoding.names if name not in X]
            if absent:
                raise ShapeError(
                    f"{source} lacks column(s) {', '.join(absent)}; {self._name} takes {self.describe_input()}"
                )
            single = [name for name in encoding.names if np.ndim(X[name]) == 0]
            if len(single) == len(encoding.names):  # {column: value}: one row
                X = {name: [X[name]] for name in encoding.names}
            elif single:
                raise ShapeError(
                    f"{source} column {single[0]!r} is a single value but other columns hold lists: give every "
                    "column as a list of values (or every column as one value, for one row)"
                )
            columns = {column.name: typed_column(X[column.name], column, source) for column in encoding.columns}
            if len({len(values) for values in columns.values()}) > 1:
                raise ShapeError(f"{source} has columns of different lengths")
        else:
            X = self._as_array(X, source)
            if X.ndim == 1 and len(X) in (0, len(encoding.names)):
                X = X.reshape(-1, len(encoding.names))  # one row alone, or no rows ([])
            if X.ndim != 2 or X.shape[1] != len(encoding.names):
                raise ShapeError(
                    f"{source} has samples of shape {X.shape[1:]}, but {self._name} takes {self.describe_input()}"
                )
            columns = columns_of_rows(X, encoding, source)
        return encoding.encode(columns, source=source, warn_unknown=True)[0]

    def _batch(self, X, source="X"):
        if _is_mapping(X) or self.encoding is not None:
            if self.encoding is None:
                raise ShapeError(f"{source} is a table of columns, but {self._name} takes {self.describe_input()}")
            return self._encoded(X, source)
        X = self._as_array(X, source)
        if X.dtype.kind not in "biuf":
            raise ShapeError(f"{source} holds {X.dtype} values; the model takes numbers")
        shape = tuple(self.input_shape)
        if X.ndim == 0:
            raise ShapeError(f"{source} is a single number; {self._name} takes {self.describe_input()}")
        if X.shape == shape:
            X = X[np.newaxis]
        if X.shape == (0,):
            X = X.reshape((0, *shape))  # no samples ([])
        if len(shape) == 3 and X.ndim == 3 and shape[-1] == 1 and X.shape[1:] == shape[:2]:
            X = X[..., np.newaxis]  # grey images given without their channel axis
        if X.shape[1:] != shape:
            raise ShapeError(
                f"{source} has samples of shape {X.shape[1:]}, but {self._name} takes {self.describe_input()}"
            )
        return X

    def _as_array(self, X, source):
        """``X`` as a numpy array (a torch tensor, on any device, even one that requires grad,
        copied to the host); rows of different lengths are refused (not a numpy error)."""
        from corenn.files import as_numpy

        try:
            return as_numpy(X)
        except ValueError:
            raise ShapeError(
                f"{source} holds samples of different shapes (rows of different lengths); "
                f"{self._name} takes {self.describe_input()}"
            ) from None

    def _first_non_finite(self, values, source):
        """``(row, column, where, rows)`` of the first NaN or infinity of ``values`` (samples
        flattened), ``where`` the column in words and ``rows`` how many rows hold one; None when
        every value is finite."""
        if not len(values):
            return None
        flat = values.reshape(len(values), -1)
        bad = ~np.isfinite(flat)
        if not bad.any():
            return None
        rows = np.flatnonzero(bad.any(axis=1))
        row, column = int(rows[0]), int(np.flatnonzero(bad[rows[0]])[0])
        inputs = self.preprocessing.inputs
        if inputs.get("kind") == "table" and "columns" not in inputs:
            where = f"column {inputs['features'][column]!r}"
        else:
            where = f"value {column} of the sample" if values.ndim > 2 else f"column {column}"
        return row, column, f"{source} row {row + 1} (index {row}), {where}", len(rows)

    def _check_finite(self, X, source):
        """Refuse NaN and infinity, naming the first row and column: a network's output for them
        is NaN (and an argmax over NaN says class 0)."""
        if X.dtype.kind != "f" or (found := self._first_non_finite(X, source)) is None:
            return
        row, column, where, rows = found
        raise DataError(
            f"{where}: {float(X.reshape(len(X), -1)[row, column])!r} is not a finite number ({rows} "
            "row(s) hold NaN or infinity); the model cannot predict from them: remove or fill those values"
        )

    def transform(self, X, source="X"):
        """Raw samples standardised as in training, in the run's dtype. A finite value can still
        overflow there (1e308 over a standard deviation below 1): it is refused as NaN is."""
        X = self._batch(X, source)
        self._check_finite(X, source)
        with np.errstate(over="ignore", invalid="ignore"):
            standardized = self.preprocessing.standardizer.transform(X, self.config.dtype)
        if (found := self._first_non_finite(standardized, source)) is not None:
            row, column, where, rows = found
            raise DataError(
                f"{where}: {float(X.reshape(len(X), -1)[row, column])!r} is too large for the run's standardisation, "
                f"which makes it infinite ({rows} row(s) hold such values); the model cannot predict from them: "
                "remove or correct those values"
            )
        return standardized

    def outputs(self, X, batch_size=None, source="X"):
        """The network's outputs for the samples of ``X`` (float64 numpy), computed
        ``batch_size`` samples at a time (by default 1,024, fewer where a wide network's outputs
        would not fit in memory)."""
        from corenn.data.loader import averaged_outputs
        from corenn.files import as_numpy
        from corenn.run.resources import evaluation_batch_size

        batch_size = check_batch_size(batch_size)
        X = self.transform(X, source)
        if batch_size is None:
            batch_size = evaluation_batch_size(self.model, self.arrays)
        outputs = []
        with self.arrays.no_grad():
            for start in range(0, len(X), batch_size):
                batch = self.arrays.to_device(X[start : start + batch_size])
                Y_hat = averaged_outputs(self.model.forward, batch, self.arrays, self.config.dataset.test_augment)
                outputs.append(np.asarray(as_numpy(Y_hat), dtype=np.float64))
        return np.concatenate(outputs) if outputs else np.zeros((0, len(self.classes)))

    def predict_proba(self, X, batch_size=None, source="X"):
        """Each class's probability for every sample of ``X``: ``(samples, classes)``. A network
        whose last layer gives probabilities (a softmax) gives them as they are; one that gives
        other values (a linear output trained with ``l2``) gets a softmax over each row."""
        from corenn.run.config import output_is_probability

        if self.task == "regression":
            raise CorennError(f"{self._name} is a regression: it predicts values (predict), not class probabilities")
        outputs = self.outputs(X, batch_size, source)
        return outputs if output_is_probability(self.config.layers) else softmax_rows(outputs)

    def predict(self, X, batch_size=None, source="X"):
        """The predicted class name of every sample of ``X`` (a regression: the predicted values
        in the targets' units, ``(samples,)`` for one target, ``(samples, targets)`` for several)."""
        if self.task == "regression":
            values = self.preprocessing.target_standardizer.inverse(self.outputs(X, batch_size, source))
            return values[:, 0] if values.shape[1] == 1 else values
        return np.asarray(self.classes)[self.predict_proba(X, batch_size, source).argmax(axis=1)]

    @property
    def integer_class_names(self):
        """Whether every class name is an integer literal (``'1'``, ``'-2'``): the run was trained
        on integer labels, so integers given as labels are its class names, not indices."""
        return all(re.fullmatch(r"[+-]?[0-9]+", name) for name in self.classes)

    def class_indices(self, y, source="y"):
        """``y`` as class indices. Text is a class name. Integers are class names where every
        class name is an integer (the run was trained on integer labels: ``'1', '2', '3'``), else
        class indices 0..n-1 (names such as ``'setosa'``)."""
        from corenn.data.user_splits import encode

        try:
            y = np.asarray(y)
        except ValueError:
            raise ShapeError(f"{source} holds labels of different shapes; give one label per sample") from None
        if y.ndim != 1:
            raise ShapeError(f"{source} has shape {y.shape}; give one label per sample")
        if y.dtype.kind in "iu" and self.integer_class_names:
            index_of = {int(name): index for index, name in enumerate(self.classes)}
            unknown = sorted({int(label) for label in y.tolist()} - index_of.keys())
            if unknown:
                raise ShapeError(
                    f"{source} holds label {unknown[0]}, which is not a class of the run (its classes: "
                    f"{', '.join(self.classes)}); integer labels are read as its class names, which are integers"
                )
            return np.asarray([index_of[int(label)] for label in y.tolist()], dtype=np.int64)
        if y.dtype.kind in "iu":
            if len(y) and (y.min() < 0 or y.max() >= len(self.classes)):
                raise ShapeError(
                    f"{source} holds class indices {int(y.min())}..{int(y.max())}; the run has {len(self.classes)} classes"
                )
            return y.astype(np.int64)
        try:
            return encode(y.tolist(), self.classes, source)
        except CorennError as exc:
            raise ShapeError(str(exc)) from None

    def targets(self, y, n_samples, source="y"):
        """A regression's ``y`` as float targets ``(samples, targets)``, checked."""
        try:
            y = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            raise ShapeError(
                f"{source} holds values that are not numbers; a regression's targets are numbers"
            ) from None
        if y.ndim == 0:
            y = y.reshape(1, 1)
        elif not len(y):  # no samples: a width of -1 cannot be inferred from nothing
            y = y.reshape(0, len(self.classes))
        else:
            y = y.reshape(len(y), -1)
        if y.shape != (n_samples, len(self.classes)):
            raise ShapeError(
                f"{source} has shape {y.shape}; expected {n_samples} samples of {len(self.classes)} target(s) "
                f"({', '.join(self.classes)})"
            )
        if not np.isfinite(y).all():
            raise DataError(
                f"{source} holds NaN or infinite targets (first: row {int(np.flatnonzero(~np.isfinite(y).all(axis=1))[0]) + 1})"
            )
        return y

    def evaluate(self, X, y, batch_size=None):
        """Accuracy and mean cross-entropy of the predictions for ``X`` against labels ``y``; a
        regression's mean squared error, mean absolute error and R^2 against its targets ``y``.
        No samples score None (``{'accuracy': None, 'loss': None, 'samples': 0}``).

        Labels are class names; integers are class names too where every class name of the run
        is an integer (it was trained on integer labels, such as 1, 2, 3), and class indices
        0..n-1 otherwise (names such as ``'setosa'``); any other integer is refused."""
        if self.task == "regression":
            from corenn.data.tasks import scores_of

            predicted = self.predict(X, batch_size)
            truth = self.targets(y, len(predicted))
            if not len(truth):
                return {"mse": None, "mae": None, "r2": None, "samples": 0}
            return scores_of(predicted, truth) | {"samples": len(truth)}
        labels = self.class_indices(y)
        probabilities = self.predict_proba(X, batch_size)
        if len(labels) != len(probabilities):
            raise ShapeError(f"X has {len(probabilities)} samples but y has {len(labels)} labels")
        if not len(labels):
            return {"accuracy": None, "loss": None, "samples": 0}
        picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1.0)
        return {
            "accuracy": float((probabilities.argmax(axis=1) == labels).mean()),
            "loss": float(-np.log(picked).mean()) + 0.0,  # + 0.0: every label certain gives 0.0, not -0.0
            "samples": len(labels),
        }

    def __repr__(self):
        where = None if self.run_dir is None else str(self.run_dir)
        return f"TrainedModel({where!r}, classes={list(self.classes)!r}, which={self.which!r})"


def _is_mapping(X):
    """Columns by name: a dict, or a table such as a pandas DataFrame."""
    return isinstance(X, dict) or (hasattr(X, "columns") and hasattr(X, "iloc"))
