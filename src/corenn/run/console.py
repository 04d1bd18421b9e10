"""What a run prints while it trains: one line per epoch and, on a terminal, a progress bar."""

import sys

from corenn.hookspecs import hookimpl


class ConsoleReporter:
    """Prints one line per epoch; with a terminal, also a progress bar over the batches."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.interactive = self.stream.isatty()

    def progress(self, steps, epoch, epochs):
        if not self.interactive:
            return steps
        from tqdm import tqdm

        return tqdm(steps, desc=f"epoch {epoch}/{epochs}", leave=False, unit="batch", file=self.stream)

    @hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        width = len(str(run.epochs))
        score = "acc" if "train_accuracy" in metrics else "r2"  # a regression scores R^2
        scored = "accuracy" if score == "acc" else "r2"
        validation = ""
        if "val_loss" in metrics:  # absent when the data set has no validation split
            validation = f"val_loss {metrics['val_loss']:.4f}  val_{score} {metrics[f'val_{scored}']:.4f}  "
        print(
            f"epoch {epoch:>{width}}/{run.epochs}  train_loss {metrics['train_loss']:.4f}  "
            f"train_{score} {metrics[f'train_{scored}']:.4f}  {validation}lr {metrics['learning_rate']:.3g}  "
            f"{metrics['seconds']:.2f}s",
            file=self.stream,
            flush=True,
        )
