"""The course's ``Logger``, writing corenn's run records.

With ``save=True`` a run directory ``<save_dir>/<model_name>`` (``-2``, ``-3``... when taken:
nothing is overwritten) holds, each written atomically by :mod:`corenn.records.folder`:

- ``model_args.json``, ``data_args.json``: the arguments it was given (the course pickled them);
- ``metrics.csv``, ``metrics.json``: one row per epoch, corenn's columns (accuracy = 1 - error);
- ``log.json``: the course's own log, ``{"loss": {"train": [...], "validate": [...]}, ...}``;
- ``result.json``: the test loss and accuracy, once pushed;
- with ``plot=True``, ``loss.png`` and ``accuracy.png``, corenn's per-epoch plots.

Drawing the plots takes far longer than an epoch of a small model (0.15 s against a few
milliseconds on Iris), so they are redrawn at most every ``PLOT_INTERVAL_SECONDS``, and always
by a test push and by ``flush()``, which the model calls at the end of ``train``.
"""

import json
import os
import time

from corenn.files import write_json
from corenn.records.folder import RunRecorder, unique_run_name

PLOT_INTERVAL_SECONDS = 5.0


def _as_json(value):
    """``value`` as JSON data; what JSON cannot hold is written as its ``repr``."""
    return json.loads(json.dumps(value, default=repr))


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
        self._plotted_at = None  # time.monotonic() of the last plots; None: none pending or drawn
        self._plots_stale = False
        if save:
            run_name = unique_run_name(save_dir, model_name)
            self.recorder = RunRecorder.create(save_dir, run_name, initialize=self._write_arguments)
            self.recorder.close()  # records are written atomically; no process needs to be kept out
            self.save_dir = str(self.recorder.run_dir) + os.sep  # course code appends file names to it

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
            self._write(log)

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

    def _write(self, log):
        write_json(self.recorder.path("log.json"), self.log)
        if "test" in log.get("loss", {}):
            self.recorder.write_result(
                {"test_loss": float(log["loss"]["test"]), "test_accuracy": 1.0 - float(log["error"]["test"])}
            )
        if self.history:
            self.recorder.write_metrics(self.history)
        self._plots_stale = self.plot and bool(self.history)
        is_test = "test" in log.get("loss", {})
        if is_test or self._plotted_at is None or time.monotonic() - self._plotted_at >= PLOT_INTERVAL_SECONDS:
            self.flush()

    def flush(self):
        """Redraw the plots if anything was pushed since they were last drawn."""
        if self.save and self._plots_stale:
            self.recorder.write_plots(self.history)
            self._plotted_at = time.monotonic()
            self._plots_stale = False

    def reset(self):
        """Forget what was pushed (the records already written stay)."""
        self.log = {}
        self.history = []
        self.counter = 0
