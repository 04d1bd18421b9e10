"""The runs under a folder, summarised from their records (``corenn runs``), and their curves
overlaid in one figure (``corenn compare``).

A run's status comes from its files: ``finished`` (it has ``result.json``), ``diverged`` (it
has ``diverged.json``, written when training stopped on a NaN or exploding loss), ``running``
(another process holds its lock), ``interrupted`` (none of these: stopped by Ctrl-C, a kill
or an error, and resumable with ``corenn train --resume``) or ``damaged`` (a record that cannot
be read as corenn writes it: the row says which and why, and the other runs list as usual).
A finished run that stopped early says so (its ``result.json``'s ``stopped_early``).

The validation score listed is the one ``corenn sweep`` reports for the same run (see
:func:`best_validation`): the validation accuracy (a regression: R^2) of the run's best epoch,
the epoch its ``best.npz`` holds.
"""

import json
import math
import os
import stat
from pathlib import Path

from corenn.errors import CorennError
from corenn.records.folder import (
    CONFIG_FILE,
    DIVERGED_FILE,
    METRICS_CSV_FILE,
    METRICS_JSON_FILE,
    RESULT_FILE,
    RunRecorder,
    best_epoch,
    read_metric_rows,
)

STATUSES = ("finished", "interrupted", "diverged", "running", "damaged")
MAX_RECORD_BYTES = 64 << 20  # a run's JSON records are far smaller; a larger one is not corenn's


class DamagedRecord(CorennError):
    """A run's record that cannot be read as corenn writes it."""


def _read_json(path):
    """A run's JSON record, or None when the run has not written it; a record that is not a
    regular file, is too large, or is not JSON is a :class:`DamagedRecord` saying which."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise DamagedRecord(f"{path.name} cannot be read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise DamagedRecord(f"{path.name} is not a regular file")
    if info.st_size > MAX_RECORD_BYTES:
        raise DamagedRecord(f"{path.name} holds {info.st_size:,} bytes, far more than a run's record")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DamagedRecord(f"{path.name} is not valid JSON ({type(exc).__name__}: {str(exc)[:100]})") from None


def find_runs(folder):
    """Run directories in ``folder`` (those holding a ``config.toml``), and those of its sweeps
    (``<sweep>/runs/*``), sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CorennError(
            f"{folder} is not a folder; corenn runs takes the --out folder of corenn train (default: experiments)"
        )
    found = []
    for child in sorted(folder.iterdir()):
        if child.name.startswith(".") or not child.is_dir():
            continue
        if (child / CONFIG_FILE).is_file():
            found.append(child)
        elif (child / "runs").is_dir():
            found += [run for run in sorted((child / "runs").iterdir()) if (run / CONFIG_FILE).is_file()]
    return found


def _status(run_dir):
    if (run_dir / RESULT_FILE).is_file():
        return "finished"
    if (run_dir / DIVERGED_FILE).is_file():
        return "diverged"
    recorder = RunRecorder(run_dir)
    try:
        recorder.lock()
    except CorennError:
        return "running"
    finally:
        recorder.close()
    return "interrupted"


def _number(value, what):
    """A recorded metric: a number (NaN and infinity kept as they are), or None; anything else
    means the record is damaged."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DamagedRecord(f"{what} is {str(value)[:40]!r}, not a number")
    return value


def read_history(run_dir):
    """The run's per-epoch metrics, checked: a list of tables, each with its epoch number; ``[]``
    before the first epoch. ``metrics.json`` holds them up to the run's last checkpoint (all of
    them once it ended); the epochs after it, of a run still training or stopped since, are the
    further rows of ``metrics.csv``, which grows by a row at each epoch's end (a torn last row,
    left by a kill, is skipped)."""
    run_dir = Path(run_dir)
    history = _read_json(run_dir / METRICS_JSON_FILE)
    if history is None:
        history = []
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history):
        raise DamagedRecord(f"{METRICS_JSON_FILE} does not hold a list of epochs")
    for index, row in enumerate(history):
        epoch = row.get("epoch")
        if isinstance(epoch, bool) or not isinstance(epoch, int):
            raise DamagedRecord(
                f"{METRICS_JSON_FILE} row {index + 1} has epoch {str(epoch)[:40]!r}, not a whole number"
            )
        for key, value in row.items():
            _number(value, f"{METRICS_JSON_FILE} row {index + 1}'s {key}")
    if (run_dir / RESULT_FILE).is_file() or (run_dir / DIVERGED_FILE).is_file():
        return history  # a run that ended wrote metrics.json whole as it ended
    last = history[-1]["epoch"] if history else 0
    return history + [row for row in _appended_rows(run_dir) if row["epoch"] > last]


def _appended_rows(run_dir):
    """``metrics.csv``'s rows (see :func:`corenn.records.folder.read_metric_rows`), ``[]`` when it
    is missing; one that cannot be read as corenn writes it is a :class:`DamagedRecord`."""
    try:
        return read_metric_rows(run_dir)
    except FileNotFoundError:
        return []
    except (OSError, CorennError) as exc:
        raise DamagedRecord(str(exc)) from None


def _config(run_dir):
    import tomllib

    from corenn.files import MAX_CONFIG_BYTES, read_bounded_text

    try:  # a regular file of bounded size (corenn.files)
        config = tomllib.loads(read_bounded_text(run_dir / CONFIG_FILE, MAX_CONFIG_BYTES, CONFIG_FILE))
    except (OSError, CorennError) as exc:
        raise DamagedRecord(f"{CONFIG_FILE} cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise DamagedRecord(f"{CONFIG_FILE} is not valid TOML ({exc})") from None
    return config


def is_regression(history, result):
    return result.get("task") == "regression" or any("train_r2" in row for row in history)


def best_validation(history, metric, regression=False):
    """``(epoch, score)`` of a run's best epoch (by ``metric``, its ``best_metric``; a
    regression, which has no accuracy, goes by ``val_loss`` where that is ``val_accuracy``): its
    validation accuracy (a regression: R^2); ``(None, None)`` without a validation split.
    ``corenn runs`` lists it and ``corenn sweep`` judges runs by it, so both say the same."""
    if regression and metric == "val_accuracy":
        metric = "val_loss"
    finite = [row for row in history if _finite(row.get(metric))]
    epoch = best_epoch(finite, metric)
    if epoch is None:
        return None, None
    row = next(row for row in finite if row["epoch"] == epoch)
    return epoch, row.get("val_r2" if regression else "val_accuracy")


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _stopped_early(value):
    """``result.json``'s ``stopped_early``: a table (epoch, patience, best epoch, metric, value),
    ``True`` (recorded before corenn kept the details), or None (it ran all its epochs)."""
    if isinstance(value, dict):
        return {key: value.get(key) for key in ("epoch", "patience", "best_epoch", "metric", "value")}
    return True if value is True else None


def summarize_run(run_dir):
    """One run's line of ``corenn runs``, as a dict; a run whose records are damaged gets
    ``status`` ``"damaged"`` and the ``reason``."""
    run_dir = Path(run_dir)
    try:
        return _summary(run_dir)
    except DamagedRecord as exc:
        return _row(run_dir) | {"status": "damaged", "reason": str(exc)}


def _row(run_dir, **values):
    row = {
        "name": run_dir.name,
        "run_dir": str(run_dir),
        "dataset": None,
        "epochs": None,
        "epochs_planned": None,
        "best_val_accuracy": None,
        "test_accuracy": None,
        "seconds": None,
        "status": None,
    }
    return row | values


def _summary(run_dir):
    config = _config(run_dir)
    history = read_history(run_dir)
    result = _read_json(run_dir / RESULT_FILE)
    if result is None:
        result = {}
    elif not isinstance(result, dict):
        raise DamagedRecord(f"{RESULT_FILE} does not hold a JSON object")
    regression = is_regression(history, result)
    metric = config.get("best_metric", "val_accuracy")
    epoch, score = best_validation(history, metric if isinstance(metric, str) else "val_accuracy", regression)
    seconds = _number(result.get("seconds"), f"{RESULT_FILE}'s seconds")
    if seconds is None:  # not finished: the epochs' own times
        seconds = sum(row.get("seconds") or 0.0 for row in history) or None
    dataset = config.get("dataset", {})
    planned = config.get("epochs")
    row = _row(
        run_dir,
        dataset=dataset.get("name") if isinstance(dataset, dict) and isinstance(dataset.get("name"), str) else None,
        epochs=len(history),
        epochs_planned=planned if isinstance(planned, int) and not isinstance(planned, bool) else None,
        best_val_accuracy=None if regression else score,
        test_accuracy=_number(result.get("test_accuracy"), f"{RESULT_FILE}'s test_accuracy"),
        seconds=seconds,
        status=_status(run_dir),
    )
    row["best_epoch"] = epoch
    row["stopped_early"] = _stopped_early(result.get("stopped_early"))
    restored = result.get("restored_best")
    row["restored_best"] = restored if isinstance(restored, bool) else None
    if regression:
        row["task"] = "regression"
        row["best_val_r2"] = score
        for key in ("test_r2", "test_mse", "test_mae"):
            row[key] = _number(result.get(key), f"{RESULT_FILE}'s {key}")
    return row


def list_runs(folder):
    return [summarize_run(run_dir) for run_dir in find_runs(folder)]


def json_safe(value):
    """``value`` with NaN and infinity as None, so that ``json.dumps`` writes valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def _status_text(row):
    if row["status"] == "damaged":
        return f"damaged: {row['reason']}"
    stopped = row.get("stopped_early")
    if row["status"] != "finished" or not stopped:
        return row["status"]
    if stopped is True:
        return "finished, stopped early"
    best = f", best epoch {stopped['best_epoch']}" if stopped.get("best_epoch") is not None else ""
    patience = f" (patience {stopped['patience']}{best})" if stopped.get("patience") is not None else ""
    return f"finished, stopped early at epoch {stopped.get('epoch')}{patience}"


def format_runs(rows):
    """The table ``corenn runs`` prints."""
    if not rows:
        return "no runs"
    width = max(4, *(len(row["name"]) for row in rows))
    data_width = max(7, *(len(row["dataset"] or "-") for row in rows))
    scored = any(row.get("task") == "regression" for row in rows)  # then a column says which score
    score_header = f"{'score':>5}  " if scored else ""
    lines = [
        f"{'name':<{width}}  {'dataset':<{data_width}}  {'epochs':>7}  {score_header}{'best val':>8}  {'test':>6}  "
        f"{'time':>8}  status"
    ]

    def number(value):
        return "-" if value is None else f"{value:.4f}"

    for row in rows:
        regression = row.get("task") == "regression"
        if row["epochs"] is None:
            epochs = "-"
        elif row["epochs_planned"]:
            epochs = f"{row['epochs']}/{row['epochs_planned']}"
        else:
            epochs = str(row["epochs"])
        time = "-" if row["seconds"] is None or not math.isfinite(row["seconds"]) else _duration(row["seconds"])
        score = f"{'r2' if regression else 'acc':>5}  " if scored else ""
        best = row.get("best_val_r2") if regression else row["best_val_accuracy"]
        test = row.get("test_r2") if regression else row["test_accuracy"]
        lines.append(
            f"{row['name']:<{width}}  {row['dataset'] or '-':<{data_width}}  {epochs:>7}  {score}"
            f"{number(best):>8}  {number(test):>6}  {time:>8}  {_status_text(row)}"
        )
    return "\n".join(lines)


def _duration(seconds):
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def compare_runs(run_dirs, out):
    """Overlay the runs' per-epoch loss and accuracy (a regression: R^2) (training dashed,
    validation solid), one colour per run, in one PNG at ``out``; returns its path."""
    from corenn.records.plots import _pyplot, _save_figure, _whole_epochs

    histories = []
    for run_dir in map(Path, run_dirs):
        if not (run_dir / CONFIG_FILE).is_file():
            raise CorennError(f"{run_dir} is not a corenn run directory (it has no {CONFIG_FILE})")
        try:
            history = read_history(run_dir)
        except DamagedRecord as exc:
            raise CorennError(f"run {run_dir} is damaged: {exc}") from None
        if not history:
            raise CorennError(
                f"run {run_dir} has no recorded epoch (no row in {METRICS_JSON_FILE} nor in {METRICS_CSV_FILE})"
            )
        histories.append((run_dir.name, history))
    scores = {"r2" if any("train_r2" in row for row in history) else "accuracy" for _, history in histories}
    score_label = {"accuracy": "accuracy", "r2": "R^2"}
    plt = _pyplot()
    figure, (loss_axes, score_axes) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, history) in enumerate(histories):
        colour = colours[index % len(colours)]
        epochs = [row["epoch"] for row in history]
        score = "r2" if any("train_r2" in row for row in history) else "accuracy"
        for axes, quantity in ((loss_axes, "loss"), (score_axes, score)):
            for split, style in (("train", "--"), ("val", "-")):
                values = [row.get(f"{split}_{quantity}") for row in history]
                if all(value is not None for value in values):
                    axes.plot(epochs, values, style, color=colour, label=f"{name} {split}")
    score_name = " or ".join(score_label[score] for score in sorted(scores))
    for axes, quantity in ((loss_axes, "loss"), (score_axes, score_name)):
        axes.set_xlabel("epoch")
        _whole_epochs(axes)
        axes.set_ylabel(quantity)
        axes.set_title(f"{quantity} per epoch (dashed: train, solid: validation)", fontsize=10)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    return _save_figure(plt, figure, Path(out))
