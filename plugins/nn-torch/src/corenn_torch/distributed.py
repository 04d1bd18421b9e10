"""The process group of a data-parallel run, on torch.distributed: gloo on CPUs, NCCL on CUDA.

corenn's trainer (:mod:`corenn.run.loop`) asks for it through the ``corenn_process_group`` hook
when ``WORLD_SIZE`` is above 1, and calls the methods the hook's documentation lists. A step's
gradients are summed bucket by bucket (:class:`corenn.run.distributed.GradientBuckets`), each
bucket by one asynchronous ``all_reduce`` started while backward still runs
(:meth:`ProcessGroup.start_all_reduce_sum`): a bucket of one contiguous array is reduced in place,
a bucket of several is copied into one flat buffer (with the step's totals: loss, correct
predictions) and back. numpy arrays reach gloo through ``torch.from_numpy``: the same memory, no
further copy.
"""

import atexit
import datetime
import os

import numpy as np
import torch
import torch.distributed as dist

from corenn.errors import CorennError


def _is_numpy(array):
    return isinstance(array, np.ndarray)


class ProcessGroup:
    """This process's membership of the run's group, and the collectives the trainer uses."""

    def __init__(self, rank, world_size, device):
        self.rank = rank
        self.world_size = world_size
        self.device = device  # where the collectives' buffers live: the CPU (gloo) or this rank's GPU (NCCL)
        self._buffers = {}

    @classmethod
    def start(cls, launch, arrays, timeout):
        """Join the group described by torchrun's variables (``MASTER_ADDR``, ``MASTER_PORT``,
        ``RANK``, ``WORLD_SIZE``); NCCL when the run computes on a CUDA device, else gloo."""
        device = arrays.device if isinstance(arrays.device, torch.device) else torch.device("cpu")
        backend = "nccl" if device.type == "cuda" else "gloo"
        options = {"device_id": device} if backend == "nccl" else {}
        try:
            dist.init_process_group(
                backend,
                store=_store(launch, timeout),
                rank=launch.rank,
                world_size=launch.world_size,
                timeout=datetime.timedelta(seconds=timeout),
                **options,
            )
        except (RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CorennError(
                f"rank {launch.rank} of {launch.world_size} could not join the {backend} process group within "
                f"{timeout} s ({first}); start every process with torchrun (MASTER_ADDR and MASTER_PORT must "
                "reach rank 0), or raise CORENN_DISTRIBUTED_TIMEOUT"
            ) from exc
        atexit.register(_leave)
        return cls(launch.rank, launch.world_size, device)

    def _take_buffer(self, size, dtype, numpy):
        """A flat buffer of ``size`` values, kept between steps: no allocation per step. Each
        all-reduce under way holds its own until :meth:`PendingSum.wait` gives it back."""
        dtype = np.dtype(dtype) if numpy else dtype
        free = self._buffers.setdefault((size, str(dtype), numpy), [])
        if free:
            return free.pop()
        return np.empty(size, dtype=dtype) if numpy else torch.empty(size, dtype=dtype, device=self.device)

    def _give_back_buffer(self, buffer, numpy):
        self._buffers[(buffer.shape[0], str(buffer.dtype), numpy)].append(buffer)

    def _failed(self, exc):
        """A peer died or timed out: gloo and NCCL say so in a long message; its first line."""
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return CorennError(f"rank {self.rank}: a collective with the other ranks failed ({first})")

    def _all_reduce(self, tensor, op=dist.ReduceOp.SUM, async_op=False):
        try:
            return dist.all_reduce(tensor, op=op, async_op=async_op)
        except RuntimeError as exc:
            raise self._failed(exc) from exc

    def _in_place(self, array):
        """``array`` as a tensor that an all-reduce may write into, or ``None`` when it must be copied."""
        if _is_numpy(array):
            usable = self.device.type == "cpu" and array.flags.c_contiguous and array.flags.writeable
            return torch.from_numpy(array) if usable and array.size else None
        return array if array.is_contiguous() and array.device == self.device and array.numel() else None

    def start_all_reduce_sum(self, arrays, scalars=()):
        """Start summing ``arrays`` (numpy arrays or tensors of one dtype) across ranks in place,
        with the numbers ``scalars``, by one asynchronous ``all_reduce``; returns a
        :class:`PendingSum`, whose ``wait()`` finishes the sums and returns the summed scalars.
        The arrays must stay untouched until then. One array and no scalars: reduced where it
        lies; else copied into a flat buffer (the arrays' dtype) and back."""
        if len(arrays) == 1 and not scalars:
            tensor = self._in_place(arrays[0])
            if tensor is not None:
                return PendingSum(self, self._all_reduce(tensor, async_op=True))
        numpy = (not arrays or _is_numpy(arrays[0])) and self.device.type == "cpu"
        dtype = arrays[0].dtype if arrays else (np.float64 if numpy else torch.float64)
        sizes = [int(np.prod(array.shape)) for array in arrays]
        flat = self._take_buffer(sum(sizes) + len(scalars), dtype, numpy)
        position = 0
        for array, size in zip(arrays, sizes, strict=True):
            if numpy:
                flat[position : position + size] = array.reshape(-1)
            else:
                flat[position : position + size].copy_(array.reshape(-1))
            position += size
        for offset, value in enumerate(scalars):
            flat[position + offset] = float(value)
        try:
            work = self._all_reduce(torch.from_numpy(flat) if numpy else flat, async_op=True)
        except CorennError:
            self._give_back_buffer(flat, numpy)
            raise
        return PendingSum(self, work, arrays, sizes, flat, numpy)

    def all_reduce_sum(self, arrays, scalars=()):
        """Sum ``arrays`` (numpy arrays or tensors of one dtype) across ranks in place, with the
        numbers ``scalars``, in one flat buffer and one ``all_reduce``; returns the summed scalars."""
        return self.start_all_reduce_sum(arrays, scalars).wait()

    def all_reduce_max(self, values):
        tensor = torch.as_tensor(np.array(values, dtype=np.float64), device=self.device)
        self._all_reduce(tensor, op=dist.ReduceOp.MAX)
        return tensor.cpu().numpy()

    def broadcast(self, arrays):
        """Overwrite ``arrays`` with rank 0's, in place."""
        for array in arrays:
            tensor = torch.from_numpy(array) if _is_numpy(array) else array
            if tensor.is_contiguous() and tensor.device == self.device:
                dist.broadcast(tensor, src=0)
            else:
                copy = tensor.contiguous().to(self.device)
                dist.broadcast(copy, src=0)
                tensor.copy_(copy)

    def close(self):
        _leave()


class PendingSum:
    """An all-reduce under way (see :meth:`ProcessGroup.start_all_reduce_sum`)."""

    def __init__(self, group, work, arrays=(), sizes=(), flat=None, numpy=True):
        self._group, self._work = group, work
        self._arrays, self._sizes, self._flat, self._numpy = arrays, sizes, flat, numpy

    def wait(self):
        """Wait for the sums; copy them into the arrays (from a flat buffer); return the summed scalars."""
        try:
            self._work.wait()
        except RuntimeError as exc:
            raise self._group._failed(exc) from exc
        flat, self._flat = self._flat, None
        if flat is None:
            return []
        position = 0
        for array, size in zip(self._arrays, self._sizes, strict=True):
            if self._numpy:
                np.copyto(array, flat[position : position + size].reshape(array.shape))
            else:
                array.copy_(flat[position : position + size].view(array.shape))
            position += size
        scalars = [float(value) for value in flat[position:].tolist()]
        self._group._give_back_buffer(flat, self._numpy)
        return scalars


def _store(launch, timeout):
    """The key-value store the ranks meet in: torchrun's own (its agent hosts it at ``MASTER_ADDR``
    and ``MASTER_PORT``), else one that rank 0 hosts there; its keys prefixed by the restart's
    number, so that ranks restarted by torchrun never read the addresses of the ranks they replace."""
    hosted_by_torchrun = os.environ.get("TORCHELASTIC_USE_AGENT_STORE", "").lower() == "true"
    address, port = os.environ.get("MASTER_ADDR"), os.environ.get("MASTER_PORT")
    if not address or not port or not port.isdigit():
        raise CorennError(
            f"rank {launch.rank} of {launch.world_size}: MASTER_ADDR and MASTER_PORT must say where rank 0 listens "
            "(torchrun sets them); start the processes with torchrun or corenn train --nproc N"
        )
    store = dist.TCPStore(
        address,
        int(port),
        launch.world_size,
        is_master=launch.is_main and not hosted_by_torchrun,
        timeout=datetime.timedelta(seconds=timeout),
    )
    return dist.PrefixStore(f"corenn/restart_{launch.restart_count}", store)


def _leave():
    if dist.is_initialized():
        dist.destroy_process_group()
