"""Early stopping: end a run once its ``best_metric`` has not improved for ``patience`` epochs.

A per-run callback (a hook implementation, see :mod:`corenn.hookspecs`) that
:func:`corenn.run.train.execute` registers when the config sets ``patience``. It decides from
the run's history alone (see :func:`corenn.records.folder.best_epoch`), so a resumed run stops at
the very epoch an uninterrupted one would.
"""

from corenn.hookspecs import hookimpl
from corenn.records.folder import best_epoch


def epochs_without_improvement(history, metric):
    """Epochs trained since the best one (``None`` without the metric: no validation split)."""
    best = best_epoch(history, metric)
    return None if best is None else history[-1]["epoch"] - best


class EarlyStopping:
    """Sets ``run.stop_requested`` once ``metric`` was last best ``patience`` epochs ago."""

    def __init__(self, patience, metric="val_accuracy"):
        self.patience = patience
        self.metric = metric

    def _check(self, run):
        waited = epochs_without_improvement(run.history, self.metric)
        if waited is not None and waited >= self.patience:
            run.stop_requested = True

    @hookimpl
    def corenn_train_start(self, run):
        self._check(run)  # a resumed run that had already met the criterion trains no further

    @hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        self._check(run)
