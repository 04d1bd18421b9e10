"""Data-parallel training, the core's side: torchrun's variables, each rank's share of a batch,
and the process group found through the ``corenn_process_group`` hook.

A run started by ``torchrun`` (or ``corenn train --nproc N``) runs one process per rank. Every
process builds the same run from the same config and seed; each step, every rank takes its
contiguous share of the same global batch (the config's ``batch_size``, in the order one process
would use), and all-reduces sum the gradients (see :class:`corenn.run.loop.Trainer`): one per
bucket of layers, each started as soon as backward has finished its layers, so that the sums of
the last layers travel while the first layers still compute (:class:`GradientBuckets`). The
process group itself (gloo or NCCL) lives in a plugin that may import torch (corenn-torch's
``corenn_torch.distributed``): the core never imports torch, and a run without ``WORLD_SIZE``
(or with ``WORLD_SIZE=1``) is exactly the single process it always was.
"""

import json
import os
import time

import attrs

from corenn.backend import TORCH_INSTALL
from corenn.errors import ConfigError, CorennError
from corenn.machine import environment_number

TIMEOUT_VARIABLE = "CORENN_DISTRIBUTED_TIMEOUT"
DEFAULT_TIMEOUT_SECONDS = 300
BUCKET_VARIABLE = "CORENN_BUCKET_MB"
DEFAULT_BUCKET_MB = 1.0
"""Megabytes of gradients per all-reduce (see :class:`GradientBuckets`); 0 sums every gradient in
one all-reduce once the whole backward is done (no overlap)."""
LAUNCHER_VARIABLE = "CORENN_LAUNCHER"
"""Set (to its process id) by ``corenn train --nproc``'s launcher for the processes it starts: their
errors go to it (see :func:`report_to_launcher`), which says each distinct one once."""


class ParametersDrifted(CorennError):
    """The ranks' parameters differ: the data-parallel run no longer trains one model."""


@attrs.frozen
class Launch:
    """Where this process sits in a launch: torchrun's ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``,
    and how often the group was restarted (``TORCHELASTIC_RESTART_COUNT``) of at most
    ``TORCHELASTIC_MAX_RESTARTS``. A plain ``corenn train`` is rank 0 of a world of 1."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    restart_count: int = 0
    max_restarts: int = 0

    @property
    def distributed(self):
        return self.world_size > 1

    @property
    def is_main(self):
        """Rank 0 alone writes the run's records and checkpoints, and prints progress."""
        return self.rank == 0

    @property
    def restarted(self):
        return self.restart_count > 0


def _variable(environ, name, default, minimum):
    text = environ.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"environment variable {name}={text!r} must be an integer (torchrun sets it)") from None
    if value < minimum:
        raise ConfigError(f"environment variable {name}={value} must be at least {minimum}")
    return value


def launch_from_environment(environ=None):
    """The :class:`Launch` described by torchrun's variables (all absent: a single process)."""
    environ = os.environ if environ is None else environ
    launch = Launch(
        rank=_variable(environ, "RANK", 0, 0),
        local_rank=_variable(environ, "LOCAL_RANK", 0, 0),
        world_size=_variable(environ, "WORLD_SIZE", 1, 1),
        restart_count=_variable(environ, "TORCHELASTIC_RESTART_COUNT", 0, 0),
        max_restarts=_variable(environ, "TORCHELASTIC_MAX_RESTARTS", 0, 0),
    )
    if launch.rank >= launch.world_size:
        raise ConfigError(f"RANK={launch.rank} must be below WORLD_SIZE={launch.world_size}")
    return launch


def timeout_seconds(environ=None):
    """How long a collective (and the group's start) may wait for the other ranks before the run
    stops with an error: ``CORENN_DISTRIBUTED_TIMEOUT`` seconds, 300 when unset."""
    environ = os.environ if environ is None else environ
    return _variable(environ, TIMEOUT_VARIABLE, DEFAULT_TIMEOUT_SECONDS, 1)


def bucket_bytes(environ=None):
    """Bytes of gradients per all-reduce: ``CORENN_BUCKET_MB`` megabytes (a number >= 0; 0 for one
    all-reduce after the whole backward), 1 MB when unset. Every rank must use the same value
    (torchrun and ``corenn train --nproc`` pass the launcher's environment to all of them)."""
    megabytes = environment_number(
        BUCKET_VARIABLE,
        DEFAULT_BUCKET_MB,
        unit="megabytes",
        zero_means="one all-reduce after the whole backward",
        environ=environ,
    )
    return max(1, round(megabytes * 1e6)) if megabytes > 0 else 0  # any size above 0 overlaps


class GradientBuckets:
    """Sums a data-parallel step's gradients across the ranks, bucket by bucket, while backward
    still runs: PyTorch DDP's overlap of communication with computation.

    The parameters are grouped, in the order backward finishes them (the last layer first, and
    within a layer in reverse order, as DDP does), into buckets of about ``bucket_bytes``: a
    bucket closes as soon as it holds that many bytes (a bucket of one array is reduced where it
    lies, others through a flat buffer: the group's choice). The model's backward calls :meth:`layer_done`
    after each layer; once a bucket's last layer is done, its all-reduce starts (the group's
    ``start_all_reduce_sum``) and the lower layers' backward runs while the group sends it. The
    step's scalars (loss, stop flag, scores) travel in the first bucket. :meth:`backward_and_sum`
    waits for every bucket before it returns, so the optimizer sees the whole sums.

    Every rank makes the same buckets from the same model and calls the collectives in the same
    order. ``bucket_bytes = 0`` (or a group without ``start_all_reduce_sum``) sums everything in
    one ``all_reduce_sum`` after the whole backward, as does the first step (whose gradients
    give the buckets' sizes). The sums are the same numbers whatever the
    buckets on 2 ranks (each value is one rank's plus the other's); on more ranks a value's sum may
    be ordered differently, which changes only its last bits.
    """

    def __init__(self, group, model, bucket_bytes):
        self.group = group
        self.model = model
        overlap = bucket_bytes > 0 and hasattr(group, "start_all_reduce_sum")
        self.bucket_bytes = bucket_bytes if overlap else 0
        self.buckets = None  # [[(layer index, gradient key), ...], ...] in backward order; see _plan
        self._starting_at = {}  # layer index: the buckets whose last layer it is
        self._pending = []
        self._scalars = ()

    def _plan(self):
        """The buckets, from the gradients a backward left (their names and sizes never change)."""
        from corenn.nn.model import array_bytes

        self.buckets, bucket, size = [], [], 0
        for index in reversed(range(len(self.model.layers))):
            for key, value in reversed(list(self.model.layers[index].gradients.items())):
                bucket.append((index, key))
                size += array_bytes(value)
                if self.bucket_bytes and size >= self.bucket_bytes:
                    self.buckets.append(bucket)
                    bucket, size = [], 0
        if bucket or not self.buckets:
            self.buckets.append(bucket)
        self._starting_at = {}
        for number, members in enumerate(self.buckets):
            last_layer = min((index for index, _ in members), default=0)
            self._starting_at.setdefault(last_layer, []).append(number)

    def _arrays(self, number):
        layers = self.model.layers
        return [layers[index].gradients[key] for index, key in self.buckets[number]]

    def backward_and_sum(self, backward, scalars):
        """Run ``backward(after_layer)`` (the model's backward with that callback; ``None`` when this
        rank has no samples in the step and its gradients are zeros) and sum the gradients, in
        place, and ``scalars`` across the ranks; returns the summed scalars."""
        if not self.bucket_bytes or self.buckets is None:
            # No overlap; and the first step's, whose backward makes the buckets (a layer may make
            # its gradients in its first backward)
            if backward is not None:
                backward(None)
            if self.bucket_bytes:
                self._plan()
            return self.group.all_reduce_sum(list(self.model.named_gradients().values()), scalars=scalars)
        self._pending, self._scalars = [], list(scalars)
        try:
            if backward is not None:
                backward(self.layer_done)
            for number in range(len(self._pending), len(self.buckets)):  # no backward, or layers without one
                self._start(number)
            summed = [pending.wait() for pending in self._pending]
        finally:
            self._pending = []
        return summed[0]

    def layer_done(self, index):
        """Start the all-reduce of every bucket whose last layer was layer ``index``."""
        for number in self._starting_at.get(index, ()):
            self._start(number)

    def _start(self, number):
        scalars = self._scalars if number == 0 else ()
        self._pending.append(self.group.start_all_reduce_sum(self._arrays(number), scalars=scalars))


def share(n_samples, rank, world_size):
    """``(start, stop)`` of rank ``rank``'s contiguous share of ``n_samples`` samples: the first
    ``n_samples % world_size`` ranks take one sample more than the others."""
    base, extra = divmod(n_samples, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def check_world_fits(world_size, batch_size, n_train, uses_sync_batch_norm):
    """Refuse a world that cannot share the global batch: every rank needs a sample of every full
    batch; with synchronised batch norm also of the last, smaller one (each rank's statistics
    take part in every step's reductions)."""
    if world_size > batch_size:
        raise ConfigError(
            f"world size {world_size} is larger than the global batch (dataset.batch_size = {batch_size}): "
            f"every rank needs a share of each batch; use at most {batch_size} processes or a larger batch"
        )
    last = n_train % batch_size
    if uses_sync_batch_norm and 0 < last < world_size:
        raise ConfigError(
            f"sync_batch_norm with {world_size} processes needs every batch to hold at least {world_size} samples, "
            f"but the last batch of each epoch holds {last} ({n_train} training samples, batch_size = {batch_size}); "
            "change the batch size or the number of processes"
        )


def start_process_group(launch, arrays):
    """The process group of a distributed launch, from the plugin that implements the
    ``corenn_process_group`` hook (corenn-torch), or ``None`` for a single process."""
    if not launch.distributed:
        return None
    from corenn.plugins import get_plugins

    try:
        group = get_plugins().manager.hook.corenn_process_group(launch=launch, arrays=arrays, timeout=timeout_seconds())
    except ImportError as exc:
        raise ConfigError(
            f"training on {launch.world_size} processes needs PyTorch and corenn-torch ({exc}); "
            f"install them: {TORCH_INSTALL}"
        ) from exc
    if group is None:
        raise ConfigError(
            f"training on {launch.world_size} processes (WORLD_SIZE={launch.world_size}) needs a plugin with a "
            f"process group (the corenn_process_group hook), such as corenn-torch: {TORCH_INSTALL}"
        )
    return group


def checksums(named_arrays):
    """Two float64 numbers per array (its sum and its sum of squares): cheap to compare across ranks,
    and changed by any drift worth the name."""
    import numpy as np

    values = []
    for value in named_arrays.values():
        as_float = value.double() if hasattr(value, "double") else np.asarray(value, dtype=np.float64)
        values += [float(as_float.sum()), float((as_float * as_float).sum())]
    return np.asarray(values, dtype=np.float64)


def check_same_parameters(group, model, epoch):
    """Stop with :class:`ParametersDrifted` when the ranks' parameters differ after ``epoch``:
    one all-reduce of the checksums and of their negatives (max both) gives every rank the
    largest and the smallest value of each."""
    import numpy as np

    named = model.named_parameters()
    mine = checksums(named)
    extremes = group.all_reduce_max(np.concatenate([mine, -mine]))
    largest, smallest = extremes[: len(mine)], -extremes[len(mine) :]
    differ = np.flatnonzero(largest != smallest)
    if differ.size:
        name = list(named)[differ[0] // 2]
        raise ParametersDrifted(
            f"the ranks' parameters differ after epoch {epoch} (first {name}: checksums from {smallest[differ[0]]!r} "
            f"to {largest[differ[0]]!r}); the ranks no longer train one model (a non-deterministic plugin "
            "component, or a rank started from other parameters?)"
        )


def launched_by_corenn(environ=None):
    """Whether this process is a rank that ``corenn train --nproc`` started (through torchrun,
    which gives each rank a file for its error: ``TORCHELASTIC_ERROR_FILE``)."""
    environ = os.environ if environ is None else environ
    return bool(environ.get(LAUNCHER_VARIABLE)) and bool(environ.get("TORCHELASTIC_ERROR_FILE"))


def report_to_launcher(line, environ=None):
    """Leave this rank's one-line error for the launcher (in torchrun's error file, which torchrun
    hands to the launcher with the rank's exit status) instead of printing it: every rank that
    builds the same run from the same config meets the same mistake, and the launcher prints each
    distinct line once. Returns whether the line was left."""
    environ = os.environ if environ is None else environ
    path = environ.get("TORCHELASTIC_ERROR_FILE")
    if not path:
        return False
    try:
        with open(path, "w", encoding="utf-8") as stream:
            json.dump({"message": line, "timestamp": int(time.time())}, stream)
    except OSError:
        return False
    return True
