"""Checkpoints: a run's whole state as arrays and back, and the records written as a run goes.

A checkpoint holds everything needed to continue bit for bit (parameters and buffers, the
optimizer's state, the generators of the batch order, the augmentation and every layer, the
per-step losses, the position inside an epoch), as plain arrays in an ``.npz`` file that is
read without pickle (:mod:`corenn.files`). :func:`corenn.run.resume.resume` continues a run
from its last checkpoint, to the same result as a run that was never stopped.
"""

import contextlib
import errno
import hashlib
import json
import shlex
import time

import numpy as np

from corenn.data.loader import batch_indices
from corenn.errors import ConfigError, CorennError, CorruptFileError, DataError
from corenn.files import save_arrays
from corenn.machine import environment_number
from corenn.records.folder import BEST_PARAMETERS_FILE, PARAMETERS_FILE, BestRow, best_epoch
from corenn.records.preprocessing import Preprocessing, write_preprocessing
from corenn.run.loop import EpochProgress

# What a resume may change of a run's config; mixed_precision only as a torch run moves to
# numpy, which computes in float32 throughout (corenn.run.config.config_on).
RESUMABLE_CHANGES = {"epochs", "backend", "device", "threads", "kernels", "mixed_precision"}


def checkpoint_arrays(trainer):
    """The run's whole state as named arrays; JSON-able parts go in one ``state`` array."""
    run = trainer.run
    state = {
        "epoch": run.epoch,
        "step": run.step,
        "history": run.history,
        "shuffle_rng": trainer.shuffle_rng.bit_generator.state,
        "layer_rngs": [_generator_state(getattr(layer, "rng", None)) for layer in run.model.layers],
    }
    if trainer.augment_rng is not None:
        state["augment_rng"] = trainer.augment_rng.bit_generator.state
    if hasattr(run.config, "to_dict"):
        state["config"] = run.config.to_dict()
    state["data"] = data_fingerprint(trainer)
    state["seconds"] = elapsed_seconds(trainer)
    # Buffers go in as "param/buffer/<name>": the parameter file's table, prefixed.
    arrays = {f"param/{name}": value for name, value in run.model.parameter_arrays().items()}
    arrays |= {f"optimizer/{key}": np.asarray(value) for key, value in trainer.optimizer.state_dict().items()}
    progress = trainer.epoch_progress
    if progress is not None:
        state["progress"] = {
            "next_batch": progress.next_batch,
            "loss_sum": progress.loss_sum,
            "correct": int(progress.correct),  # a device scalar on torch
            "seen": progress.seen,
        }
        if progress.errors is not None:  # a regression's summed errors (see corenn.run.loop.EpochProgress)
            state["progress"]["errors"] = progress.errors.tolist()
        arrays["progress/order"] = progress.order
    arrays["steps/loss"] = np.asarray(run.step_losses, dtype=np.float64).reshape(-1)
    arrays["steps/learning_rate"] = np.asarray(run.step_learning_rates, dtype=np.float64).reshape(-1)
    arrays["state"] = np.frombuffer(json.dumps(state).encode("utf-8"), dtype=np.uint8)
    return arrays


def restore_checkpoint(trainer, arrays, origin):
    """Continue ``trainer`` from :func:`checkpoint_arrays`' output (read back from ``origin``).

    A checkpoint that does not fit this model, this data or this config raises
    (CorruptFileError, ConfigError or DataError naming the file); a trainer whose restore
    failed may be partly restored and is not to be trained.
    """
    try:
        state = json.loads(arrays["state"].tobytes().decode("utf-8"))
        check_same_config(trainer.run.config, state.get("config"), origin)
        if state.get("data", data_fingerprint(trainer)) != data_fingerprint(trainer):
            raise DataError(
                f"the training data differs from the data checkpoint {origin} was made with "
                f"(another --data-dir, or changed files?); resume with the same data, or start a new run"
            )
        params = {key[len("param/") :]: value for key, value in arrays.items() if key.startswith("param/")}
        optimizer_state = {
            key[len("optimizer/") :]: _scalar_or_array(value)
            for key, value in arrays.items()
            if key.startswith("optimizer/")
        }
        progress = None
        if "progress" in state:
            progress = EpochProgress(
                _checked_order(arrays["progress/order"], len(trainer.data.train)), **state["progress"]
            )
            n_batches = len(batch_indices(len(trainer.data.train), trainer.batch_size))
            if not 0 <= progress.next_batch <= n_batches:
                raise ValueError(f"next batch {progress.next_batch} is outside 0..{n_batches}")
        epoch, step, history = int(state["epoch"]), int(state["step"]), list(state["history"])
        if epoch < 0 or step < 0 or len(history) != epoch:
            raise ValueError(f"epoch {epoch}, step {step} and {len(history)} history rows do not agree")
        step_losses, step_learning_rates = _saved_steps(arrays, step)
        trainer.run.model.load_parameters(params)
        trainer.optimizer.load_state_dict(optimizer_state)
        trainer.shuffle_rng.bit_generator.state = state["shuffle_rng"]
        if trainer.augment_rng is not None and "augment_rng" in state:
            trainer.augment_rng.bit_generator.state = state["augment_rng"]
        # Not strict: a checkpoint without "layer_rngs" leaves every layer's generator as built.
        for layer, layer_rng_state in zip(trainer.run.model.layers, state.get("layer_rngs", ()), strict=False):
            if layer_rng_state is not None and isinstance(getattr(layer, "rng", None), np.random.Generator):
                layer.rng.bit_generator.state = layer_rng_state
        trainer.run.epoch, trainer.run.step, trainer.run.history = epoch, step, history
        trainer.run.step_losses, trainer.run.step_learning_rates = step_losses, step_learning_rates
        trainer.epoch_progress = progress
        # Older checkpoints hold no total: their epochs' own times are the best estimate.
        trainer.seconds_before = float(state.get("seconds", sum(row.get("seconds", 0.0) for row in history)))
    except (ConfigError, DataError):
        raise
    except CorruptFileError as exc:
        raise CorruptFileError(f"checkpoint {origin}: {exc}") from exc
    except (KeyError, ValueError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise CorruptFileError(f"checkpoint {origin} is incomplete or corrupt ({type(exc).__name__}: {exc})") from exc


def elapsed_seconds(trainer):
    """The run's training time so far, over every session of it: what the checkpoint it was
    resumed from held (``seconds_before``) plus this session's (since :func:`start_clock`)."""
    before = getattr(trainer, "seconds_before", 0.0)
    started = getattr(trainer, "clock_started", None)
    return before + (time.perf_counter() - started if started is not None else 0.0)


def start_clock(trainer):
    trainer.clock_started = time.perf_counter()


def data_fingerprint(trainer):
    """A digest of the prepared training split: a resumed run must see the same data.

    Computed once per trainer (MNIST's training split is about 170 MB in float32).
    """
    if trainer.data_digest is None:
        digest = hashlib.blake2b(digest_size=16)
        train = trainer.data.train
        for array in (train.X, train.labels):
            array = np.ascontiguousarray(array)
            digest.update(f"{array.dtype.str}{array.shape}".encode())
            digest.update(memoryview(array).cast("B"))
        trainer.data_digest = digest.hexdigest()
    return trainer.data_digest


def check_same_config(config, saved, origin):
    """A resumed run's ``config`` must be the one ``saved`` in its checkpoint: only ``epochs``, where and
    how it computes (``backend``, ``device``, ``kernels``: a checkpoint holds plain arrays on every
    backend, and every kernel computes the same function; ``mixed_precision``, dropped when a
    torch run moves to numpy) and ``threads`` (speed, and float32's last bits) may differ."""
    current = config.to_dict() if hasattr(config, "to_dict") else None
    if saved is None or current is None:
        return
    changed = sorted(_changed_keys(_json_form(saved), _json_form(current)) - RESUMABLE_CHANGES)
    if changed:
        raise ConfigError(
            f"the run's config differs from the one checkpoint {origin} was made with "
            f"(changed: {', '.join(changed)}); a resumed run keeps its config, only --epochs, "
            f"--backend, --device and --kernels may change: start a new run for a different config"
        )


def _generator_state(rng):
    return rng.bit_generator.state if isinstance(rng, np.random.Generator) else None


def _json_form(value):
    return json.loads(json.dumps(value))


def _changed_keys(saved, current, prefix=""):
    """Dotted keys (``optimizer.lr``, ``layers[0].n_out``) whose values differ."""
    if isinstance(saved, dict) and isinstance(current, dict):
        changed = set()
        for key in set(saved) | set(current):
            changed |= _changed_keys(saved.get(key), current.get(key), f"{prefix}.{key}" if prefix else key)
        return changed
    if isinstance(saved, list) and isinstance(current, list) and len(saved) == len(current):
        changed = set()
        for index, (old, new) in enumerate(zip(saved, current, strict=True)):
            changed |= _changed_keys(old, new, f"{prefix}[{index}]")
        return changed
    return set() if saved == current else {prefix}


def _checked_order(order, n_samples):
    """The saved batch order must be a permutation of the training split's indices."""
    if order.shape != (n_samples,) or not np.issubdtype(order.dtype, np.integer):
        raise ValueError(
            f"the saved batch order has shape {order.shape} and dtype {order.dtype}, expected ({n_samples},) integers"
        )
    if not np.array_equal(np.sort(order), np.arange(n_samples)):
        raise ValueError("the saved batch order is not a permutation of the training samples")
    return order


def _saved_steps(arrays, n_steps):
    """The per-step losses and learning rates of a checkpoint, as lists of floats.

    A checkpoint made before they were recorded has none: its steps are NaN (unknown), so the
    step numbers of later steps stay right.
    """
    if "steps/loss" not in arrays:
        unknown = [float("nan")] * n_steps
        return unknown, list(unknown)
    losses, learning_rates = arrays["steps/loss"], arrays.get("steps/learning_rate")
    for name, values in (("losses", losses), ("learning rates", learning_rates)):
        if values is None or values.shape != (n_steps,) or not np.issubdtype(values.dtype, np.floating):
            shape = None if values is None else values.shape
            raise ValueError(f"the saved per-step {name} have shape {shape}, expected ({n_steps},) floats")
    return losses.astype(np.float64).tolist(), learning_rates.astype(np.float64).tolist()


def _scalar_or_array(value):
    return value.item() if value.ndim == 0 else value


CHECKPOINT_SECONDS_ENV = "CORENN_CHECKPOINT_SECONDS"
DEFAULT_CHECKPOINT_SECONDS = 5.0


def checkpoint_seconds(environ=None):
    """How many seconds a run lets pass between two checkpoints written at an epoch's end:
    ``CORENN_CHECKPOINT_SECONDS`` (0: at every epoch's end), else :data:`DEFAULT_CHECKPOINT_SECONDS`.
    A value that is not a number of seconds raises a ConfigError naming the variable."""
    return environment_number(
        CHECKPOINT_SECONDS_ENV,
        DEFAULT_CHECKPOINT_SECONDS,
        unit="seconds",
        zero_means="a checkpoint at every epoch's end",
        environ=environ,
    )


def _position(trainer):
    """Where a run is: ``(epochs done, next batch of the epoch under way or None)``."""
    progress = trainer.epoch_progress
    return trainer.run.epoch, None if progress is None else progress.next_batch


class RunRecords:
    """The records a run writes as it trains, at a cost per epoch that does not grow with its epochs.

    At every epoch's end (:meth:`epoch_end`) the epoch's row and its steps' rows are appended to
    ``metrics.csv`` and ``steps.csv``. The files whose cost grows with the run (the checkpoint, which
    holds the whole history and every step's loss, and ``metrics.json``) are written on a schedule,
    as one group (:meth:`checkpoint`): ``best.npz`` when an epoch since the last group was the best
    so far, ``checkpoint.npz``, ``parameters.npz`` and ``metrics.json``. The group is written at an
    epoch's end once ``interval`` seconds (:func:`checkpoint_seconds`) have passed since the last
    one (so at every epoch's end when epochs take longer than that), and always once training is
    over (before the test, and so before ``restore_best`` reads ``best.npz``) and on Ctrl-C or
    SIGTERM (:func:`save_interrupted`); when training diverges, :meth:`diverged` writes the files
    that say where it stood.

    Between two groups, the parameters at the last epoch's end are kept as a host copy (a few
    microseconds for a small network, whose epochs are the short ones), so that ``parameters.npz``
    still holds the last epoch's parameters after an interrupt inside an epoch or a divergence,
    and ``best.npz`` those of the best epoch. ``best.npz`` goes before the checkpoint, so a
    checkpoint never names a best epoch whose parameters are not on disk (a kill between them
    leaves a ``best.npz`` that the resumed run writes again when it reaches that epoch).

    At its start the records are level with the run's state (a fresh run's initial records, or a
    resume's, see :func:`corenn.run.resume.resume`) and its last checkpoint holds that state.
    """

    clock = staticmethod(time.monotonic)  # seconds, for the schedule

    def __init__(self, trainer, recorder, interval=None):
        run = trainer.run
        self.trainer = trainer
        self.recorder = recorder
        self.interval = checkpoint_seconds() if interval is None else interval
        self.metric_rows = len(run.history)  # rows in metrics.csv
        self.step_rows = len(run.step_losses)  # rows in steps.csv
        self.checkpointed = _position(trainer)  # where the last checkpoint was taken
        self.checkpointed_step = run.step  # and after how many updates
        self.parameters_epoch = run.epoch  # the epoch whose end parameters.npz holds
        self.written_at = self.clock()
        self.best = BestRow(run.history, getattr(run.config, "best_metric", "val_accuracy"))
        self.unwritten_parameters = None  # (epoch, host copy): the last epoch's, when not in parameters.npz
        self.pending_best = None  # the host copy of a best epoch's parameters not yet in best.npz

    def epoch_end(self):
        """At an epoch's end: the checkpoint group when it is due (else a copy of the parameters),
        then the epoch's rows."""
        improved = self.best.note(self.trainer.run.history[-1])
        if self.clock() - self.written_at >= self.interval:
            self.checkpoint(best_is_current=improved)
        else:
            run = self.trainer.run
            to_numpy = self.trainer.arrays.to_numpy
            copy = {name: to_numpy(value) for name, value in run.model.parameter_arrays().items()}  # copies
            self.unwritten_parameters = (run.epoch, copy)
            if improved:
                self.pending_best = copy
        self.append_rows()

    def append_rows(self):
        """The rows of the epochs and steps since the last append."""
        run = self.trainer.run
        if self.metric_rows < len(run.history):
            self.recorder.append_metrics(run.history[self.metric_rows :])
            self.metric_rows = len(run.history)
        if self.step_rows < len(run.step_losses):
            self.recorder.append_steps(run, self.trainer.steps_per_epoch, self.step_rows)
            self.step_rows = len(run.step_losses)

    def _write_pending_best(self):
        """``best.npz`` from the copy kept of a best epoch's parameters, if one is pending."""
        if self.pending_best is not None:
            save_arrays(self.recorder.path(BEST_PARAMETERS_FILE), self.pending_best)
            self.pending_best = None

    def _write_kept_parameters(self):
        """``best.npz`` and ``parameters.npz`` from the copies kept since the last group."""
        self._write_pending_best()
        if self.unwritten_parameters is not None:
            epoch, arrays = self.unwritten_parameters
            save_arrays(self.recorder.path(PARAMETERS_FILE), arrays)
            self.parameters_epoch, self.unwritten_parameters = epoch, None

    def checkpoint(self, best_is_current=False):
        """The group: ``best.npz`` (the model's, when ``best_is_current``; else the copy kept of
        one), the checkpoint, ``parameters.npz`` (the model's at an epoch's end, else the copy of
        the last epoch's) and ``metrics.json``."""
        trainer, recorder = self.trainer, self.recorder
        run = trainer.run
        if best_is_current:
            recorder.write_best_parameters(run.model)
            self.pending_best = None
        else:
            self._write_pending_best()
        recorder.write_checkpoint(checkpoint_arrays(trainer))
        position = _position(trainer)
        if position[1] is None:
            recorder.write_parameters(run.model)
            self.parameters_epoch, self.unwritten_parameters = run.epoch, None
        else:
            self._write_kept_parameters()
        recorder.write_metrics_summary(run.history)
        self.checkpointed, self.checkpointed_step = position, run.step
        self.written_at = self.clock()

    def save(self):
        """The run as it stands, in the middle of training (an interrupt, an error): the
        checkpoint group and the rows not yet appended."""
        self.checkpoint()
        self.append_rows()

    def unsaved_updates(self):
        """Whether the model was updated since the last checkpoint."""
        return self.trainer.run.step != self.checkpointed_step

    def finish_training(self):
        """Once the epochs are done, before the test: the last state's checkpoint group, unless
        the last group already holds it."""
        if self.checkpointed != _position(self.trainer) or self.pending_best is not None:
            self.checkpoint()
        self.append_rows()

    def checkpoint_text(self):
        """Where the last checkpoint was taken, in words."""
        epoch, next_batch = self.checkpointed
        if next_batch is not None:
            return f"epoch {epoch + 1}, after batch {next_batch}"
        return f"end of epoch {epoch}" if epoch else "before the first epoch"

    def diverged(self):
        """Training diverged: the rows so far, ``metrics.json``, and the last epoch's parameters
        (the last good ones) and the best epoch's, when the last group did not write them. The
        checkpoint stays the last one written: a resume repeats the same steps from there."""
        self.append_rows()
        self.recorder.write_metrics_summary(self.trainer.run.history)
        self._write_kept_parameters()

    def kept_parameters_text(self):
        """Which parameters ``parameters.npz`` holds, in words."""
        epoch = self.parameters_epoch
        return f"end of epoch {epoch}" if epoch else "the initial ones: no epoch completed"


def write_parameter_files(run, recorder):
    """``parameters.npz``, and ``best.npz`` too when the last epoch is the best so far."""
    recorder.write_parameters(run.model)
    if run.epoch and best_epoch(run.history, getattr(run.config, "best_metric", "val_accuracy")) == run.epoch:
        recorder.write_best_parameters(run.model)


def write_initial_records(trainer, config):
    """``initialize(recorder)`` for a fresh run's directory: its config, its initial parameters
    and a first checkpoint, so that a run killed at any later moment can be resumed."""

    def initialize(recorder):
        recorder.write_config(config)
        write_preprocessing(recorder.run_dir, Preprocessing.of(trainer.data, config.dataset.name))
        recorder.write_parameters(trainer.run.model)
        recorder.write_checkpoint(checkpoint_arrays(trainer))

    return initialize


def save_interrupted(trainer, records):
    """Save the state of an interrupted run if it is whole (see :meth:`RunRecords.save`); says
    what was done."""
    if trainer.changing_state:
        if records.checkpointed == (trainer.run.epoch, None):
            kept = f"the checkpoint of the last epoch ({trainer.run.epoch}) is kept"
        else:
            kept = f"the last checkpoint ({records.checkpoint_text()}) is kept"
        return f"interrupted in the middle of an update; {kept}"
    try:
        records.save()
    except CorennError as exc:
        return f"interrupted; saving the checkpoint failed ({exc}), the previous one is kept"
    return f"interrupted: checkpoint saved ({records.checkpoint_text()})"


def save_after_error(trainer, records):
    """After an error that stops training (a bug in a plugin's layer, say): the run as it stands
    (:meth:`RunRecords.save`), when the model was updated since the last checkpoint and the state
    is whole (no update cut short). Returns where the checkpoint was taken, in words, or ``None``
    when nothing was saved."""
    if trainer.changing_state or not records.unsaved_updates():
        return None
    try:
        records.save()
    except CorennError:
        return None
    return records.checkpoint_text()


def resume_command(run_dir, data_dir=None):
    """The command line that continues the run in ``run_dir`` (shell-quoted)."""
    command = f"corenn train --resume {shlex.quote(str(run_dir))}"
    if data_dir is not None:
        command += f" --data-dir {shlex.quote(str(data_dir))}"
    return command


class RecordsNotWritten(CorennError):
    """A run stopped because its records could not be written: nothing more is saved."""


@contextlib.contextmanager
def resumable_on_write_error(command):
    """A record that cannot be written (full disk, ...) stops the run; say how to continue it."""
    try:
        yield
    except CorennError as exc:
        if not isinstance(exc.__cause__, OSError):
            raise
        remedy = "make room" if exc.__cause__.errno in (errno.ENOSPC, errno.EDQUOT) else "fix that"
        raise RecordsNotWritten(
            f"{exc}; the last complete checkpoint is kept: {remedy}, then continue with: {command}"
        ) from exc
