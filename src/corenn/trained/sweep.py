"""A grid search over learning rate and hidden size, judged on the validation split: each run
by its best epoch's validation accuracy (a regression: R^2), the score ``corenn runs`` lists for
it, and its test score taken with that epoch's parameters (``best.npz``).

The test split is looked at once, for the best combination only, as a held-out estimate of its
error; choosing by test accuracy would make that estimate optimistic. Every combination is a
recorded run in ``<sweep>/runs/<name>-lr<lr>-h<hidden>/`` (trained without looking at the test
split), so the best one need not be trained again: ``corenn predict`` and ``corenn evaluate``
take its directory, whose ``result.json`` gets the test accuracy once the sweep has chosen it.

A sweep's folder is a run directory like any other (see :class:`corenn.records.folder.RunRecorder`):
it appears only once it holds a first ``sweep.json``, and the sweep holds its lock until it
ends, so a second sweep into the same folder (with or without ``--overwrite``) is refused
instead of replacing the first one's rows. ``sweep.json`` is rewritten after every finished
run, so a sweep stopped by Ctrl-C, SIGTERM or a kill keeps the rows it had.
"""

import contextlib
import itertools
import sys
from pathlib import Path

from corenn.errors import ConfigError, CorennError, RunExistsError, remember_run_dir
from corenn.files import write_json
from corenn.records.folder import RunRecorder
from corenn.records.plots import write_plots
from corenn.run.config import config_from_dict
from corenn.run.interrupts import DeferredInterrupt
from corenn.run.train import train

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


def run_sweep(
    config, learning_rates, hidden_sizes, *, data_dir=None, out_dir="experiments", overwrite=False, progress=None
):
    """Train every (learning rate, hidden size); returns the rows and the best row.

    Writes ``<out>/<name>-sweep/`` with ``sweep.json`` (every row), the best run's
    ``best-loss.png`` / ``best-accuracy.png`` and every combination's run under ``runs/``.
    """
    for lr in learning_rates:
        if not lr > 0:
            raise ConfigError(f"learning rates must be positive, got {lr}")
    for hidden in hidden_sizes:
        if hidden <= 0:
            raise ConfigError(f"hidden sizes must be positive integers, got {hidden}")
    if not learning_rates or not hidden_sizes:
        raise ConfigError("a sweep needs at least one learning rate (--lrs) and one hidden size (--hidden)")
    if config.dataset.options.get("val_size") == 0:
        raise ConfigError(NO_VALIDATION)
    grid = list(itertools.product(learning_rates, hidden_sizes))
    configs = [_grid_config(config, lr, hidden) for lr, hidden in grid]  # a bad grid fails before the folder exists
    rows, histories = [], []

    def write_rows(recorder, status):
        write_json(Path(recorder.run_dir) / SWEEP_FILE, _summary(config, rows, len(grid), recorder.run_dir, status))

    try:
        recorder = RunRecorder.create(
            out_dir,
            f"{config.name}-sweep",
            overwrite=overwrite,
            initialize=lambda staged: write_rows(staged, "running"),
        )
    except RunExistsError:  # its message speaks of runs (--name, --resume), which a sweep has not
        raise RunExistsError(
            f"sweep folder {Path(out_dir) / f'{config.name}-sweep'} already exists (another sweep of {config.name!r}); "
            "pass --overwrite to replace it, or choose another --out"
        ) from None
    with recorder:
        try:
            for (lr, hidden), run_config in zip(grid, configs, strict=True):
                histories_of_run = []
                result = train(
                    run_config,
                    data_dir=data_dir,
                    out_dir=Path(recorder.run_dir) / RUNS_FOLDER,
                    free_name=False,
                    verbose=False,
                    callbacks=[_HistoryCollector(histories_of_run)],
                    evaluate_test=False,
                )
                if result.get("val_loss") is None:
                    raise ConfigError(NO_VALIDATION)
                rows.append(_row(lr, hidden, result, histories_of_run))
                histories.append(histories_of_run)
                write_rows(recorder, "running")
                if progress is not None:
                    progress(rows[-1])
        except Exception as exc:
            with contextlib.suppress(CorennError):  # a full disk must not hide why the sweep stopped
                write_rows(recorder, "failed")
            remember_run_dir(exc, recorder.run_dir)
            raise
        except KeyboardInterrupt:
            with DeferredInterrupt.ignored():
                write_rows(recorder, "interrupted")
                print(
                    f"\ninterrupted: {len(rows)} of {len(grid)} runs finished; their rows are in "
                    f"{Path(recorder.run_dir) / SWEEP_FILE}",
                    file=sys.stderr,
                    flush=True,
                )
            raise
        best_index = rows.index(_summary(config, rows, len(grid), recorder.run_dir, "running")["best"])
        test_key = "test_r2" if "val_r2" in rows[best_index] else "test_accuracy"
        rows[best_index][test_key] = _test_accuracy_of(rows[best_index]["run_dir"], data_dir)
        summary = _summary(config, rows, len(grid), recorder.run_dir, "finished")
        plots = write_plots(histories[best_index], recorder.run_dir, prefix="best-")
        summary["best_loss_plot"] = str(plots[0])
        write_json(Path(recorder.run_dir) / SWEEP_FILE, summary)
    return summary


SWEEP_FILE = "sweep.json"
RUNS_FOLDER = "runs"


def _row(lr, hidden, result, history):
    """A sweep's row for one run: its validation metrics at its best epoch (the one its
    ``best.npz`` holds: see :func:`corenn.trained.runs.best_validation`, which ``corenn runs``
    lists too), the last epoch's training loss, and its test score once chosen."""
    regression = result.get("task") == "regression"
    metric = "val_r2" if regression else "val_accuracy"
    best = result.get("best_epoch")
    at_best = next((row for row in history if row.get("epoch") == best), history[-1] if history else {})
    return {
        "lr": lr,
        "hidden": hidden,
        "train_loss": result["train_loss"],
        metric: at_best.get(metric),
        "val_loss": at_best.get("val_loss"),
        "best_epoch": best,
        ("test_r2" if regression else "test_accuracy"): None,  # looked at for the best run only, below
        "seconds": result["seconds"],
        "run_dir": result["run_dir"],
    }


def _score(row):
    """What a sweep ranks its rows by: validation accuracy (a regression: R^2), then the lower
    validation loss."""
    return row.get("val_accuracy", row.get("val_r2")), -row["val_loss"]


def _test_accuracy_of(run_dir, data_dir):
    """The chosen run's test accuracy (a regression: R^2; ``None`` when its data set has no test
    split) with the parameters of the epoch its validation score is from (``best.npz``, where
    the run has one), also written into its ``result.json`` so that its records say what the
    sweep found, with which parameters that test used (``restored_best``): the ones
    ``corenn evaluate`` and ``predict`` then take by default."""
    from corenn.errors import DataError
    from corenn.records.folder import BEST_PARAMETERS_FILE
    from corenn.trained.evaluate import evaluate_run

    which = "best" if (Path(run_dir) / BEST_PARAMETERS_FILE).is_file() else "last"
    try:
        report = evaluate_run(run_dir, split="test", data_dir=data_dir, which=which)
    except DataError:
        return None
    key, score = (
        ("test_r2", report["r2"]) if report.get("task") == "regression" else ("test_accuracy", report["accuracy"])
    )
    tested = {key: score, "restored_best": which == "best"}
    with RunRecorder(run_dir) as run_records:
        result = run_records.read_result()
        if result is not None:
            run_records.write_result(result | tested)
    return score


def _grid_config(config, lr, hidden):
    data = with_hidden_size(config, hidden).to_dict()
    data["optimizer"]["lr"] = lr
    data["name"] = f"{config.name}-lr{lr:g}-h{hidden}"
    return config_from_dict(data)


def _summary(config, rows, n_runs, sweep_dir, status):
    """What ``sweep.json`` holds: every finished row, the best so far by validation accuracy
    (ties: the lower validation loss), and whether the sweep ran to its end (``status``:
    ``running``, ``interrupted``, ``failed`` (a run raised an error) or ``finished``)."""
    best = max(rows, key=_score) if rows else None
    test_accuracy = None if best is None else best.get("test_accuracy")
    return {
        "name": config.name,
        "status": status,
        "runs": n_runs,
        "rows": rows,
        "best": best,
        "best_test_error": None if test_accuracy is None else 1 - test_accuracy,
        "best_loss_plot": None,
        "best_run_dir": None if best is None else best["run_dir"],
        "sweep_dir": str(sweep_dir),
    }


class _HistoryCollector:
    """Keeps a run's per-epoch metrics for the sweep's plot of the best run."""

    def __init__(self, history):
        self.history = history

    from corenn.hookspecs import hookimpl

    @hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        self.history.append(dict(metrics))
