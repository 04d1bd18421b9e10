"""What a run prints while it trains: the data and the network at its start, one line per epoch
(and, on a terminal, a progress bar), and a word when it stops early."""

import sys

from corenn.hookspecs import hookimpl
from corenn.run.early_stopping import early_stop_text, stopped_early


def duration(seconds):
    """A time with enough digits to tell epochs apart: ``4.2ms``, ``0.85s``, ``12.3s``, ``2m05s``."""
    if seconds < 0.9995:  # from there three digits of milliseconds round to 1000: "1.00e+03ms"
        return f"{_three_digits(seconds * 1000)}ms"
    if seconds < 60:
        return f"{_three_digits(seconds)}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def _three_digits(value):
    """``value`` to three significant digits, trailing zeros kept (0.6 is ``0.600``)."""
    return f"{value:#.3g}".rstrip(".")


class ConsoleReporter:
    """Prints one line per epoch; with a terminal, also a progress bar over the batches."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stdout
        self.interactive = self.stream.isatty()

    def say(self, *lines):
        for line in lines:
            print(line, file=self.stream, flush=True)

    def describe(self, data_summary, model_summary):
        """The data and the network a run starts with (see :mod:`corenn.run.summaries`)."""
        self.say(*data_summary.lines(), *model_summary.lines())

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
        self.say(
            f"epoch {epoch:>{width}}/{run.epochs}  train_loss {metrics['train_loss']:.4f}  "
            f"train_{score} {metrics[f'train_{scored}']:.4f}  {validation}lr {metrics['learning_rate']:.3g}  "
            f"{duration(metrics['seconds'])}"
        )

    @hookimpl
    def corenn_train_end(self, run, metrics):
        stopped = stopped_early(run)
        if stopped is not None:
            self.say(early_stop_text(stopped))
