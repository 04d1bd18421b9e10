"""Run records: ``<out>/<name>/`` holds everything a finished or interrupted run leaves.

- ``config.toml``: the resolved config (overrides applied), enough to rerun it;
- ``metrics.csv`` and ``metrics.json``: one row per epoch;
- ``parameters.npz``: the learned parameters (the last good ones if training diverged);
- ``checkpoint.npz``: parameters, optimizer state and the batch-order generator, for ``--resume``;
- ``loss.png`` and ``accuracy.png``: per-epoch curves;
- ``result.json``: the final summary that ``corenn train --json`` prints.

Every file is written atomically (see :mod:`corenn.io`).
"""

import csv
import io
import shutil
from pathlib import Path

from corenn.errors import CorennError, RunExistsError
from corenn.io import atomic_write, load_arrays, save_arrays, write_json

METRIC_COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")
CONFIG_FILE = "config.toml"
PARAMETERS_FILE = "parameters.npz"
CHECKPOINT_FILE = "checkpoint.npz"
RESULT_FILE = "result.json"


def unique_run_name(out_dir, name):
    """``name``, or ``name-2``, ``name-3``... : the first that has no run directory yet."""
    candidate, number = name, 1
    while (Path(out_dir) / candidate).exists():
        number += 1
        candidate = f"{name}-{number}"
    return candidate


class RunRecorder:
    """Writes one run's records into its directory."""

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)

    @classmethod
    def create(cls, out_dir, name, *, overwrite=False):
        """A fresh run directory; an existing one is an error unless ``overwrite``."""
        run_dir = Path(out_dir) / name
        if run_dir.exists() and not run_dir.is_dir():
            raise RunExistsError(f"{run_dir} exists and is not a directory")
        if run_dir.exists() and any(run_dir.iterdir()):
            if not overwrite:
                raise RunExistsError(
                    f"run directory {run_dir} already exists; choose another --name, "
                    f"continue it with --resume {run_dir}, or pass --overwrite to replace it"
                )
            shutil.rmtree(run_dir)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CorennError(f"cannot create run directory {run_dir}: {exc.strerror or exc}") from exc
        return cls(run_dir)

    def path(self, name):
        return self.run_dir / name

    def write_config(self, config):
        atomic_write(self.path(CONFIG_FILE), config.to_toml())

    def write_parameters(self, model):
        model.save_parameters(self.path(PARAMETERS_FILE))

    def write_checkpoint(self, arrays):
        save_arrays(self.path(CHECKPOINT_FILE), arrays)

    def read_checkpoint(self):
        return load_arrays(self.path(CHECKPOINT_FILE))

    def write_metrics(self, history):
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=METRIC_COLUMNS, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
        atomic_write(self.path("metrics.csv"), buffer.getvalue())
        write_json(self.path("metrics.json"), history)

    def write_plots(self, history):
        if history:
            write_plots(history, self.run_dir)

    def write_result(self, result):
        write_json(self.path(RESULT_FILE), result)


def write_plots(history, folder, *, prefix=""):
    """``loss.png`` and ``accuracy.png``: training and validation curves per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    written = []
    for quantity, label in (("loss", "loss"), ("accuracy", "accuracy")):
        figure, axes = plt.subplots(figsize=(6, 4), dpi=100)
        for split in ("train", "val"):
            axes.plot(epochs, [row[f"{split}_{quantity}"] for row in history], marker="." if len(epochs) < 40 else None, label=split)
        axes.set_xlabel("epoch")
        axes.set_ylabel(label)
        axes.set_title(f"{label} per epoch")
        axes.grid(alpha=0.3)
        axes.legend()
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plt.close(figure)
        path = Path(folder) / f"{prefix}{quantity}.png"
        atomic_write(path, buffer.getvalue())
        written.append(path)
    return written
