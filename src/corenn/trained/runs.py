"""The runs under a folder, summarised from their records (``corenn runs``), and their curves
overlaid in one figure (``corenn compare``).

A run's status comes from its files: ``finished`` (it has ``result.json``), ``diverged`` (it
has ``diverged.json``, written when training stopped on a NaN or exploding loss), ``running``
(another process holds its lock) or ``interrupted`` (none of these: stopped by Ctrl-C, a kill
or an error, and resumable with ``corenn train --resume``).
"""

import json
from pathlib import Path

from corenn.errors import CorennError
from corenn.records.folder import CONFIG_FILE, DIVERGED_FILE, METRICS_JSON_FILE, RESULT_FILE, RunRecorder

STATUSES = ("finished", "interrupted", "diverged", "running")


def _read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


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


def summarize_run(run_dir):
    """One run's line of ``corenn runs``, as a dict."""
    import tomllib

    run_dir = Path(run_dir)
    try:
        config = tomllib.loads((run_dir / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        config = {}
    history = _read_json(run_dir / METRICS_JSON_FILE) or []
    result = _read_json(run_dir / RESULT_FILE) or {}
    validation = [
        row["val_accuracy"] for row in history if isinstance(row, dict) and row.get("val_accuracy") is not None
    ]
    seconds = result.get("seconds")
    if seconds is None:  # not finished: the epochs' own times
        seconds = sum(row.get("seconds", 0.0) for row in history if isinstance(row, dict)) or None
    dataset = config.get("dataset", {})
    return {
        "name": run_dir.name,
        "run_dir": str(run_dir),
        "dataset": dataset.get("name") if isinstance(dataset, dict) else None,
        "epochs": len(history),
        "epochs_planned": config.get("epochs"),
        "best_val_accuracy": max(validation) if validation else None,
        "test_accuracy": result.get("test_accuracy"),
        "seconds": seconds,
        "status": _status(run_dir),
    }


def list_runs(folder):
    return [summarize_run(run_dir) for run_dir in find_runs(folder)]


def format_runs(rows):
    """The table ``corenn runs`` prints."""
    if not rows:
        return "no runs"
    width = max(4, *(len(row["name"]) for row in rows))
    data_width = max(7, *(len(row["dataset"] or "-") for row in rows))
    lines = [
        f"{'name':<{width}}  {'dataset':<{data_width}}  {'epochs':>7}  {'best val':>8}  {'test':>6}  {'time':>8}  status"
    ]

    def accuracy(value):
        return "-" if value is None else f"{value:.4f}"

    for row in rows:
        epochs = f"{row['epochs']}/{row['epochs_planned']}" if row["epochs_planned"] else str(row["epochs"])
        time = "-" if row["seconds"] is None else _duration(row["seconds"])
        lines.append(
            f"{row['name']:<{width}}  {row['dataset'] or '-':<{data_width}}  {epochs:>7}  "
            f"{accuracy(row['best_val_accuracy']):>8}  {accuracy(row['test_accuracy']):>6}  {time:>8}  {row['status']}"
        )
    return "\n".join(lines)


def _duration(seconds):
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes}m{seconds:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def compare_runs(run_dirs, out):
    """Overlay the runs' per-epoch loss and accuracy (training dashed, validation solid), one
    colour per run, in one PNG at ``out``; returns its path."""
    from corenn.records.plots import _pyplot, _save_figure, _whole_epochs

    histories = []
    for run_dir in map(Path, run_dirs):
        if not (run_dir / CONFIG_FILE).is_file():
            raise CorennError(f"{run_dir} is not a corenn run directory (it has no {CONFIG_FILE})")
        history = _read_json(run_dir / METRICS_JSON_FILE)
        if not history:
            raise CorennError(f"run {run_dir} has no recorded epoch ({METRICS_JSON_FILE} is missing or empty)")
        histories.append((run_dir.name, history))
    plt = _pyplot()
    figure, (loss_axes, accuracy_axes) = plt.subplots(1, 2, figsize=(11, 4.5), dpi=100)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, history) in enumerate(histories):
        colour = colours[index % len(colours)]
        epochs = [row["epoch"] for row in history]
        for axes, quantity in ((loss_axes, "loss"), (accuracy_axes, "accuracy")):
            for split, style in (("train", "--"), ("val", "-")):
                values = [row.get(f"{split}_{quantity}") for row in history]
                if all(value is not None for value in values):
                    axes.plot(epochs, values, style, color=colour, label=f"{name} {split}")
    for axes, quantity in ((loss_axes, "loss"), (accuracy_axes, "accuracy")):
        axes.set_xlabel("epoch")
        _whole_epochs(axes)
        axes.set_ylabel(quantity)
        axes.set_title(f"{quantity} per epoch (dashed: train, solid: validation)")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    return _save_figure(plt, figure, Path(out))
