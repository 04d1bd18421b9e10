"""corenn's entry point into this package: the training hooks that write a run's TensorBoard curves.

The plugin acts only on runs whose config has a ``[plugins.tensorboard]`` table, and only where
the run writes: into ``<run_dir>/tensorboard`` by default, or into ``<log_dir>/<run name>`` when
the table gives ``log_dir``. A run without the table, or recording nothing and given no
``log_dir``, or any rank but 0 of a data-parallel run (torchrun's ``RANK``), writes nothing, and
the writer (tensorboard's) is not even imported: listing plugins and plain runs stay as cheap as
without this package.
"""

import os
import tempfile
from pathlib import Path

import corenn
from corenn.errors import ConfigError

NAME = "tensorboard"  # the entry point's name, so the config's table is [plugins.tensorboard]
DEFAULT_FLUSH_SECONDS = 10
MAX_FLUSH_SECONDS = 86400  # a day; the writer's thread waits this long at most (inf or 1e308 overflowed it)
OPTIONS = {
    "log_dir": "a folder you can write (a non-empty string; each run writes into <log_dir>/<run name>)",
    "flush_seconds": f"a positive number of seconds between writes to disk, at most {MAX_FLUSH_SECONDS}",
}

_writers = {}  # id(run) -> (run, EventWriter) for the runs being trained in this process


def options_of(config):
    """The checked ``[plugins.tensorboard]`` table of ``config``, or ``None`` when it has none."""
    table = getattr(config, "plugins", {}).get(NAME)
    if table is None:
        return None
    for key, value in table.items():
        where = f"plugins.{NAME}.{key}"
        if key not in OPTIONS:
            raise ConfigError(f"unknown key {where}; allowed: {', '.join(OPTIONS)}")
        if key == "log_dir" and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{where} must be {OPTIONS[key]}, got {value!r}")
        if key == "flush_seconds" and (
            isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_FLUSH_SECONDS
        ):
            raise ConfigError(f"{where} must be {OPTIONS[key]}, got {value!r}")
    return table


def check_log_dir(options):
    """Refuse, before training, a ``log_dir`` where no event file can be written: the user asked
    for curves, and a run that trains for hours without them is worse than one that does not
    start. The folder is made (as the writer would make it) and a temporary file tried in it."""
    if "log_dir" not in options or os.environ.get("RANK", "0") != "0":
        return
    folder = Path(options["log_dir"]).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ConfigError(
            f"plugins.{NAME}.log_dir {str(folder)!r} cannot be written ({exc.strerror or exc}); "
            "give a folder you can write, or leave log_dir out to write into the run's folder"
        ) from None


def log_dir_of(run, options):
    """Where ``run`` writes its event files, or ``None`` where it writes nothing."""
    if os.environ.get("RANK", "0") != "0":  # a data-parallel run: rank 0 alone records
        return None
    if "log_dir" in options:
        return Path(options["log_dir"]).expanduser() / run.config.name
    if run.run_dir is None:
        return None
    return Path(run.run_dir) / "tensorboard"


@corenn.hookimpl
def corenn_check_config(config):
    options = options_of(config)
    if options is not None:
        check_log_dir(options)


@corenn.hookimpl
def corenn_train_start(run):
    _close_abandoned(run)
    options = options_of(run.config)
    if options is None:
        return
    directory = log_dir_of(run, options)
    if directory is None:
        return
    from corenn_tensorboard.events import EventWriter  # imported only for a run that writes

    writer = EventWriter(directory, options.get("flush_seconds", DEFAULT_FLUSH_SECONDS))
    _writers[id(run)] = (run, writer)
    if run.step > 0:
        # A resumed run goes on from its checkpoint's step: what an earlier session wrote after
        # it (steps of an epoch cut short) is dropped by TensorBoard, as if never written.
        writer.purge_from(run.step + 1)
    else:
        writer.text("config", run.config.to_toml(), step=0)


@corenn.hookimpl
def corenn_step_end(run, step, metrics):
    writer = _writer(run)
    if writer is not None:
        for name, value in metrics.items():
            writer.scalar(f"step/{name}", value, step)


@corenn.hookimpl
def corenn_epoch_end(run, epoch, metrics):
    writer = _writer(run)
    if writer is not None:
        for name, value in metrics.items():
            if name != "epoch":
                writer.scalar(f"epoch/{name}", value, epoch)
        writer.flush()  # each epoch is on disk as soon as it ends


@corenn.hookimpl
def corenn_train_end(run, metrics):
    entry = _writers.pop(id(run), None)
    if entry is None:
        return
    writer = entry[1]
    for name in ("test_loss", "test_accuracy"):
        if metrics.get(name) is not None:
            writer.scalar(f"test/{name.removeprefix('test_')}", metrics[name], run.epoch)
    writer.close()


def _writer(run):
    entry = _writers.get(id(run))
    return entry[1] if entry is not None and entry[0] is run else None


def _close_abandoned(current):
    """Close the writers of runs that ended without ``corenn_train_end`` (a failure or an
    interrupt), so a process training run after run (a sweep) keeps no stale files open."""
    for key, (run, writer) in list(_writers.items()):
        if run is not current:
            writer.close()
            del _writers[key]
