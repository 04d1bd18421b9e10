"""The course's ``Logger``, writing corenn's run records.

With ``save=True`` a run directory ``<save_dir>/<model_name>`` (``-2``, ``-3``... when taken:
nothing is overwritten) holds, each written atomically by :mod:`corenn.records.folder`:

- ``model_args.json``, ``data_args.json``: the arguments it was given (the course pickled them);
- ``metrics.csv``, ``metrics.json``: one row per epoch, corenn's columns (accuracy = 1 - error);
- ``log.json``: the course's own log, ``{"loss": {"train": [...], "validate": [...]}, ...}``;
- ``result.json``: the test loss and accuracy, once pushed;
- with ``plot=True``, ``loss.png`` and ``accuracy.png``, corenn's per-epoch plots.

Each epoch's row is appended to ``metrics.csv`` as it is pushed. The files that hold the whole
history (``log.json``, ``metrics.json``, the plots) cost more the more epochs there are
(rewritten at every push, 3,000 epochs took 57 s; drawing the plots takes 0.15 s against an
Iris epoch's few milliseconds), so they are rewritten at most every ``SUMMARY_INTERVAL_SECONDS``,
and always by a test push, by ``flush()`` (which the model calls at the end of ``train``, however
it ends) and when the process exits.
"""

import atexit
import json
import os
import time
import warnings
import weakref

import numpy as np

from corenn.errors import ConfigError, CorennError
from corenn.files import write_json
from corenn.records.folder import RunRecorder, metric_columns, unique_run_name
from corenn.run.config import check_run_name

SUMMARY_INTERVAL_SECONDS = 5.0


def _as_json(value):
    """``value`` as JSON data: numpy numbers as numbers, numpy arrays as lists, and what JSON
    cannot hold otherwise as its ``repr``."""
    return json.loads(json.dumps(value, default=_json_value))


def _json_value(value):
    """What JSON writes for a value it has no type for."""
    if isinstance(value, np.floating):
        return float(str(value))  # the shortest decimal of its own precision: float32 0.01 is 0.01
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


class Logger:
    """Collects what the model pushes each epoch and, with ``save``, writes it as run records."""

    def __init__(self, model_name, model_args, data_args, save=False, plot=False, save_dir="experiments/"):
        self.model_name = model_name
        self.model_args = model_args
        self.data_args = data_args
        self.save = save
        self.plot = plot
        self.counter = 0
        self.log = {}
        self.history = []
        self.recorder = None
        self.save_dir = None
        self._summarized_at = None  # time.monotonic() of the last summary files; None: none yet
        self._summaries_stale = False
        self._csv_columns = None  # the columns metrics.csv was started with
        if save:
            _check_model_name(model_name)
            run_name = unique_run_name(save_dir, model_name)
            self.recorder = RunRecorder.create(save_dir, run_name, initialize=self._write_arguments)
            self.recorder.close()  # records are written atomically; no process needs to be kept out
            self.save_dir = str(self.recorder.run_dir) + os.sep  # course code appends file names to it
            _flush_at_exit(self)

    def _write_arguments(self, recorder):
        write_json(recorder.path("model_args.json"), _as_json(self.model_args))
        write_json(recorder.path("data_args.json"), _as_json(self.data_args))

    def push(self, log):
        """Add one push, ``{"loss": {"train": ..., "validate": ...}, "error": {...}, "params": {...}}``
        for an epoch (or ``{"loss": {"test": ...}, "error": {"test": ...}}`` after testing)."""
        self.counter += 1
        for key, values in log.items():
            if key == "params":
                for param, extremes in values.items():
                    kept = self.log.setdefault("params", {}).setdefault(param, {"max": [], "min": []})
                    kept["max"].append(float(extremes["max"]))
                    kept["min"].append(float(extremes["min"]))
            else:
                for split, value in values.items():
                    self.log.setdefault(key, {}).setdefault(split, []).append(float(value))
        row = self._epoch_row(log)
        if row is not None:
            self.history.append(row)
        if self.save:
            self._write(log, epoch_pushed=row is not None)

    def _epoch_row(self, log):
        """corenn's metrics row for an epoch's push (``None`` for any other push)."""
        loss, error = log.get("loss", {}), log.get("error", {})
        if "train" not in loss or "train" not in error:
            return None
        row = {
            "epoch": len(self.history) + 1,
            "train_loss": float(loss["train"]),
            "train_accuracy": 1.0 - float(error["train"]),
        }
        if "validate" in loss and "validate" in error:
            row |= {"val_loss": float(loss["validate"]), "val_accuracy": 1.0 - float(error["validate"])}
        return row

    def _write(self, log, epoch_pushed):
        is_test = "test" in log.get("loss", {})
        if is_test:
            self.recorder.write_result(
                {"test_loss": float(log["loss"]["test"]), "test_accuracy": 1.0 - float(log["error"]["test"])}
            )
        if epoch_pushed:
            self._append_metrics_row()
        self._summaries_stale = True
        if is_test or self._summarized_at is None or time.monotonic() - self._summarized_at >= SUMMARY_INTERVAL_SECONDS:
            self.flush()

    def _append_metrics_row(self):
        """The last epoch's row onto ``metrics.csv`` when it has the file's columns; else (a
        validation split pushed from some epoch on, or no longer) the whole file rewritten."""
        if metric_columns(self.history[-1:]) == self._csv_columns:
            self.recorder.append_metrics(self.history[-1:])
        else:
            self.recorder.write_metrics(self.history)
            self._csv_columns = metric_columns(self.history)

    def flush(self):
        """Write ``log.json`` and ``metrics.json``, and redraw the plots, if anything was pushed
        since they were last written."""
        if not (self.save and self._summaries_stale):
            return
        write_json(self.recorder.path("log.json"), self.log)
        if self.history:
            self.recorder.write_metrics_summary(self.history)
            if self.plot:
                self.recorder.write_plots(self.history)
        self._summarized_at = time.monotonic()
        self._summaries_stale = False

    def reset(self):
        """Forget what was pushed (the records already written stay, until the next epoch's push
        rewrites ``metrics.csv`` from the new history: appending to the old rows would leave it
        disagreeing with ``metrics.json``)."""
        self.log = {}
        self.history = []
        self.counter = 0
        self._csv_columns = None

    def __del__(self):
        """Flush a logger collected before the process exits (a Logger made and pushed to in a
        function): the exit hook holds it only weakly, so would find it gone."""
        self._late_flush()

    def _late_flush(self):
        """:meth:`flush` where no caller can be told of a failure (garbage collection, exit): a
        folder gone or a full disk is one warning line, not a traceback."""
        try:
            self.flush()
        except (CorennError, OSError) as exc:
            self._summaries_stale = False  # said once
            warnings.warn(f"the course Logger could not write its records in {self.save_dir}: {exc}", stacklevel=2)


def _check_model_name(model_name):
    """A saving Logger's ``model_name`` names its run folder, so it follows corenn's rule for run
    names (:mod:`corenn.run.config`): a plain, visible folder name, which every other command
    of corenn (``corenn runs``, ``corenn report``...) then accepts."""
    try:
        check_run_name(model_name)
    except ConfigError as exc:
        raise ConfigError(f"Logger: model_name is the name of the run folder, and its {exc}") from None


def _flush_at_exit(logger):
    """Flush ``logger`` when the process exits, unless it is gone by then (``Logger.__del__``
    flushed it then)."""
    reference = weakref.ref(logger)

    def flush():
        alive = reference()
        if alive is not None:
            alive._late_flush()

    atexit.register(flush)
