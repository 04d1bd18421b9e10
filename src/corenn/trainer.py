"""The training loop: shuffled mini-batches, updates, validation, hooks, checkpoints.

Everything random in a run comes from the run's seed: weights from per-layer generators
(see :mod:`corenn.model`) and the batch order from the trainer's own generator. Its state is
part of every checkpoint, so a resumed run continues exactly where the saved one stopped.
"""

import json
import time

import attrs
import numpy as np

from corenn.data.loader import batch_indices
from corenn.errors import CorruptFileError, TrainingDiverged


@attrs.define(eq=False)
class TrainingRun:
    """What hooks see of a run. Set ``stop_requested`` to end it after the current epoch."""

    config: object
    model: object
    run_dir: object
    epochs: int
    history: list = attrs.Factory(list)
    epoch: int = 0
    step: int = 0
    stop_requested: bool = False


@attrs.define(eq=False)
class EpochProgress:
    """Where the trainer is inside an epoch: its batch order and the running sums."""

    order: np.ndarray
    next_batch: int = 0
    loss_sum: float = 0.0
    correct: int = 0
    seen: int = 0
    started: float = attrs.Factory(time.perf_counter)


class Trainer:
    """Trains ``run.model`` on prepared data with a loss, an optimizer and a scheduler."""

    def __init__(self, run, data, loss, optimizer, scheduler, *, batch_size, shuffle_rng, hooks=None, on_checkpoint=None, progress=None):
        self.run = run
        self.data = data
        self.loss = loss
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.batch_size = batch_size
        self.shuffle_rng = shuffle_rng
        self.hooks = hooks
        self.on_checkpoint = on_checkpoint
        self.progress = progress
        self.epoch_progress = None

    def _hook(self, name, **kwargs):
        if self.hooks is not None:
            self.hooks(name, run=self.run, **kwargs)

    def fit(self):
        """Train until ``run.epochs`` or a stop request; returns the final metrics."""
        run = self.run
        self._hook("corenn_train_start")
        while run.epoch < run.epochs and not run.stop_requested:
            metrics = self.train_epoch(run.epoch + 1)
            metrics |= self.evaluate(self.data.val, "val")
            metrics["seconds"] = time.perf_counter() - self.epoch_progress.started
            run.epoch += 1
            run.history.append(metrics)
            self.epoch_progress = None
            if self.on_checkpoint is not None:
                self.on_checkpoint(self)
            self._hook("corenn_epoch_end", epoch=run.epoch, metrics=metrics)
        final = dict(run.history[-1]) if run.history else {}
        if self.data.test is not None:
            final |= self.evaluate(self.data.test, "test")
        self._hook("corenn_train_end", metrics=final)
        return final

    def train_epoch(self, epoch):
        """One pass over the training split (resuming inside it if a checkpoint said so)."""
        if self.epoch_progress is None:
            self.epoch_progress = EpochProgress(self.shuffle_rng.permutation(len(self.data.train)))
        progress = self.epoch_progress
        batches = batch_indices(len(progress.order), self.batch_size)
        train = self.data.train
        steps = range(progress.next_batch, len(batches))
        if self.progress is not None:
            steps = self.progress(steps, epoch, self.run.epochs)
        for batch_number in steps:
            index = progress.order[batches[batch_number]]
            X, Y = train.X[index], train.Y[index]
            Y_hat = self.run.model.forward(X)
            loss = float(self.loss.forward(Y, Y_hat))
            if not np.isfinite(loss):
                raise TrainingDiverged(
                    f"the loss became {loss} at epoch {epoch}, step {batch_number + 1} of {len(batches)} "
                    f"(learning rate {self.optimizer.lr:g}); training stopped",
                    epoch=epoch,
                    step=batch_number + 1,
                )
            self.run.model.backward(self.loss.backward(Y, Y_hat))
            self.update()
            progress.loss_sum += loss * len(index)
            progress.correct += int(np.sum(Y_hat.argmax(axis=1) == train.labels[index]))
            progress.seen += len(index)
            progress.next_batch = batch_number + 1
        return {
            "epoch": epoch,
            "train_loss": progress.loss_sum / progress.seen,
            "train_accuracy": progress.correct / progress.seen,
        }

    def update(self):
        """One optimizer step over every parameter, at the scheduler's learning rate."""
        model = self.run.model
        self.optimizer.lr = float(self.scheduler(self.run.step))
        gradients = model.named_gradients()
        for name, param in model.named_parameters().items():
            updated = self.optimizer.update(name, param, gradients[name])
            if updated is not param:
                model.set_parameter(name, updated)
        self.run.step += 1

    def evaluate(self, split, prefix, batch_size=1024):
        """Mean loss and accuracy of the model on a prepared split."""
        model = self.run.model
        loss_sum = 0.0
        correct = 0
        for start in range(0, len(split), batch_size):
            Y = split.Y[start : start + batch_size]
            Y_hat = model.forward(split.X[start : start + batch_size])
            loss_sum += float(self.loss.forward(Y, Y_hat)) * len(Y)
            correct += int(np.sum(Y_hat.argmax(axis=1) == split.labels[start : start + batch_size]))
        metrics = {f"{prefix}_loss": loss_sum / len(split), f"{prefix}_accuracy": correct / len(split)}
        if prefix == "val":
            metrics["learning_rate"] = float(self.scheduler(max(self.run.step - 1, 0)))
        return metrics

    # Checkpoints: everything needed to continue bit for bit, as arrays (no pickle).

    def checkpoint_arrays(self):
        run = self.run
        state = {
            "epoch": run.epoch,
            "step": run.step,
            "history": run.history,
            "shuffle_rng": self.shuffle_rng.bit_generator.state,
        }
        arrays = {f"param/{name}": value for name, value in run.model.named_parameters().items()}
        arrays |= {f"optimizer/{key}": np.asarray(value) for key, value in self.optimizer.state_dict().items()}
        progress = self.epoch_progress
        if progress is not None:
            state["progress"] = {k: getattr(progress, k) for k in ("next_batch", "loss_sum", "correct", "seen")}
            arrays["progress/order"] = progress.order
        arrays["state"] = np.frombuffer(json.dumps(state).encode("utf-8"), dtype=np.uint8)
        return arrays

    def restore(self, arrays, origin):
        """Continue from :meth:`checkpoint_arrays`' output (read back from ``origin``)."""
        try:
            state = json.loads(arrays["state"].tobytes().decode("utf-8"))
            params = {key[len("param/") :]: value for key, value in arrays.items() if key.startswith("param/")}
            self.run.model.load_parameters(params)
            self.optimizer.load_state_dict(
                {key[len("optimizer/") :]: _scalar_or_array(value) for key, value in arrays.items() if key.startswith("optimizer/")}
            )
            self.shuffle_rng.bit_generator.state = state["shuffle_rng"]
            self.run.epoch = int(state["epoch"])
            self.run.step = int(state["step"])
            self.run.history = list(state["history"])
            if "progress" in state:
                self.epoch_progress = EpochProgress(arrays["progress/order"], **state["progress"])
        except CorruptFileError as exc:
            raise CorruptFileError(f"checkpoint {origin}: {exc}") from exc
        except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
            raise CorruptFileError(f"checkpoint {origin} is incomplete or corrupt ({type(exc).__name__}: {exc})") from exc


def _scalar_or_array(value):
    return value.item() if value.ndim == 0 else value
