"""Checkpoints and resume: a run's whole state as arrays and back, and continuing a recorded run.

A checkpoint holds everything needed to continue bit for bit (parameters and buffers, the
optimizer's state, the generators of the batch order, the augmentation and every layer, the
per-step losses, the position inside an epoch), as plain arrays in an ``.npz`` file that is
read without pickle (:mod:`corenn.run.files`). :func:`resume` continues a run from its last
checkpoint, to the same result as a run that was never stopped.
"""

import contextlib
import errno
import hashlib
import json
import shlex
import time
from pathlib import Path

import numpy as np

from corenn.data.loader import batch_indices
from corenn.errors import ConfigError, CorennError, CorruptFileError, DataError, remember_run_dir
from corenn.run.build import fit_to_data, make_trainer
from corenn.run.config import load_config, with_overrides
from corenn.run.console import ConsoleReporter
from corenn.run.distributed import launch_from_environment
from corenn.run.loop import EpochProgress
from corenn.run.preprocessing import Preprocessing, write_preprocessing
from corenn.run.records import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    METRICS_JSON_FILE,
    RESULT_FILE,
    RunRecorder,
    best_epoch,
)

RESUMABLE_CHANGES = {"epochs", "backend", "device", "threads"}  # what a resume may change of a run's config


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
    """A resumed run's ``config`` must be the one ``saved`` in its checkpoint: only ``epochs``, where it computes
    (``backend``, ``device``: a checkpoint holds plain arrays on every backend) and
    ``threads`` (speed, not results) may differ."""
    current = config.to_dict() if hasattr(config, "to_dict") else None
    if saved is None or current is None:
        return
    changed = sorted(_changed_keys(_json_form(saved), _json_form(current)) - RESUMABLE_CHANGES)
    if changed:
        raise ConfigError(
            f"the run's config differs from the one checkpoint {origin} was made with "
            f"(changed: {', '.join(changed)}); a resumed run keeps its config, only --epochs, "
            f"--backend and --device may change: start a new run for a different config"
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


def restart_command(run_dir):
    """The command line that trains the run in ``run_dir`` again from its first step."""
    run_dir = Path(run_dir)
    return (
        f"corenn train --config {shlex.quote(str(run_dir / CONFIG_FILE))} --out {shlex.quote(str(run_dir.parent))} "
        f"--name {shlex.quote(run_dir.name)} --overwrite"
    )


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


def resume(run_dir, *, data_dir=None, verbose=True, callbacks=(), epochs=None, backend=None, device=None, threads=None):
    """Continue a recorded run from its last checkpoint, to its configured number of epochs.

    ``epochs`` extends (or sets) the run's length; it cannot be fewer than the epochs already
    trained. ``threads`` replaces the run's thread cap (see ``RunConfig``). A finished run is not trained
    again: its recorded result is returned. The run ends exactly as an uninterrupted run with the same config would (on the numpy backend,
    bit for bit), however it was stopped.

    ``backend`` and ``device`` move the run to another backend or device: its records are
    plain numpy arrays on every backend, so the run goes on where it stopped (in float64, as
    closely as the two backends agree, about 1e-10), and its recorded config says where it
    now trains.
    """
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise CorennError(
            f"{run_dir} does not exist: there is no run to resume "
            f"(a run stopped while starting leaves none: start it again with corenn train)"
        )
    if not run_dir.is_dir():
        raise CorennError(
            f"{run_dir} is not a directory; --resume takes a run directory, such as experiments/iris-ffnn"
        )
    if not (run_dir / CONFIG_FILE).is_file():
        raise CorennError(
            f"{run_dir} is not a corenn run directory (it has no {CONFIG_FILE}); --resume takes a "
            f"directory that corenn train created under --out, such as experiments/iris-ffnn"
        )
    launch = launch_from_environment()
    if not launch.is_main:
        try:
            return _resume_as_follower(
                run_dir, launch, data_dir=data_dir, epochs=epochs, backend=backend, device=device
            )
        except Exception as exc:
            remember_run_dir(exc, run_dir)
            raise
    with RunRecorder(run_dir) as recorder:
        recorder.lock()
        recorder.remove_stale_temporaries()
        try:
            return _resume_locked(
                recorder,
                data_dir=data_dir,
                verbose=verbose,
                callbacks=callbacks,
                epochs=epochs,
                backend=backend,
                device=device,
                threads=threads,
            )
        except Exception as exc:
            remember_run_dir(exc, run_dir)
            raise


def _resume_locked(recorder, *, data_dir, verbose, callbacks, epochs, backend=None, device=None, threads=None):
    # corenn.run.train imports this module (a run writes checkpoints as it goes); its
    # execute() is imported here, on use, so that neither module imports the other first.
    from corenn.run.train import execute

    run_dir = recorder.run_dir
    recorded = load_config(recorder.path(CONFIG_FILE))
    config = with_overrides(recorded, epochs=epochs, backend=backend, device=device, threads=threads)
    reporter = ConsoleReporter() if verbose else None
    say = (lambda message: print(message, file=reporter.stream, flush=True)) if reporter else (lambda message: None)
    trainer = make_trainer(config, run_dir, data_dir=data_dir, reporter=reporter, launch=launch_from_environment())
    run = trainer.run
    run_callbacks = ([reporter] if reporter else []) + list(callbacks)

    if not recorder.has_checkpoint():
        if recorder.path(METRICS_JSON_FILE).exists() or recorder.path(RESULT_FILE).exists():
            raise CorruptFileError(
                f"{recorder.path(CHECKPOINT_FILE)} is missing but the run recorded {len(recorder.read_metrics())} "
                f"epoch(s), so it cannot be continued exactly; start it again with: {restart_command(run_dir)}"
            )
        say(f"{run_dir} has no checkpoint: the run had not started; training it from the beginning")
        fit_to_data(trainer)
        write_initial_records(trainer, config)(recorder)
        return execute(trainer, recorder, run_callbacks, data_dir=data_dir)

    try:
        restore_checkpoint(trainer, recorder.read_checkpoint(), recorder.path(CHECKPOINT_FILE))
    except CorruptFileError as exc:
        hint = f"this run cannot be resumed; start it again with: {restart_command(run_dir)}"
        raise CorruptFileError(f"{exc}; {hint}") from exc

    in_epoch = trainer.epoch_progress is not None
    minimum = run.epoch + (1 if in_epoch else 0)
    if config.epochs < minimum:
        raise ConfigError(
            f"epochs = {config.epochs} is fewer than the {minimum} epoch(s) this run has already "
            f"{'started' if in_epoch else 'trained'}; to extend it pass --epochs N with N > {run.epoch}"
        )
    result = recorder.read_result()
    finished = result is not None and result.get("epochs") == run.epoch and not in_epoch
    if finished and (epochs is None or config.epochs == run.epoch):
        say(
            f"{run_dir} is already complete ({run.epoch} epochs); nothing to train. "
            f"To train it longer: corenn train --resume {shlex.quote(str(run_dir))} --epochs N (N > {run.epoch})"
        )
        return result
    if result is not None:
        recorder.remove_result()  # being extended: no longer finished until it ends again
    if config != recorded:
        recorder.write_config(config)
    if not in_epoch:
        # Bring the records level with the checkpoint (a kill between files leaves them behind).
        write_parameter_files(run, recorder)
        recorder.write_metrics(run.history)
        recorder.write_steps(run, trainer.steps_per_epoch)
    where = (
        f"epoch {run.epoch + 1}, batch {trainer.epoch_progress.next_batch + 1}"
        if in_epoch
        else f"epoch {run.epoch + 1}"
    )
    if run.epoch < config.epochs:
        say(f"resuming {run_dir} at {where} of {config.epochs} epochs")
    else:
        say(f"{run_dir} had trained all {run.epoch} epochs; finishing it (test evaluation and final records)")
    return execute(trainer, recorder, run_callbacks, data_dir=data_dir)


def _resume_as_follower(run_dir, launch, *, data_dir, epochs, backend, device):
    """Rank ``launch.rank`` (not 0) of a data-parallel resume: it reads the run's config and
    checkpoint, never writes nor locks the run directory, and takes the same decisions as rank 0
    (train from the start, continue, or nothing to do), so that every rank joins the same steps."""
    from corenn.run.train import execute

    recorder = RunRecorder(run_dir)
    config = with_overrides(load_config(recorder.path(CONFIG_FILE)), epochs=epochs, backend=backend, device=device)
    trainer = make_trainer(config, run_dir, data_dir=data_dir, reporter=None, launch=launch)
    if not recorder.has_checkpoint():
        fit_to_data(trainer)
        return execute(trainer, None, [], data_dir=data_dir)
    restore_checkpoint(trainer, recorder.read_checkpoint(), recorder.path(CHECKPOINT_FILE))
    run = trainer.run
    in_epoch = trainer.epoch_progress is not None
    if config.epochs < run.epoch + (1 if in_epoch else 0):
        raise ConfigError(f"epochs = {config.epochs} is fewer than the epochs this run has already trained")
    result = recorder.read_result()
    finished = result is not None and result.get("epochs") == run.epoch and not in_epoch
    if finished and (epochs is None or config.epochs == run.epoch):
        return result
    return execute(trainer, None, [], data_dir=data_dir)
