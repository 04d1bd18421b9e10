"""The plots of a run: loss and accuracy per epoch, and the loss of every step with its moving average."""

import io
from pathlib import Path

import numpy as np

from corenn.run.files import atomic_write


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save_figure(plt, figure, path):
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    atomic_write(path, buffer.getvalue())
    return path


def write_plots(history, folder, *, prefix=""):
    """``loss.png`` and ``accuracy.png``: training and (when there is a validation split)
    validation curves per epoch."""
    plt = _pyplot()
    epochs = [row["epoch"] for row in history]
    splits = [split for split in ("train", "val") if all(f"{split}_loss" in row for row in history)]
    written = []
    for quantity, label in (("loss", "loss"), ("accuracy", "accuracy")):
        figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
        for split in splits:
            axes.plot(
                epochs,
                [row[f"{split}_{quantity}"] for row in history],
                marker="." if len(epochs) < 40 else None,
                label=split,
            )
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.set_title(f"{label} per epoch")
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


def write_step_plot(step_losses, folder, *, prefix=""):
    """``loss_steps.png``: the training loss of every step, and its moving average over
    about a tenth of the run (2 to 100 steps), which shows the trend the noisy mini-batch
    losses hide."""
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
    axes.set_title("training loss per step")
    axes.grid(alpha=0.3)
    axes.legend()
    return _save_figure(plt, figure, Path(folder) / f"{prefix}loss_steps.png")
