"""Run records: ``<out>/<name>/`` holds everything a finished or interrupted run leaves.

- ``config.toml``: the resolved config (overrides applied), enough to rerun it;
- ``metrics.csv``: one row per epoch (no ``val_*`` columns when the data set has no validation
  split; a regression's hold its errors, ``train_mse``, ``val_r2``..., where a classification's
  hold accuracies), appended at each epoch's end;
- ``steps.csv``: one row per update (step, epoch, loss, learning_rate), the mini-batch losses
  the trainer read anyway, appended at each epoch's end (floats in full, ``repr``: the very
  values the checkpoint holds);
- ``metrics.json``: the same per-epoch rows as one JSON list, written with each checkpoint and
  at the end (see :mod:`corenn.run.checkpoints` for when);
- ``parameters.npz``: the learned parameters at the end of the last epoch a checkpoint was
  written for (at the end of the run: the last epoch's; the last good ones if training diverged),
  and the layers' buffers (running statistics) under ``buffer/<name>``; numpy arrays on either
  backend;
- ``best.npz``: the parameters (and buffers) of the epoch with the best validation metric
  (the config's ``best_metric``, ``val_accuracy`` by default; ties keep the earlier epoch), for
  runs with a validation split; see :func:`best_epoch`;
- ``preprocessing.json``: the class names, what a raw sample is and the standardisation fitted
  on the training split, so the run predicts new samples without its data set (see
  :mod:`corenn.records.preprocessing`);
- ``checkpoint.npz``: parameters and buffers (``param/<name>``, ``param/buffer/<name>``),
  optimizer state and the generators (batch order, augmentation), for ``--resume``;
- ``loss.png`` and ``accuracy.png`` (a regression: ``r2.png``): per-epoch curves;
  ``loss_steps.png``: the loss of every step with its moving average;
- ``result.json``: the final summary that ``corenn train --json`` prints;
- ``diverged.json``: only for a run that diverged: the epoch, step and message.

Every file but the two appended ones is written atomically (see :mod:`corenn.files`), and the
directory itself appears only once its first records are complete (see :meth:`RunRecorder.create`).
The appended files (:func:`corenn.files.append_whole`) cost the same at every epoch; a process
killed in the middle of an append can leave a torn last line, which readers skip
(:func:`read_metric_rows`). They may run ahead of the checkpoint (by the epochs since it was
written); a resumed run rewrites them from its checkpoint before it trains on.
"""

import contextlib
import csv
import errno
import os
import re
import shutil
import tempfile
from pathlib import Path

from corenn.errors import CorennError, CorruptFileError, RunExistsError
from corenn.files import (
    MAX_RECORD_BYTES,
    append_whole,
    atomic_write,
    load_arrays,
    process_umask,
    read_bounded_text,
    remove_stale_temporaries,
    save_arrays,
    write_json,
)
from corenn.records import plots

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are then not guarded against a second process
    fcntl = None

METRIC_COLUMNS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "learning_rate", "seconds")
# a regression's columns: its loss and its errors in the targets' units (see corenn.data.tasks)
REGRESSION_METRIC_COLUMNS = (
    "epoch",
    "train_loss",
    "train_mse",
    "train_mae",
    "train_r2",
    "val_loss",
    "val_mse",
    "val_mae",
    "val_r2",
    "learning_rate",
    "seconds",
)
CONFIG_FILE = "config.toml"
PARAMETERS_FILE = "parameters.npz"
BEST_PARAMETERS_FILE = "best.npz"
WHICH_PARAMETERS = ("last", "best")  # predict / evaluate --which
CHECKPOINT_FILE = "checkpoint.npz"
METRICS_CSV_FILE = "metrics.csv"
METRICS_JSON_FILE = "metrics.json"
STEPS_CSV_FILE = "steps.csv"
STEP_COLUMNS = ("step", "epoch", "loss", "learning_rate")
RESULT_FILE = "result.json"
DIVERGED_FILE = "diverged.json"  # where and why a diverged run stopped (see corenn.trained.runs)
STAGING_SUFFIX = ".staging"


def unique_run_name(out_dir, name):
    """``name``, or ``name-2``, ``name-3``... : the first that has no run directory yet (an
    empty folder counts as free: :meth:`RunRecorder.create` uses it)."""
    candidate, number = name, 1
    while _taken(Path(out_dir) / candidate):
        number += 1
        candidate = f"{name}-{number}"
    return candidate


def _taken(path):
    if not path.exists():
        return False
    try:
        return not path.is_dir() or any(path.iterdir())
    except OSError:
        return True


class RunRecorder:
    """Writes one run's records into its directory.

    A recorder that trains holds an advisory lock on its directory (:meth:`lock`), so a second
    ``corenn train --resume`` of the same run is refused instead of interleaving its records.
    The operating system releases the lock when the process ends, however it ends.
    """

    def __init__(self, run_dir):
        self.run_dir = Path(run_dir)
        self._lock_fd = None

    @classmethod
    def create(cls, out_dir, name, *, overwrite=False, initialize=None):
        """A fresh run directory; an existing one is an error unless ``overwrite``.

        ``initialize(recorder)`` writes the first records. They are written into a hidden
        staging folder that is renamed into place once complete, so ``out_dir/name`` either
        does not exist or holds them all: a run killed while starting leaves nothing that
        looks like a run. With ``initialize`` (a run that will train) the returned recorder
        holds the directory's lock until :meth:`close`; without it, no lock is kept.
        """
        out_dir = Path(out_dir)
        run_dir = out_dir / name
        if run_dir.exists() and not run_dir.is_dir():
            raise RunExistsError(f"{run_dir} exists and is not a directory")
        replace = run_dir.exists() and any(run_dir.iterdir())
        if replace and not overwrite:
            raise RunExistsError(
                f"run directory {run_dir} already exists; choose another --name, "
                f"continue it with --resume {run_dir}, or pass --overwrite to replace it"
            )
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            with _starting_runs_guard(out_dir):
                _remove_abandoned_staging(out_dir, name)
                staging = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=STAGING_SUFFIX, dir=out_dir))
                recorder = cls(staging)
                try:
                    recorder.lock()
                except CorennError:
                    shutil.rmtree(staging, ignore_errors=True)
                    raise
        except OSError as exc:
            raise CorennError(f"cannot create run directory {run_dir}: {exc.strerror or exc}") from exc
        try:
            os.chmod(staging, 0o777 & ~process_umask())  # mkdtemp's own mode is 0o700
            if initialize is not None:
                initialize(recorder)
            if replace:
                with RunRecorder(run_dir) as previous:
                    previous.lock()  # refuse to replace a run that a live process is training
                    shutil.rmtree(run_dir)
            try:
                os.replace(staging, run_dir)
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise
                raise RunExistsError(
                    f"run directory {run_dir} was created by another corenn process while this one was starting; "
                    "choose another --name (without --name, corenn picks a free one)"
                ) from None
        except BaseException as exc:
            recorder.close()
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, OSError):
                raise CorennError(f"cannot create run directory {run_dir}: {exc.strerror or exc}") from exc
            if type(exc) is CorennError and isinstance(exc.__cause__, OSError):
                # A record that could not be written: name it, not the staging folder it was in.
                reason = str(exc).replace(f"{staging}{os.sep}", "")
                raise CorennError(f"cannot create run directory {run_dir}: {reason}") from exc
            raise
        recorder.run_dir = run_dir
        if initialize is None:
            recorder.close()
        return recorder

    def lock(self):
        """Take this run directory's lock, or raise when another live process holds it."""
        if fcntl is None or self._lock_fd is not None:
            return self
        try:
            fd = os.open(self.run_dir, os.O_RDONLY)
        except OSError as exc:
            raise CorennError(f"cannot open run directory {self.run_dir}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CorennError(
                f"run directory {self.run_dir} is in use by another corenn process; "
                f"wait for it to finish or stop it, then try again"
            ) from None
        except OSError:
            os.close(fd)  # a file system without locks (some network mounts): run unguarded
            return self
        self._lock_fd = fd
        return self

    def close(self):
        """Release the directory's lock (records stay as written)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def remove_stale_temporaries(self):
        """Delete temporaries left by a process killed mid-write (call with the lock held)."""
        return remove_stale_temporaries(self.run_dir)

    def path(self, name):
        return self.run_dir / name

    def write_config(self, config):
        atomic_write(self.path(CONFIG_FILE), config.to_toml())

    def write_parameters(self, model):
        model.save_parameters(self.path(PARAMETERS_FILE))

    def write_best_parameters(self, model):
        model.save_parameters(self.path(BEST_PARAMETERS_FILE))

    def write_checkpoint(self, arrays):
        save_arrays(self.path(CHECKPOINT_FILE), arrays)

    def read_checkpoint(self):
        return load_arrays(self.path(CHECKPOINT_FILE))

    def has_checkpoint(self):
        return self.path(CHECKPOINT_FILE).is_file()

    def write_metrics(self, history):
        """Rewrite both metrics files from the whole history (a resume bringing them level with
        its checkpoint; the course's logs); a run's epochs append with :meth:`append_metrics`."""
        atomic_write(self.path(METRICS_CSV_FILE), _metrics_csv_header(history) + _metrics_csv_rows(history))
        self.write_metrics_summary(history)

    def write_metrics_summary(self, history):
        """``metrics.json``, the whole history as one JSON list (with each checkpoint and at the end)."""
        write_json(self.path(METRICS_JSON_FILE), history)

    def append_metrics(self, rows):
        """Append per-epoch rows to ``metrics.csv`` (its header first, when the file is new)."""
        append_whole(self.path(METRICS_CSV_FILE), _metrics_csv_rows(rows), header=_metrics_csv_header(rows))

    def read_metrics(self):
        """The recorded per-epoch rows, or ``[]`` when none were written (or they are unreadable)."""
        return _read_json_or_none(self.path(METRICS_JSON_FILE)) or []

    def recorded_epochs(self):
        """How many epochs the records hold: ``metrics.json``'s rows, or ``metrics.csv``'s when it
        has more (epochs appended since the last checkpoint); 0 when neither can be read."""
        try:
            appended = len(read_metric_rows(self.run_dir))
        except (OSError, CorennError):
            appended = 0
        return max(len(self.read_metrics()), appended)

    def rewrite_rows(self, run, steps_per_epoch):
        """Rewrite ``metrics.csv``, ``metrics.json`` and ``steps.csv`` from the run's state (a
        resume, from its checkpoint): rows appended after the checkpoint and a torn last line go."""
        if run.history:
            self.write_metrics(run.history)
        else:  # no row yet: the first epoch's append writes the header its columns need
            with contextlib.suppress(FileNotFoundError):
                self.path(METRICS_CSV_FILE).unlink()
            self.write_metrics_summary([])
        self.write_steps(run, steps_per_epoch)

    def write_steps(self, run, steps_per_epoch):
        """Rewrite ``steps.csv`` from the run's per-step losses and learning rates (see
        :class:`corenn.run.loop.TrainingRun`); step ``s`` (from 1) is in epoch
        ``(s - 1) // steps_per_epoch + 1``. Floats are written in full (``repr``), so the file
        holds the very values the checkpoint does."""
        atomic_write(self.path(STEPS_CSV_FILE), STEPS_CSV_HEADER + _steps_csv_rows(run, steps_per_epoch, 0))

    def append_steps(self, run, steps_per_epoch, start):
        """Append the rows of the run's steps from index ``start`` (step ``start + 1``) on to
        ``steps.csv`` (its header first, when the file is new)."""
        if start < len(run.step_losses):
            rows = _steps_csv_rows(run, steps_per_epoch, start)
            append_whole(self.path(STEPS_CSV_FILE), rows, header=STEPS_CSV_HEADER)

    def write_plots(self, history, step_losses=(), step_learning_rates=None):
        """``loss.png``, ``accuracy.png`` and ``loss_steps.png`` (see :mod:`corenn.records.plots`),
        titled with the run's name."""
        name = self.run_dir.name
        if history:
            plots.write_plots(history, self.run_dir, name=name)
        if len(step_losses):
            plots.write_step_plot(step_losses, self.run_dir, learning_rates=step_learning_rates, name=name)

    def write_result(self, result):
        write_json(self.path(RESULT_FILE), result)

    def read_result(self):
        """The recorded final result, or ``None`` when the run has not finished."""
        result = _read_json_or_none(self.path(RESULT_FILE))
        return result if isinstance(result, dict) else None

    def remove_result(self):
        """Forget the final result (a run being extended is no longer finished)."""
        with contextlib.suppress(FileNotFoundError):
            self.path(RESULT_FILE).unlink()


def best_epoch(history, metric="val_accuracy"):
    """The epoch (from 1) whose ``metric`` was best (highest accuracy or R^2, lowest loss or error; the earlier
    on ties), or ``None`` when no epoch has it (no validation split). Derived from the history
    alone, so a resumed run agrees with the one that was never stopped."""
    scored = [(row[metric], row["epoch"]) for row in history if row.get(metric) is not None]
    if not scored:
        return None
    sign = 1 if metric.endswith(("accuracy", "r2")) else -1
    return max(scored, key=lambda item: (sign * item[0], -item[1]))[1]


class BestRow:
    """The row of a history's best epoch (see :func:`best_epoch`), kept up to date one epoch at a
    time: the whole history is scanned once, at the start, then each new row is compared with the
    best so far (the same comparison, so the same epoch), at a cost that does not grow with the
    run. ``row`` is ``None`` while no epoch has ``metric``."""

    def __init__(self, history, metric):
        self.metric = metric
        best = best_epoch(history, metric)
        self.row = next((row for row in history if row["epoch"] == best), None)

    def note(self, row):
        """Take the epoch just ended, ``row``; returns whether it is the best so far."""
        candidates = [row] if self.row is None else [self.row, row]
        if best_epoch(candidates, self.metric) != row["epoch"]:
            return False
        self.row = row
        return True


def tested_parameters(run_dir):
    """Which parameters the run's own test used: ``"best"`` when it restored the best epoch's
    (``restore_best``, its result's ``restored_best``), else ``"last"``."""
    result = _read_json_or_none(Path(run_dir) / RESULT_FILE)
    return "best" if isinstance(result, dict) and result.get("restored_best") is True else "last"


def parameters_file(run_dir, which=None):
    """The parameter file of a run that ``--which`` names: ``last`` (``parameters.npz``) or
    ``best`` (``best.npz``), by default those the run's own test used (see
    :func:`tested_parameters`); raises a CorennError saying what is missing."""
    run_dir = Path(run_dir)
    which = tested_parameters(run_dir) if which is None else which
    if which not in WHICH_PARAMETERS:
        raise CorennError(f"--which must be one of {', '.join(WHICH_PARAMETERS)}, got {which!r}")
    path = run_dir / (BEST_PARAMETERS_FILE if which == "best" else PARAMETERS_FILE)
    if not path.is_file():
        if which == "best":
            raise CorennError(
                f"run {run_dir} has no {BEST_PARAMETERS_FILE}: it has no validation split (val_size = 0), finished no "
                "epoch, or was trained before corenn kept one; use --which last"
            )
        raise CorennError(f"run {run_dir} has no {PARAMETERS_FILE}; pass a directory that corenn train created")
    return path


def _read_json_or_none(path):
    """The JSON record at ``path`` through the bounded reader (:func:`corenn.files.read_json_record`:
    a regular file, of bounded size), or ``None`` when it is missing or cannot be read."""
    from corenn.files import read_json_record

    try:
        return read_json_record(path)
    except (OSError, CorennError):
        return None


_STAGING_RANDOM_PART = re.compile(r"[a-z0-9_]{8}")  # what tempfile.mkdtemp puts between prefix and suffix


def is_staging_folder_of(folder_name, name):
    """Whether ``folder_name`` is exactly what :meth:`RunRecorder.create` names the staging
    folder of run ``name``: ``.<name>.<8 random characters>.staging``. Compared as plain
    text, never as a glob pattern, because run names may hold ``*``, ``?`` or ``[``."""
    prefix = f".{name}."
    if not (folder_name.startswith(prefix) and folder_name.endswith(STAGING_SUFFIX)):
        return False
    return bool(_STAGING_RANDOM_PART.fullmatch(folder_name[len(prefix) : -len(STAGING_SUFFIX)]))


@contextlib.contextmanager
def _starting_runs_guard(out_dir):
    """Let one process at a time clear abandoned staging folders in ``out_dir`` and make its
    own: otherwise a run starting under the same name could take another's new staging folder,
    made but not yet locked, for an abandoned one and delete it. Held for milliseconds."""
    if fcntl is None:
        yield
        return
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        with contextlib.suppress(OSError):  # a file system without locks: go on unguarded
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _remove_abandoned_staging(out_dir, name):
    """Delete staging folders of runs named ``name`` that were killed while starting (their
    lock is free). Run names never start with '.' (see :mod:`corenn.run.config`), so no run's own
    folder can look like a staging folder."""
    with os.scandir(out_dir) as entries:
        candidates = [
            Path(entry.path)
            for entry in entries
            if is_staging_folder_of(entry.name, name) and entry.is_dir(follow_symlinks=False)
        ]
    for staging in candidates:
        recorder = RunRecorder(staging)
        try:
            recorder.lock()
        except CorennError:
            continue  # a live process is starting that run right now
        try:
            shutil.rmtree(staging, ignore_errors=True)
        finally:
            recorder.close()


STEPS_CSV_HEADER = ",".join(STEP_COLUMNS) + "\n"


def _metrics_csv_header(history):
    return ",".join(metric_columns(history)) + "\n"


def _metrics_csv_rows(rows):
    """The rows as ``csv.DictWriter`` writes them (a missing value empty, a float in full), built
    directly: a row is appended at every epoch's end, and this takes a fraction of the writer's time."""
    columns = metric_columns(rows)
    return "".join(",".join(_csv_field(row.get(column)) for column in columns) + "\n" for row in rows)


def _csv_field(value):
    text = "" if value is None else str(value)
    if any(character in text for character in ',"\r\n'):  # never in corenn's numbers; quoted as csv does
        return '"' + text.replace('"', '""') + '"'
    return text


def _steps_csv_rows(run, steps_per_epoch, start):
    losses, learning_rates = run.step_losses[start:], run.step_learning_rates[start:]
    return "".join(
        f"{step},{(step - 1) // steps_per_epoch + 1},{float(loss)!r},{float(learning_rate)!r}\n"
        for step, loss, learning_rate in zip(
            range(start + 1, start + 1 + len(losses)), losses, learning_rates, strict=True
        )
    )


def read_metric_rows(run_dir):
    """The rows of a run's ``metrics.csv`` as dicts of numbers (``epoch`` a whole number; a
    field left empty is left out), ``[]`` when it has none. Read through the bounded reader (a
    regular file of bounded size); a torn last line (no newline: the process was killed while
    appending it) is skipped. A file that is not such a CSV raises :class:`CorruptFileError`
    naming the line; a missing one FileNotFoundError."""
    path = Path(run_dir) / METRICS_CSV_FILE
    text = read_bounded_text(path, MAX_RECORD_BYTES, METRICS_CSV_FILE)
    lines = text.split("\n")[:-1]  # the last piece is empty, or a torn line
    if not lines:
        return []
    header, *records = csv.reader(lines)
    if not header or header[0] != "epoch" or len(set(header)) != len(header):
        raise CorruptFileError(f"{METRICS_CSV_FILE} does not start with a header of metrics (epoch, ...)")
    rows = []
    for line_number, fields in enumerate(records, start=2):
        if len(fields) != len(header):
            raise CorruptFileError(
                f"{METRICS_CSV_FILE} line {line_number} has {len(fields)} fields where its header has {len(header)}"
            )
        row = {}
        for key, field in zip(header, fields, strict=True):
            if field:
                row[key] = _csv_number(field, key == "epoch", f"{METRICS_CSV_FILE} line {line_number}'s {key}")
        if "epoch" not in row:
            raise CorruptFileError(f"{METRICS_CSV_FILE} line {line_number} has no epoch")
        rows.append(row)
    return rows


def _csv_number(field, whole, what):
    try:
        return int(field) if whole else float(field)
    except ValueError:
        kind = "a whole number" if whole else "a number"
        raise CorruptFileError(f"{what} is {field[:40]!r}, not {kind}") from None


def metric_columns(history):
    """The metrics files' columns: :data:`METRIC_COLUMNS` (a regression's history:
    :data:`REGRESSION_METRIC_COLUMNS`), less the ``val_*`` ones when no epoch has them (a data
    set without a validation split)."""
    has_validation = not history or any("val_loss" in row for row in history)
    regression = any("train_r2" in row for row in history)
    columns = REGRESSION_METRIC_COLUMNS if regression else METRIC_COLUMNS
    return [column for column in columns if has_validation or not column.startswith("val_")]


PROTECTED_SUFFIXES = (".npz", ".json", ".toml", ".csv", ".log")
"""A run keeps its records in files of these kinds (and in ``loss.png``, ``accuracy.png``,
``loss_steps.png``, its ``tensorboard`` folder); see :func:`check_output_beside_records`."""
PROTECTED_PLOTS = ("loss.png", "accuracy.png", "loss_steps.png")


def is_run_folder(folder):
    """Whether ``folder`` holds a run's records (a ``config.toml``), or is one being set up."""
    folder = Path(folder)
    return (folder / CONFIG_FILE).exists() or folder.name.endswith(STAGING_SUFFIX)


def check_output_beside_records(out, flag="--out"):
    """Refuse, in one line, an output path (``corenn predict --out``, ``corenn compare --out``)
    that would replace or add to a run's records: in a run folder a command may write new
    files and its own outputs (CSV predictions other than ``metrics.csv`` and ``steps.csv``,
    plots other than the run's), never a file of the kinds its records are kept in
    (:data:`PROTECTED_SUFFIXES`; ``predictions-*.csv`` aside), a run's plot, a hidden file,
    nor anything inside a sub-folder of the run (``tensorboard/``).

    The folder is resolved (``..`` and links), the file's own name is not: writing replaces a
    link at ``out``, never the file it points to."""
    out = Path(out)
    try:
        folder = out.parent.resolve()
    except (OSError, RuntimeError):  # a link loop: writing there fails with its own message
        return
    run = next((candidate for candidate in (folder, *folder.parents) if is_run_folder(candidate)), None)
    if run is None:
        return
    name = out.name
    protected = (
        run != folder
        or name.startswith(".")
        or name in PROTECTED_PLOTS
        or (out.suffix.lower() in PROTECTED_SUFFIXES and not (name.startswith("predictions-") and out.suffix == ".csv"))
    )
    if protected:
        inside = "" if run == folder else f" (inside {folder})"
        raise CorennError(
            f"{flag} {out} would replace or add to the records of run {run}{inside}: its .npz, .json, .toml, "
            ".csv and .log files, its plots and its sub-folders are kept as training wrote them; write the output "
            "elsewhere, or name it predictions-<name>.csv or <name>.png"
        )
