"""A grid search over learning rate and hidden size, judged on the validation split.

The test split is looked at once, for the best combination only, as a held-out estimate of its
error; choosing by test accuracy would make that estimate optimistic.
"""

import itertools
from pathlib import Path

from corenn.config import config_from_dict
from corenn.errors import ConfigError
from corenn.io import write_json
from corenn.records import RunRecorder, write_plots
from corenn.training import train


NO_VALIDATION = (
    "corenn sweep judges runs on the validation split, and this data set has none "
    "(dataset.val_size = 0); set val_size > 0"
)


def with_hidden_size(config, hidden):
    """A copy of ``config`` whose hidden layers (all but the last) have ``n_out = hidden``."""
    data = config.to_dict()
    hidden_layers = [layer for layer in data["layers"][:-1] if isinstance(layer.get("n_out"), int)]
    if not hidden_layers:
        raise ConfigError(f"config {config.name!r} has no hidden layer with an integer n_out to sweep")
    for layer in hidden_layers:
        layer["n_out"] = hidden
    return config_from_dict(data)


def run_sweep(config, learning_rates, hidden_sizes, *, data_dir=None, out_dir="experiments", overwrite=False, progress=None):
    """Train every (learning rate, hidden size); returns the rows and the best row.

    Writes ``<out>/<name>-sweep/`` with ``sweep.json`` (every row) and the best run's
    ``best-loss.png`` / ``best-accuracy.png``.
    """
    for lr in learning_rates:
        if not lr > 0:
            raise ConfigError(f"learning rates must be positive, got {lr}")
    for hidden in hidden_sizes:
        if hidden <= 0:
            raise ConfigError(f"hidden sizes must be positive integers, got {hidden}")
    if config.dataset.options.get("val_size") == 0:
        raise ConfigError(NO_VALIDATION)
    recorder = RunRecorder.create(out_dir, f"{config.name}-sweep", overwrite=overwrite)
    rows, histories = [], []
    for lr, hidden in itertools.product(learning_rates, hidden_sizes):
        data = with_hidden_size(config, hidden).to_dict()
        data["optimizer"]["lr"] = lr
        data["name"] = f"{config.name}-lr{lr:g}-h{hidden}"
        histories_of_run = []
        result = train(
            config_from_dict(data), data_dir=data_dir, record=False, verbose=False,
            callbacks=[_HistoryCollector(histories_of_run)],
        )
        if result.get("val_accuracy") is None:
            raise ConfigError(NO_VALIDATION)
        row = {
            "lr": lr,
            "hidden": hidden,
            "train_loss": result["train_loss"],
            "val_accuracy": result["val_accuracy"],
            "val_loss": result["val_loss"],
            "test_accuracy": result["test_accuracy"],
            "seconds": result["seconds"],
        }
        rows.append(row)
        histories.append(histories_of_run)
        if progress is not None:
            progress(row)
    best_index = max(range(len(rows)), key=lambda i: (rows[i]["val_accuracy"], -rows[i]["val_loss"]))
    best = rows[best_index]
    plots = write_plots(histories[best_index], recorder.run_dir, prefix="best-")
    summary = {
        "name": config.name,
        "rows": rows,
        "best": best,
        "best_test_error": None if best["test_accuracy"] is None else 1 - best["test_accuracy"],
        "best_loss_plot": str(plots[0]),
        "sweep_dir": str(recorder.run_dir),
    }
    write_json(Path(recorder.run_dir) / "sweep.json", summary)
    return summary


class _HistoryCollector:
    """Keeps a run's per-epoch metrics for the sweep's plot of the best run."""

    def __init__(self, history):
        self.history = history

    from corenn.hookspecs import hookimpl

    @hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        self.history.append(dict(metrics))
