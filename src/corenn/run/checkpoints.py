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
from corenn.records.folder import best_epoch
from corenn.records.preprocessing import Preprocessing, write_preprocessing
from corenn.run.loop import EpochProgress

RESUMABLE_CHANGES = {"epochs", "backend", "device", "threads", "kernels"}  # what a resume may change of a run's config


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
    backend, and every kernel computes the same function) and ``threads`` (speed, not results) may differ."""
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


def record_epoch(trainer, recorder):
    """The records at an epoch's end: the checkpoint first, then the parameters, the metrics and
    the steps, each file atomically. A process killed between two of them leaves records that
    lag the checkpoint by one epoch; the next epoch's end (or a resume) rewrites them."""
    run = trainer.run
    recorder.write_checkpoint(checkpoint_arrays(trainer))
    write_parameter_files(run, recorder)
    recorder.write_metrics(run.history)
    recorder.write_steps(run, trainer.steps_per_epoch)


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


def save_interrupted(trainer, recorder):
    """Save the state of an interrupted run if it is whole; says what was done."""
    if trainer.changing_state:
        return f"interrupted in the middle of an update; the checkpoint of the last epoch ({trainer.run.epoch}) is kept"
    try:
        recorder.write_checkpoint(checkpoint_arrays(trainer))
        recorder.write_metrics(trainer.run.history)
        recorder.write_steps(trainer.run, trainer.steps_per_epoch)
    except CorennError as exc:
        return f"interrupted; saving the checkpoint failed ({exc}), the previous one is kept"
    progress = trainer.epoch_progress
    where = f"end of epoch {trainer.run.epoch}" if trainer.run.epoch else "before the first epoch"
    if progress is not None:
        where = f"epoch {trainer.run.epoch + 1}, after batch {progress.next_batch}"
    return f"interrupted: checkpoint saved ({where})"


def resume_command(run_dir, data_dir=None):
    """The command line that continues the run in ``run_dir`` (shell-quoted)."""
    command = f"corenn train --resume {shlex.quote(str(run_dir))}"
    if data_dir is not None:
        command += f" --data-dir {shlex.quote(str(data_dir))}"
    return command


@contextlib.contextmanager
def resumable_on_write_error(command):
    """A record that cannot be written (full disk, ...) stops the run; say how to continue it."""
    try:
        yield
    except CorennError as exc:
        if not isinstance(exc.__cause__, OSError):
            raise
        remedy = "make room" if exc.__cause__.errno in (errno.ENOSPC, errno.EDQUOT) else "fix that"
        raise CorennError(
            f"{exc}; the last complete checkpoint is kept: {remedy}, then continue with: {command}"
        ) from exc
