"""Resuming a run: continuing a recorded run from its last checkpoint, to the same result as a run
that was never stopped.

It sits beside :mod:`corenn.run.train`, whose :func:`~corenn.run.train.execute` both end in: a
resumed run builds its trainer from its recorded config, restores the checkpoint into it
(:mod:`corenn.run.checkpoints`) and trains on as a fresh run does.
"""

import shlex
from pathlib import Path

from corenn.backend import TORCH_INSTALL
from corenn.errors import ConfigError, CorennError, CorruptFileError, remember_run_dir
from corenn.records.folder import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    METRICS_CSV_FILE,
    METRICS_JSON_FILE,
    RESULT_FILE,
    RunRecorder,
)
from corenn.run.build import chosen_kernels, fit_to_data, make_trainer
from corenn.run.checkpoints import checkpoint_seconds, restore_checkpoint, write_initial_records, write_parameter_files
from corenn.run.config import config_on, load_config, with_overrides
from corenn.run.console import ConsoleReporter
from corenn.run.distributed import launch_from_environment
from corenn.run.summaries import run_summaries
from corenn.run.train import execute


def restart_command(run_dir):
    """The command line that trains the run in ``run_dir`` again from its first step."""
    run_dir = Path(run_dir)
    return (
        f"corenn train --config {shlex.quote(str(run_dir / CONFIG_FILE))} --out {shlex.quote(str(run_dir.parent))} "
        f"--name {shlex.quote(run_dir.name)} --overwrite"
    )


def resume(
    run_dir,
    *,
    data_dir=None,
    verbose=True,
    callbacks=(),
    epochs=None,
    backend=None,
    device=None,
    threads=None,
    kernels=None,
):
    """Continue a recorded run from its last checkpoint, to its configured number of epochs.

    ``epochs`` extends (or sets) the run's length; it cannot be fewer than the epochs already
    trained. ``threads`` replaces the run's thread cap (see ``RunConfig``). A finished run is not trained
    again: its recorded result is returned. The run ends exactly as an uninterrupted run with the same config would (on the numpy backend,
    bit for bit), however it was stopped.

    ``backend`` and ``device`` move the run to another backend or device: its records are
    plain numpy arrays on every backend, so the run goes on where it stopped (in float64, as
    closely as the two backends agree, about 1e-10), and its recorded config says where it
    now trains. ``kernels`` (``"fast"`` or ``"reference"``, see ``RunConfig``) changes what the
    kernels run from here on; unset, the run goes on with its recorded ``kernels``.
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
    checkpoint_seconds()  # a CORENN_CHECKPOINT_SECONDS that is not a number of seconds: refused before anything
    launch = launch_from_environment()
    if not launch.is_main:
        try:
            return _resume_as_follower(
                run_dir, launch, data_dir=data_dir, epochs=epochs, backend=backend, device=device, kernels=kernels
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
                kernels=kernels,
            )
        except Exception as exc:
            remember_run_dir(exc, run_dir)
            raise


def _check_recorded_backend(recorded, run_dir):
    """A run recorded on a backend that is not installed here (torch) goes on on numpy just as
    well: say so beside how to install it."""
    from corenn.plugins import get_plugins

    backends = get_plugins().registry.backends()
    if recorded.backend not in backends:
        install = f"it: {TORCH_INSTALL}" if recorded.backend == "torch" else "the plugin that provides it"
        raise ConfigError(
            f"the run trained on backend {recorded.backend!r}, which is not installed here (backends: "
            f"{', '.join(backends)}); continue it on another, its records being the same on every backend: "
            f"corenn train --resume {shlex.quote(str(run_dir))} --backend numpy; or install {install}"
        )


def _resume_locked(
    recorder, *, data_dir, verbose, callbacks, epochs, backend=None, device=None, threads=None, kernels=None
):
    run_dir = recorder.run_dir
    recorded = load_config(recorder.path(CONFIG_FILE))
    if backend is None:
        _check_recorded_backend(recorded, run_dir)
    config = with_overrides(
        config_on(recorded, backend=backend, device=device), epochs=epochs, threads=threads, kernels=kernels
    )
    with chosen_kernels(config):
        reporter = ConsoleReporter() if verbose else None
        say = (lambda message: print(message, file=reporter.stream, flush=True)) if reporter else (lambda message: None)
        trainer = make_trainer(config, run_dir, data_dir=data_dir, reporter=reporter, launch=launch_from_environment())
        run = trainer.run
        run_callbacks = ([reporter] if reporter else []) + list(callbacks)

        if not recorder.has_checkpoint():
            if any(recorder.path(name).exists() for name in (METRICS_JSON_FILE, METRICS_CSV_FILE, RESULT_FILE)):
                raise CorruptFileError(
                    f"{recorder.path(CHECKPOINT_FILE)} is missing but the run recorded {recorder.recorded_epochs()} "
                    f"epoch(s), so it cannot be continued exactly; start it again with: {restart_command(run_dir)}"
                )
            say(f"{run_dir} has no checkpoint: the run had not started; training it from the beginning")
            fit_to_data(trainer)
            if reporter is not None:
                reporter.describe(*run_summaries(trainer, data_dir))
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
        # Bring the records level with the checkpoint: the rows appended since it was written
        # (and a torn last line) go, and a kill between the checkpoint and the parameters'
        # files left these behind it.
        if not in_epoch:
            write_parameter_files(run, recorder)
        recorder.rewrite_rows(run, trainer.steps_per_epoch)
        where = (
            f"epoch {run.epoch + 1}, batch {trainer.epoch_progress.next_batch + 1}"
            if in_epoch
            else f"epoch {run.epoch + 1}"
        )
        if run.epoch < config.epochs:
            say(f"resuming {run_dir} at {where} of {config.epochs} epochs")
        else:
            say(f"{run_dir} had trained all {run.epoch} epochs; finishing it (test evaluation and final records)")
        if reporter is not None:
            reporter.describe(*run_summaries(trainer, data_dir))
        return execute(trainer, recorder, run_callbacks, data_dir=data_dir)


def _resume_as_follower(run_dir, launch, *, data_dir, epochs, backend, device, kernels):
    """Rank ``launch.rank`` (not 0) of a data-parallel resume: it reads the run's config and
    checkpoint, never writes nor locks the run directory, and takes the same decisions as rank 0
    (train from the start, continue, or nothing to do), so that every rank joins the same steps."""
    recorder = RunRecorder(run_dir)
    recorded = load_config(recorder.path(CONFIG_FILE))
    config = with_overrides(config_on(recorded, backend=backend, device=device), epochs=epochs, kernels=kernels)
    with chosen_kernels(config):
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
