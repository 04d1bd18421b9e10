"""The plots of a run: loss and accuracy per epoch, and the loss of every step with its moving
average and the learning rate it was taken at. Titles name the run; epoch axes have whole-number ticks."""

import io
import warnings
from pathlib import Path

import numpy as np

from corenn.files import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(plt, figure, path):
    with warnings.catch_warnings():
        # A run name in a script the font lacks is drawn as boxes; that is no reason to warn.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    plt.close(figure)
    atomic_write(path, buffer.getvalue())
    return path


def _titled(label, name):
    # A "$" in a run's name would start matplotlib's math text ("$$" raised a ValueError): shown as itself.
    return f"{name.replace('$', chr(92) + '$')}: {label}" if name else label


def _whole_epochs(axes):
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def write_plots(history, folder, *, prefix="", name=None):
    """``loss.png`` and ``accuracy.png`` (a regression: ``r2.png``, its coefficient of
    determination): training and (when there is a validation split) validation curves per
    epoch; ``name`` (the run's) heads the titles."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    splits = [split for split in ("train", "val") if all(f"{split}_loss" in row for row in history)]
    score = ("r2", "R^2") if history and all("train_r2" in row for row in history) else ("accuracy", "accuracy")
    written = []
    for quantity, label in (("loss", "loss"), score):
        figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
        for split in splits:
            axes.plot(
                epochs,
                [row[f"{split}_{quantity}"] for row in history],
                marker="." if len(epochs) < 40 else None,
                label=split,
            )
        axes.set_xlabel("epoch")
        _whole_epochs(axes)
        axes.set_ylabel(label)
        axes.set_title(_titled(f"{label} per epoch", name))
        axes.grid(alpha=0.3)
        axes.legend()
        written.append(_save_figure(plt, figure, Path(folder) / f"{prefix}{quantity}.png"))
    return written


def moving_average(values, window):
    """The trailing mean of the last ``window`` values at each position from ``window - 1`` on
    (``len(values) - window + 1`` means); fewer values than ``window`` give none."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < window:
        return np.zeros(0)
    sums = np.cumsum(np.concatenate([[0.0], values]))
    return (sums[window:] - sums[:-window]) / window


def write_step_plot(step_losses, folder, *, prefix="", learning_rates=None, name=None):
    """``loss_steps.png``: the training loss of every step, and its moving average over
    about a tenth of the run (2 to 100 steps), which shows the trend the noisy mini-batch
    losses hide; with ``learning_rates`` (one per step), the learning rate on a second axis
    on the right, so a loss that jumps can be read against the schedule."""
    plt = _pyplot()
    losses = np.asarray(step_losses, dtype=np.float64)
    steps = np.arange(1, len(losses) + 1)
    window = int(min(100, max(2, len(losses) // 10)))
    figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
    axes.plot(steps, losses, linewidth=0.6, alpha=0.45, label="loss per step")
    averaged = moving_average(losses, window)
    if len(averaged):
        axes.plot(steps[window - 1 :], averaged, linewidth=1.6, label=f"moving average ({window} steps)")
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title(_titled("training loss per step", name))
    axes.grid(alpha=0.3)
    handles, labels = axes.get_legend_handles_labels()
    if learning_rates is not None and len(learning_rates) == len(losses):
        rate_axes = axes.twinx()
        rate_axes.plot(steps, learning_rates, color="tab:red", linewidth=1.0, label="learning rate")
        rate_axes.set_ylabel("learning rate")
        more_handles, more_labels = rate_axes.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    axes.legend(handles, labels)
    return _save_figure(plt, figure, Path(folder) / f"{prefix}loss_steps.png")
