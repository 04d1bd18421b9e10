"""One training run from a config: data, model, components, records, and the trainer.

``train(config)`` starts a run; ``resume(run_dir)`` continues one from its last checkpoint.
Both return the run's result (the dict that ``corenn train --json`` prints).
"""

import contextlib
import errno
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from corenn.config import load_config, with_overrides
from corenn.data.loader import check_image_options, prepare
from corenn.errors import ConfigError, CorennError, CorruptFileError, TrainingDiverged, remember_run_dir
from corenn.hookspecs import hookimpl
from corenn.model import Sequential
from corenn.plugins import get_plugins
from corenn.records import CHECKPOINT_FILE, CONFIG_FILE, METRICS_JSON_FILE, PARAMETERS_FILE, RESULT_FILE, RunRecorder
from corenn.registry import option_names
from corenn.trainer import DeferredInterrupt, NumpyArrays, Trainer, TrainingRun

SHUFFLE_STREAM = 0x5EED
AUGMENT_STREAM = 0xA06
TORCH_INSTALL = "pip install torch==2.14.1 corenn-torch (from a checkout: pip install -e plugins/nn-torch)"


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
        validation = ""
        if "val_loss" in metrics:  # absent when the data set has no validation split
            validation = f"val_loss {metrics['val_loss']:.4f}  val_acc {metrics['val_accuracy']:.4f}  "
        print(
            f"epoch {epoch:>{width}}/{run.epochs}  train_loss {metrics['train_loss']:.4f}  "
            f"train_acc {metrics['train_accuracy']:.4f}  {validation}lr {metrics['learning_rate']:.3g}  "
            f"{metrics['seconds']:.2f}s",
            file=self.stream,
            flush=True,
        )


def _component(kind, component_config, backend, where, **extra):
    from corenn.plugins import create

    try:
        return create(kind, component_config.name, backend, **component_config.options, **extra)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _check_backend(backend, registry):
    if not registry.entries(backend=backend) and backend != "numpy":
        backends = registry.backends()  # "any" aside: components written once are no backend
        hint = f" ({TORCH_INSTALL})" if backend == "torch" else ""
        raise ConfigError(
            f"backend {backend!r} has no components installed{hint}; installed backends: {', '.join(backends)}"
        )


def array_backend(backend, device):
    """The trainer's array backend for ``backend`` on ``device`` (see :class:`NumpyArrays`).

    numpy computes on the CPU only (``device = "auto"`` means the CPU there). Other backends'
    array backends come from their plugins through the ``corenn_array_backend`` hook, called
    only here, so a numpy run never imports torch.
    """
    if backend == "numpy":
        if device not in ("cpu", "auto"):
            raise ConfigError(
                f"device {device!r} needs a backend that has devices (--backend torch); numpy runs on the cpu only"
            )
        return NumpyArrays()
    try:
        backend_class = get_plugins().manager.hook.corenn_array_backend(backend=backend)
    except ImportError as exc:
        raise ConfigError(
            f"backend {backend!r} needs PyTorch and corenn-torch ({exc}); install them: {TORCH_INSTALL}"
        ) from exc
    if backend_class is None:
        _check_backend(backend, get_plugins().registry)  # no plugin for it at all: say which to install
        raise ConfigError(
            f"backend {backend!r} has components but no installed plugin lets the trainer run on it "
            "(the corenn_array_backend hook); the trainer runs on numpy and on backends whose plugin implements it"
        )
    return backend_class.for_device(device)


def _scheduler_options(config, optimizer, n_train):
    """``initial_lr`` always; ``total_steps`` (the run's number of updates) when the scheduler
    takes it and the config does not set it."""
    extra = {"initial_lr": optimizer.lr}
    try:
        factory = get_plugins().registry.get("scheduler", config.scheduler.name, config.backend).load()
    except CorennError:
        return extra  # an unknown or broken scheduler: create() below says what is wrong
    names = option_names(factory)
    if names is not None and "total_steps" in names and "total_steps" not in config.scheduler.options:
        extra["total_steps"] = config.epochs * math.ceil(n_train / config.dataset.batch_size)
    return extra


MIXED_PRECISION_DTYPE = "bfloat16"


def compute_dtype(config):
    """The dtype the layers' heavy products run in for ``config``: bfloat16 with
    ``mixed_precision = true`` (the config checked it is a float32 torch run), else ``None``,
    the input's dtype. For :meth:`Sequential.set_compute_dtype`."""
    return MIXED_PRECISION_DTYPE if config.mixed_precision else None


def build(config, *, data_dir=None):
    """Everything a run needs, built and checked before any record is written."""
    data, model, loss, optimizer, scheduler, _ = build_with_arrays(config, data_dir=data_dir)
    return data, model, loss, optimizer, scheduler


def build_with_arrays(config, *, data_dir=None):
    """:func:`build`, plus the array backend the model's parameters were made on."""
    registry = get_plugins().registry
    _check_backend(config.backend, registry)
    arrays = array_backend(config.backend, config.device)
    splits = _component("dataset", config.dataset, "numpy", "dataset", data_dir=data_dir)
    check_image_options(splits.input_shape, config.dataset.name, config.dataset.augment, config.dataset.test_augment)
    data = prepare(splits, config.dtype)
    model = Sequential.from_config(config.layers, n_classes=data.n_classes, backend=config.backend, seed=config.seed)
    model.skip_input_gradient()
    if config.mixed_precision:
        model.set_compute_dtype(compute_dtype(config))
    model.initialize(splits.input_shape, config.dtype, to_device=arrays.to_device)
    loss = _component("loss", config.loss, config.backend, "loss")
    optimizer = _component("optimizer", config.optimizer, config.backend, "optimizer")
    extra = _scheduler_options(config, optimizer, len(data.train))
    scheduler = _component("scheduler", config.scheduler, config.backend, "scheduler", **extra)
    return data, model, loss, optimizer, scheduler, arrays


def _make_trainer(config, run_dir, *, data_dir, reporter):
    data, model, loss, optimizer, scheduler, arrays = build_with_arrays(config, data_dir=data_dir)
    run = TrainingRun(config=config, model=model, run_dir=run_dir, epochs=config.epochs)
    shuffle_rng = np.random.default_rng([config.seed, SHUFFLE_STREAM])
    augment = config.dataset.augment
    return Trainer(
        run,
        data,
        loss,
        optimizer,
        scheduler,
        batch_size=config.dataset.batch_size,
        shuffle_rng=shuffle_rng,
        hooks=get_plugins().call_hook,
        progress=reporter.progress if reporter else None,
        arrays=arrays,
        augment=augment,
        augment_rng=np.random.default_rng([config.seed, AUGMENT_STREAM]) if augment else None,
        test_augment=config.dataset.test_augment,
    )


@contextlib.contextmanager
def _run_callbacks(callbacks):
    """Register per-run callback objects (hook implementations) for the run's duration."""
    manager = get_plugins().manager
    names = []
    try:
        for index, callback in enumerate(callbacks):
            name = f"corenn-run-callback-{index}-{id(callback)}"
            manager.register(callback, name=name)
            names.append(name)
        yield
    finally:
        for name in names:
            manager.unregister(name=name)


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
def _resumable_on_write_error(command):
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


def _execute(trainer, recorder, callbacks, *, data_dir=None):
    """Run the trainer, keeping the records consistent whatever happens.

    The checkpoint is written first at each epoch's end, then the parameters and metrics,
    each atomically; a process killed between two of them leaves records that lag the
    checkpoint by one epoch, and the next epoch's end (or the run's end) rewrites them.
    """
    run = trainer.run
    started = time.perf_counter()
    command = resume_command(recorder.run_dir, data_dir) if recorder is not None else None

    def checkpoint(trainer):
        if recorder is not None:
            with _resumable_on_write_error(command):
                recorder.write_checkpoint(trainer.checkpoint_arrays())
                recorder.write_parameters(run.model)
                recorder.write_metrics(run.history)
                recorder.write_steps(run, trainer.steps_per_epoch)

    trainer.on_checkpoint = checkpoint
    try:
        with _run_callbacks(callbacks), trainer.arrays.limit_threads(run.config.threads):
            final = trainer.fit()
    except TrainingDiverged as exc:
        if recorder is not None:
            with contextlib.suppress(CorennError):  # a full disk must not hide why training stopped
                recorder.write_metrics(run.history)
                recorder.write_steps(run, trainer.steps_per_epoch)
                recorder.write_plots(run.history, run.step_losses)
            kept = f"end of epoch {run.epoch}" if run.epoch else "the initial ones: no epoch completed"
            where = f"the last good parameters ({kept}) are in {recorder.path(PARAMETERS_FILE)}"
        else:
            where = "no run directory was recorded"
        raise TrainingDiverged(f"{exc}; {where}; try a smaller learning rate", epoch=exc.epoch, step=exc.step) from exc
    except KeyboardInterrupt:
        if recorder is not None:
            with DeferredInterrupt.ignored():
                print(
                    f"\n{_save_interrupted(trainer, recorder)}; continue with: {command}", file=sys.stderr, flush=True
                )
        raise
    result = {
        "name": run.config.name,
        "backend": run.config.backend,
        "epochs": run.epoch,
        "train_loss": final.get("train_loss"),
        "train_accuracy": final.get("train_accuracy"),
        "val_loss": final.get("val_loss"),
        "val_accuracy": final.get("val_accuracy"),
        "test_loss": final.get("test_loss"),
        "test_accuracy": final.get("test_accuracy"),
        "seconds": time.perf_counter() - started,
        "run_dir": str(recorder.run_dir) if recorder is not None else None,
    }
    if recorder is not None:
        try:
            with _resumable_on_write_error(command):
                # Rewritten here too: a run killed between its last checkpoint and these files
                # and then resumed must still leave them whole and current.
                recorder.write_parameters(run.model)
                recorder.write_metrics(run.history)
                recorder.write_steps(run, trainer.steps_per_epoch)
                recorder.write_plots(run.history, run.step_losses)
                recorder.write_result(result)
        except KeyboardInterrupt:
            message = f"interrupted while writing the final records; training is complete; finish with: {command}"
            print(f"\n{message}", file=sys.stderr, flush=True)
            raise
    return result


def _save_interrupted(trainer, recorder):
    """Save the state of an interrupted run if it is whole; says what was done."""
    if trainer.changing_state:
        return f"interrupted in the middle of an update; the checkpoint of the last epoch ({trainer.run.epoch}) is kept"
    try:
        recorder.write_checkpoint(trainer.checkpoint_arrays())
        recorder.write_metrics(trainer.run.history)
        recorder.write_steps(trainer.run, trainer.steps_per_epoch)
    except CorennError as exc:
        return f"interrupted; saving the checkpoint failed ({exc}), the previous one is kept"
    progress = trainer.epoch_progress
    where = f"end of epoch {trainer.run.epoch}" if trainer.run.epoch else "before the first epoch"
    if progress is not None:
        where = f"epoch {trainer.run.epoch + 1}, after batch {progress.next_batch}"
    return f"interrupted: checkpoint saved ({where})"


FIT_SAMPLE_SIZE = 5000


def _fit_to_data(trainer):
    """Fit the layers that are fitted to data (``patch_whitening``) to the first
    ``FIT_SAMPLE_SIZE`` training images, unaugmented, as airbench does: once, for a fresh run,
    before its initial records (a resumed run loads what was fitted)."""
    train = trainer.data.train
    sample = trainer.arrays.to_device(train.X[: min(FIT_SAMPLE_SIZE, len(train))])
    trainer.run.model.fit_to_data(sample)


def _write_initial_records(trainer, config):
    def initialize(recorder):
        recorder.write_config(config)
        recorder.write_parameters(trainer.run.model)
        recorder.write_checkpoint(trainer.checkpoint_arrays())

    return initialize


def train(config, *, data_dir=None, out_dir="experiments", overwrite=False, record=True, verbose=True, callbacks=()):
    """Train a config (a RunConfig, a mapping, or a TOML path) and return its result.

    With ``record``, the run's records go to ``out_dir/<name>/`` (see :mod:`corenn.records`);
    an existing run directory is an error unless ``overwrite``. The directory appears only
    once it holds the config, the initial parameters and a checkpoint, so a run killed at
    any moment can be continued with :func:`resume` (or had not started at all).
    """
    config = load_config(config)
    reporter = ConsoleReporter() if verbose else None
    trainer = _make_trainer(config, None, data_dir=data_dir, reporter=reporter)
    _fit_to_data(trainer)
    recorder = None
    if record:
        initialize = _write_initial_records(trainer, config)
        recorder = RunRecorder.create(out_dir, config.name, overwrite=overwrite, initialize=initialize)
        trainer.run.run_dir = recorder.run_dir
    try:
        return _execute(trainer, recorder, ([reporter] if reporter else []) + list(callbacks), data_dir=data_dir)
    except Exception as exc:
        if recorder is not None:
            remember_run_dir(exc, recorder.run_dir)
        raise
    finally:
        if recorder is not None:
            recorder.close()


def resume(run_dir, *, data_dir=None, verbose=True, callbacks=(), epochs=None, backend=None, device=None, threads=None):
    """Continue a recorded run from its last checkpoint, to its configured number of epochs.

    ``epochs`` extends (or sets) the run's length; it cannot be fewer than the epochs already
    trained. ``threads`` replaces the run's thread cap (see ``RunConfig``). A finished run is not trained again: its recorded result is returned. The run
    ends exactly as an uninterrupted run with the same config would (on the numpy backend,
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
    run_dir = recorder.run_dir
    recorded = load_config(recorder.path(CONFIG_FILE))
    config = with_overrides(recorded, epochs=epochs, backend=backend, device=device, threads=threads)
    reporter = ConsoleReporter() if verbose else None
    say = (lambda message: print(message, file=reporter.stream, flush=True)) if reporter else (lambda message: None)
    trainer = _make_trainer(config, run_dir, data_dir=data_dir, reporter=reporter)
    run = trainer.run
    run_callbacks = ([reporter] if reporter else []) + list(callbacks)

    if not recorder.has_checkpoint():
        if recorder.path(METRICS_JSON_FILE).exists() or recorder.path(RESULT_FILE).exists():
            raise CorruptFileError(
                f"{recorder.path(CHECKPOINT_FILE)} is missing but the run recorded {len(recorder.read_metrics())} "
                f"epoch(s), so it cannot be continued exactly; start it again with: {restart_command(run_dir)}"
            )
        say(f"{run_dir} has no checkpoint: the run had not started; training it from the beginning")
        _fit_to_data(trainer)
        _write_initial_records(trainer, config)(recorder)
        return _execute(trainer, recorder, run_callbacks, data_dir=data_dir)

    try:
        trainer.restore(recorder.read_checkpoint(), recorder.path(CHECKPOINT_FILE))
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
        recorder.write_parameters(run.model)
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
    return _execute(trainer, recorder, run_callbacks, data_dir=data_dir)
