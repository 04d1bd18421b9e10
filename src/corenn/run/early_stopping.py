"""Early stopping: end a run once its ``best_metric`` has not improved for ``patience`` epochs;
and ``restore_best``: test the run with its best epoch's parameters.

:class:`EarlyStopping` is a per-run callback (a hook implementation, see :mod:`corenn.hookspecs`)
that :func:`corenn.run.train.execute` registers when the config sets ``patience``. It decides from
the run's history alone (see :func:`corenn.records.folder.best_epoch`), so a resumed run stops at
the very epoch an uninterrupted one would; :func:`stopped_early` tells, from the same history,
whether and why a run stopped early (the result's ``stopped_early``).

:class:`BestParameters` puts the best epoch's parameters into the model before the test split
is evaluated, when the config's ``restore_best`` (see ``RunConfig.restores_best``) says so.
"""

from pathlib import Path

import numpy as np

from corenn.errors import CorennError
from corenn.files import load_arrays
from corenn.hookspecs import hookimpl
from corenn.records.folder import BEST_PARAMETERS_FILE, BestRow, best_epoch


def epochs_without_improvement(history, metric):
    """Epochs trained since the best one (``None`` without the metric: no validation split)."""
    best = best_epoch(history, metric)
    return None if best is None else history[-1]["epoch"] - best


class EarlyStopping:
    """Sets ``run.stop_requested`` once ``metric`` was last best ``patience`` epochs ago.

    The best row is kept one epoch at a time (:class:`corenn.records.folder.BestRow`), so an
    epoch's check costs the same at epoch 10 as at epoch 10,000."""

    def __init__(self, patience, metric="val_accuracy"):
        self.patience = patience
        self.metric = metric
        self.best = None

    def _check(self, run):
        best_row = self.best.row
        if best_row is not None and run.history[-1]["epoch"] - best_row["epoch"] >= self.patience:
            run.stop_requested = True

    @hookimpl
    def corenn_train_start(self, run):
        self.best = BestRow(run.history, self.metric)
        if run.history:
            self._check(run)  # a resumed run that had already met the criterion trains no further

    @hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        self.best.note(run.history[-1])
        self._check(run)


def stopped_early(run):
    """How a run that ended before its ``epochs`` stopped, or ``None`` when it did not.

    ``{"epoch", "reason": "patience", "patience", "best_epoch", "metric", "value"}`` when
    ``patience`` ended it (the epoch it stopped at, and the best one with its metric's value);
    ``{"epoch", "reason": "requested"}`` when a plugin or callback set ``run.stop_requested``.
    """
    if run.epoch >= run.epochs:
        return None
    patience = getattr(run.config, "patience", None)
    metric = getattr(run.config, "best_metric", "val_accuracy")
    waited = epochs_without_improvement(run.history, metric) if patience is not None else None
    if waited is None or waited < patience:
        return {"epoch": run.epoch, "reason": "requested"}
    best = best_epoch(run.history, metric)
    return {
        "epoch": run.epoch,
        "reason": "patience",
        "patience": patience,
        "best_epoch": best,
        "metric": metric,
        "value": run.history[best - 1][metric],
    }


def early_stop_text(stopped):
    """``stopped early at epoch 21 (patience 10); best epoch 11 (val_accuracy 0.9800)``, or, for a
    stop a plugin or callback asked for, ``stopped early at epoch 21 (a plugin or callback asked)``."""
    if stopped.get("reason") == "requested":
        return f"stopped early at epoch {stopped['epoch']} (a plugin or callback asked)"
    return (
        f"stopped early at epoch {stopped['epoch']} (patience {stopped['patience']}); "
        f"best epoch {stopped['best_epoch']} ({stopped['metric']} {stopped['value']:.4f})"
    )


class BestParameters:
    """Keeps the best epoch's parameters at hand and puts them into the model before the test.

    A recorded run has them in its ``best.npz`` (written with the checkpoint after every epoch that
    is the best so far, at the latest before the test, and kept across a resume; see
    :class:`corenn.run.checkpoints.RunRecords`). A run that records nothing (``keep_copies``) keeps a
    host copy of them instead, taken at the end of each such epoch (``to_numpy`` copies an array
    off its device). :meth:`restore` loads them into the model and keeps the last epoch's in
    ``last``, for the records: ``parameters.npz`` stays the last epoch's.
    """

    def __init__(self, metric, *, to_numpy, keep_copies):
        self.metric = metric
        self.to_numpy = to_numpy
        self.keep_copies = keep_copies
        self.copy = None  # (epoch, arrays): the best epoch's so far, when keep_copies
        self.last = None  # the last epoch's arrays, once restore() replaced them
        self.epoch = None  # the epoch whose parameters the model holds after restore()

    @hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        if self.keep_copies and best_epoch(run.history, self.metric) == epoch:
            self.copy = (epoch, self._arrays_of(run.model))

    def _arrays_of(self, model):
        return {name: np.array(self.to_numpy(value)) for name, value in model.parameter_arrays().items()}

    def restore(self, run):
        """Load the best epoch's parameters into ``run.model``; returns that epoch, or ``None``
        when no epoch has the metric (no validation split)."""
        best = best_epoch(run.history, self.metric)
        if best is None or best == run.epoch:  # no best, or the model already holds it
            self.epoch = best
            return best
        if self.copy is not None and self.copy[0] == best:
            best_arrays = self.copy[1]
        elif run.run_dir is not None and (Path(run.run_dir) / BEST_PARAMETERS_FILE).is_file():
            best_arrays = load_arrays(Path(run.run_dir) / BEST_PARAMETERS_FILE)
        else:
            raise CorennError(
                f"the parameters of the best epoch ({best}) were not kept, so the test cannot use them; "
                "set restore_best = false"
            )
        self.last = self._arrays_of(run.model)
        run.model.load_parameters(best_arrays)
        self.epoch = best
        return best
