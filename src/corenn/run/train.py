"""Training a run from its config: ``train(config)`` builds it, records it and runs its trainer
to the end; :func:`execute` (shared with resuming) keeps the records consistent however the run
ends. Both return the run's result (the dict that ``corenn train --json`` prints).
"""

import contextlib
import sys

import attrs
import numpy as np

from corenn.errors import CorennError, RunExistsError, TrainingDiverged, remember_run_dir, remember_saved
from corenn.files import write_json
from corenn.plugins import get_plugins
from corenn.records.folder import DIVERGED_FILE, PARAMETERS_FILE, RunRecorder, best_epoch, unique_run_name
from corenn.run.build import chosen_kernels, fit_to_data, make_trainer
from corenn.run.checkpoints import (
    RecordsNotWritten,
    RunRecords,
    checkpoint_seconds,
    elapsed_seconds,
    resumable_on_write_error,
    resume_command,
    save_after_error,
    save_interrupted,
    start_clock,
    write_initial_records,
)
from corenn.run.config import load_config, with_overrides
from corenn.run.console import ConsoleReporter
from corenn.run.distributed import launch_from_environment
from corenn.run.early_stopping import BestParameters, EarlyStopping, stopped_early
from corenn.run.interrupts import DeferredInterrupt
from corenn.run.loop import task_result
from corenn.run.resources import check_disk_space
from corenn.run.summaries import run_summaries

NAME_ATTEMPTS = 20


def train(
    config,
    *,
    data_dir=None,
    out_dir="experiments",
    overwrite=False,
    free_name=True,
    record=True,
    verbose=True,
    callbacks=(),
    evaluate_test=True,
):
    """Train a config (a RunConfig, a mapping, or a TOML path) and return its result.

    With ``record``, the run's records go to ``out_dir/<name>/`` (see :mod:`corenn.records.folder`).
    A name already taken is handled as ``corenn train`` does: with ``free_name`` (the default,
    the CLI without ``--name``) the run takes the first free ``name-2``, ``name-3``...; without
    it (the CLI's ``--name``) an existing run directory is an error unless ``overwrite``. The
    directory appears only once it holds the config, the initial parameters and a checkpoint,
    so a run killed at any moment can be continued with :func:`corenn.run.resume.resume`
    (or had not started at all).

    The whole run computes with the kernels its config's ``kernels`` names (see
    :func:`corenn.run.build.chosen_kernels`).

    ``evaluate_test=False`` leaves the test split alone (a sweep looks at it once, for its best
    run only): the result's ``test_*`` entries are then ``None``.
    """
    config = load_config(config)
    checkpoint_seconds()  # a CORENN_CHECKPOINT_SECONDS that is not a number of seconds: refused before the run starts
    launch = launch_from_environment()
    if not launch.is_main:  # in a data-parallel run, rank 0 alone reports and records
        verbose = record = False
    with chosen_kernels(config):
        if not (record and free_name and not overwrite):
            return _train(config, data_dir, out_dir, overwrite, record, verbose, callbacks, evaluate_test, launch)
        # Runs started at the same moment can pick the same free name; the one that loses the race
        # takes the next one.
        for attempt in range(NAME_ATTEMPTS):
            named = with_overrides(config, name=unique_run_name(out_dir, config.name))
            try:
                return _train(named, data_dir, out_dir, False, record, verbose, callbacks, evaluate_test, launch)
            except RunExistsError:
                if attempt == NAME_ATTEMPTS - 1:
                    raise


def _train(config, data_dir, out_dir, overwrite, record, verbose, callbacks, evaluate_test, launch):
    reporter = ConsoleReporter() if verbose else None
    try:
        trainer = make_trainer(config, None, data_dir=data_dir, reporter=reporter, launch=launch)
        fit_to_data(trainer)
    except Exception as exc:
        if record and not isinstance(exc, CorennError):
            _record_failed_start(config, out_dir, overwrite, exc)
        raise
    if reporter is not None:
        reporter.describe(*run_summaries(trainer, data_dir))
    if not evaluate_test:
        trainer.data = attrs.evolve(trainer.data, test=None)
    recorder = None
    if record:
        check_disk_space(trainer.run.model, out_dir)
        initialize = write_initial_records(trainer, config)
        recorder = RunRecorder.create(out_dir, config.name, overwrite=overwrite, initialize=initialize)
        trainer.run.run_dir = recorder.run_dir
    try:
        return execute(trainer, recorder, ([reporter] if reporter else []) + list(callbacks), data_dir=data_dir)
    except Exception as exc:
        if recorder is not None:
            remember_run_dir(exc, recorder.run_dir)
        raise
    finally:
        if recorder is not None:
            recorder.close()


def _record_failed_start(config, out_dir, overwrite, exc):
    """A bug that stopped a run while it was being built (a layer whose first forward raises) gets
    the run's folder all the same, holding its config, so that the CLI keeps the traceback there
    (``error.log``) as it does for a run that fails later; once the bug is fixed, ``corenn train
    --resume`` trains the run from the beginning (it has no checkpoint). Nothing is recorded when
    the folder cannot be made (the name was taken meanwhile, the disk is full): the error itself
    matters more."""
    try:
        recorder = RunRecorder.create(
            out_dir, config.name, overwrite=overwrite, initialize=lambda r: r.write_config(config)
        )
    except CorennError:
        return
    recorder.close()
    remember_run_dir(exc, recorder.run_dir)


def train_under_a_free_name(config, *, data_dir=None, out_dir="experiments", verbose=True):
    """:func:`train` under the config's name or the first free ``name-N`` in ``out_dir`` (what
    :func:`train` does by default; kept for callers that name it)."""
    return train(config, data_dir=data_dir, out_dir=out_dir, verbose=verbose, free_name=True)


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


TINY_STEP_WORK = 1 << 20
"""Parameters times samples of a batch times positions of a sample (an image's pixels; 1 for a
row of features), a bound on a step's multiply-adds, below which a network is tiny: its products
take microseconds, so threads only wake and wait on each other (see :func:`training_threads`)."""


def training_threads(trainer):
    """The threads a run trains with: its config's ``threads``; unset, the libraries' default (one
    per core), except for a tiny network (under :data:`TINY_STEP_WORK`) on a backend whose
    ``tiny_work_threads`` says how many such a network trains fastest with. torch's says 1: its
    intra-op threads (OpenMP) parallelise even a 25 x 32 softmax, and on a busy 2-core machine
    each such operation then waited 0.2 to 1 ms for the other thread, against 10 us alone."""
    threads = getattr(trainer.run.config, "threads", None)
    tiny_threads = getattr(trainer.arrays, "tiny_work_threads", None)
    if threads is not None or tiny_threads is None:
        return threads
    positions = int(np.prod(trainer.data.train.X.shape[1:-1]))
    n_parameters = sum(int(np.prod(value.shape)) for value in trainer.run.model.named_parameters().values())
    return tiny_threads if n_parameters * trainer.batch_size * positions < TINY_STEP_WORK else None


def _restore_best(trainer, best_parameters):
    """Before the test: the best epoch's parameters into the model (``restore_best``). From then
    on the model is not the state the last checkpoint holds, so an interrupt saves none."""
    if best_parameters.restore(trainer.run) not in (None, trainer.run.epoch):
        trainer.changing_state = True


def execute(trainer, recorder, callbacks, *, data_dir=None):
    """Run the trainer to its end, keeping the records consistent whatever happens (see
    :class:`corenn.run.checkpoints.RunRecords`); returns the run's result. ``recorder`` is
    ``None`` for a run that records nothing. :func:`train` and
    :func:`corenn.run.resume.resume` both end here."""
    run = trainer.run
    start_clock(trainer)
    if getattr(run.config, "patience", None) is not None:
        callbacks = [*callbacks, EarlyStopping(run.config.patience, run.config.best_metric)]
    best_parameters = None
    if getattr(run.config, "restores_best", False):
        best_parameters = BestParameters(
            run.config.best_metric, to_numpy=trainer.arrays.to_numpy, keep_copies=recorder is None
        )
        callbacks = [*callbacks, best_parameters]
    command = resume_command(recorder.run_dir, data_dir) if recorder is not None else None
    records = RunRecords(trainer, recorder) if recorder is not None else None

    def epoch_end(trainer):
        with resumable_on_write_error(command):
            records.epoch_end()

    def before_test(trainer):
        if records is not None:  # the last state's checkpoint, before restore_best changes the model
            with resumable_on_write_error(command):
                records.finish_training()
        if best_parameters is not None:
            _restore_best(trainer, best_parameters)

    trainer.on_checkpoint = epoch_end if records is not None else None
    trainer.before_test = before_test
    if recorder is not None:  # a resumed run that had diverged is running again
        with contextlib.suppress(FileNotFoundError):
            recorder.path(DIVERGED_FILE).unlink()
    try:
        with _run_callbacks(callbacks), trainer.arrays.limit_threads(training_threads(trainer)):
            final = trainer.fit()
    except TrainingDiverged as exc:
        if recorder is not None:
            with contextlib.suppress(CorennError):  # a full disk must not hide why training stopped
                records.diverged()
                recorder.write_plots(run.history, run.step_losses, run.step_learning_rates)
            kept = records.kept_parameters_text()
            where = f"the last good parameters ({kept}) are in {recorder.path(PARAMETERS_FILE)}"
            with contextlib.suppress(CorennError):  # marks the run for corenn runs
                write_json(recorder.path(DIVERGED_FILE), {"epoch": exc.epoch, "step": exc.step, "error": str(exc)})
        else:
            where = "no run directory was recorded"
        raise TrainingDiverged(f"{exc}; {where}; try a smaller learning rate", epoch=exc.epoch, step=exc.step) from exc
    except KeyboardInterrupt:
        if recorder is not None:
            with DeferredInterrupt.ignored():
                print(f"\n{save_interrupted(trainer, records)}; continue with: {command}", file=sys.stderr, flush=True)
        raise
    except RecordsNotWritten:
        raise
    except Exception as exc:  # a bug in a plugin's layer, say: keep what was trained since the last checkpoint
        if recorder is not None:
            with DeferredInterrupt.ignored():
                where = save_after_error(trainer, records)
            if where is not None:
                remember_saved(exc, f"checkpoint saved ({where}); once it is fixed, continue with: {command}")
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
        "seconds": elapsed_seconds(trainer),  # every session of a resumed run, not only this one
        "run_dir": str(recorder.run_dir) if recorder is not None else None,
    }
    result |= task_result(final, getattr(trainer, "task", "classification"))  # a regression's task and error metrics
    metric = getattr(run.config, "best_metric", "val_accuracy")
    best = best_epoch(run.history, metric)
    result["best_epoch"] = best
    result[f"best_{metric}"] = None if best is None else run.history[best - 1][metric]
    result["stopped_early"] = stopped_early(run)
    result["restored_best"] = best_parameters is not None and best_parameters.epoch is not None
    if recorder is not None:
        try:
            with resumable_on_write_error(command):
                # The checkpoint, parameters.npz (the last epoch's, also when restore_best put the
                # best epoch's into the model) and the metrics were written before the test.
                recorder.write_plots(run.history, run.step_losses, run.step_learning_rates)
                recorder.write_result(result)
        except KeyboardInterrupt:
            message = f"interrupted while writing the final records; training is complete; finish with: {command}"
            print(f"\n{message}", file=sys.stderr, flush=True)
            raise
    return result
