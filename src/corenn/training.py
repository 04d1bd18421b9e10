"""One training run from a config: data, model, components, records, and the trainer.

``train(config)`` starts a run; ``resume(run_dir)`` continues one from its last checkpoint.
Both return the run's result (the dict that ``corenn train --json`` prints).
"""

import contextlib
import sys
import time
from pathlib import Path

import numpy as np

from corenn.config import load_config
from corenn.data.loader import prepare
from corenn.errors import ConfigError, CorennError, TrainingDiverged
from corenn.hookspecs import hookimpl
from corenn.model import Sequential
from corenn.plugins import get_plugins
from corenn.records import CONFIG_FILE, PARAMETERS_FILE, RunRecorder
from corenn.trainer import Trainer, TrainingRun

SHUFFLE_STREAM = 0x5EED


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
        print(
            f"epoch {epoch:>{width}}/{run.epochs}  train_loss {metrics['train_loss']:.4f}  "
            f"train_acc {metrics['train_accuracy']:.4f}  val_loss {metrics['val_loss']:.4f}  "
            f"val_acc {metrics['val_accuracy']:.4f}  lr {metrics['learning_rate']:.3g}  "
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
        backends = sorted({entry.backend for entry in registry.entries()})
        hint = " (pip install corenn-torch)" if backend == "torch" else ""
        raise ConfigError(
            f"backend {backend!r} has no components installed{hint}; installed backends: {', '.join(backends)}"
        )


def build(config, *, data_dir=None):
    """Everything a run needs, built and checked before any record is written."""
    registry = get_plugins().registry
    _check_backend(config.backend, registry)
    splits = _component("dataset", config.dataset, "numpy", "dataset", data_dir=data_dir)
    data = prepare(splits, config.dtype)
    model = Sequential.from_config(config.layers, n_classes=data.n_classes, backend=config.backend, seed=config.seed)
    model.initialize(splits.input_shape, config.dtype)
    loss = _component("loss", config.loss, config.backend, "loss")
    optimizer = _component("optimizer", config.optimizer, config.backend, "optimizer")
    scheduler = _component("scheduler", config.scheduler, config.backend, "scheduler", initial_lr=optimizer.lr)
    return data, model, loss, optimizer, scheduler


def _make_trainer(config, run_dir, *, data_dir, reporter):
    data, model, loss, optimizer, scheduler = build(config, data_dir=data_dir)
    run = TrainingRun(config=config, model=model, run_dir=run_dir, epochs=config.epochs)
    shuffle_rng = np.random.default_rng([config.seed, SHUFFLE_STREAM])
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


def _execute(trainer, recorder, callbacks):
    """Run the trainer, keeping the records consistent whatever happens."""
    run = trainer.run
    started = time.perf_counter()

    def checkpoint(trainer):
        if recorder is not None:
            recorder.write_checkpoint(trainer.checkpoint_arrays())
            recorder.write_parameters(run.model)
            recorder.write_metrics(run.history)

    trainer.on_checkpoint = checkpoint
    try:
        with _run_callbacks(callbacks):
            final = trainer.fit()
    except TrainingDiverged as exc:
        if recorder is not None:
            recorder.write_metrics(run.history)
            recorder.write_plots(run.history)
            where = f"the last good parameters (end of epoch {run.epoch}) are in {recorder.path(PARAMETERS_FILE)}"
        else:
            where = "no run directory was recorded"
        raise TrainingDiverged(f"{exc}; {where}; try a smaller learning rate", epoch=exc.epoch, step=exc.step) from exc
    except KeyboardInterrupt:
        if recorder is not None:
            recorder.write_checkpoint(trainer.checkpoint_arrays())
            recorder.write_metrics(run.history)
            print(
                f"\ninterrupted: checkpoint saved; continue with: corenn train --resume {recorder.run_dir}",
                file=sys.stderr,
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
        recorder.write_plots(run.history)
        recorder.write_result(result)
    return result


def train(config, *, data_dir=None, out_dir="experiments", overwrite=False, record=True, verbose=True, callbacks=()):
    """Train a config (a RunConfig, a mapping, or a TOML path) and return its result.

    With ``record``, the run's records go to ``out_dir/<name>/`` (see :mod:`corenn.records`);
    an existing run directory is an error unless ``overwrite``.
    """
    config = load_config(config)
    reporter = ConsoleReporter() if verbose else None
    trainer = _make_trainer(config, None, data_dir=data_dir, reporter=reporter)
    recorder = None
    if record:
        recorder = RunRecorder.create(out_dir, config.name, overwrite=overwrite)
        trainer.run.run_dir = recorder.run_dir
        recorder.write_config(config)
        recorder.write_parameters(trainer.run.model)
        recorder.write_checkpoint(trainer.checkpoint_arrays())
    return _execute(trainer, recorder, ([reporter] if reporter else []) + list(callbacks))


def resume(run_dir, *, data_dir=None, verbose=True, callbacks=(), epochs=None):
    """Continue a recorded run from its last checkpoint, to its configured number of epochs."""
    recorder = RunRecorder(Path(run_dir))
    if not recorder.path(CONFIG_FILE).is_file():
        raise CorennError(f"{run_dir} is not a corenn run directory (no {CONFIG_FILE})")
    config = load_config(recorder.path(CONFIG_FILE))
    if epochs is not None:
        from corenn.config import with_overrides

        config = with_overrides(config, epochs=epochs)
    reporter = ConsoleReporter() if verbose else None
    trainer = _make_trainer(config, recorder.run_dir, data_dir=data_dir, reporter=reporter)
    trainer.restore(recorder.read_checkpoint(), recorder.path("checkpoint.npz"))
    if epochs is not None:
        recorder.write_config(config)
    return _execute(trainer, recorder, ([reporter] if reporter else []) + list(callbacks))
