"""The trainer's array backend for torch: the data on the device, every step kept there.

corenn's trainer (:mod:`corenn.run.loop`) is backend-neutral; what it does with arrays goes
through an array backend object. :class:`TorchArrays` is the torch one. corenn imports this
module only when a run's backend is ``torch`` (``corenn.run.arrays.array_backend``), so
numpy runs never import torch.

- Each split is converted once: inputs in the run's dtype, one-hot targets, int64 labels,
  all on the device; a batch is an index into them (the epoch's order moves there once).
- Correct predictions are counted into a device scalar that the trainer reads once an epoch,
  not once a step (the loss, a Python float by the component API, is still read every step).
- Evaluation runs under ``torch.no_grad()``.
- Image operations for augmentation and test-time views (padding with zeros or by reflection,
  crops, flips, shifts) run on the device and give exactly what the numpy backend gives.
"""

import contextlib
import os

import torch
import torch.nn.functional as F

from corenn.data.loader import PreparedSplit
from corenn.errors import ConfigError
from corenn.run.arrays import limited_blas_threads
from corenn.run.resources import host_memory_available


def resolve_device(device):
    """A ``torch.device`` for a config's ``device`` (``cpu``, ``cuda``, ``cuda:<n>`` or ``auto``).

    Under torchrun, ``cuda`` (and ``auto`` on a machine with GPUs) means this process's GPU,
    ``cuda:<LOCAL_RANK>``: one process per GPU."""
    local_rank = os.environ.get("LOCAL_RANK")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and local_rank is not None and local_rank.isdigit():
        device = f"cuda:{local_rank}"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {device!r}: no CUDA device is available to torch here; use --device cpu (or auto)"
            )
        index = torch.device(device).index
        if index is not None and index >= torch.cuda.device_count():
            raise ConfigError(
                f"device {device!r}: torch sees {torch.cuda.device_count()} CUDA device(s), numbered from 0; "
                f"use --device cuda (the first) or cpu"
            )
    return torch.device(device)


class TorchArrays:
    """What the trainer does with tensors on one device (see corenn.run.arrays.NumpyArrays)."""

    name = "torch"

    def __init__(self, device):
        self.device = device

    @classmethod
    def for_device(cls, device):
        return cls(resolve_device(device))

    def to_device(self, array):
        """A numpy array as a tensor on the device; shares memory with it on the CPU."""
        return torch.as_tensor(array, device=self.device)

    def split(self, split):
        return PreparedSplit(self.to_device(split.X), self.to_device(split.Y), self.to_device(split.labels).long())

    def indices(self, order):
        return torch.as_tensor(order, dtype=torch.long, device=self.device)

    def count_correct(self, Y_hat, labels):
        return (Y_hat.argmax(dim=1) == labels).sum()

    def no_grad(self):
        return torch.no_grad()

    def available_memory(self):
        """Bytes free on the device: a GPU's free memory plus what torch's caching allocator
        holds unused; the host's available memory for the CPU."""
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            return free + torch.cuda.memory_reserved(self.device) - torch.cuda.memory_allocated(self.device)
        return host_memory_available()

    @contextlib.contextmanager
    def limit_threads(self, threads):
        """torch's intra-op threads (``torch.set_num_threads``) and the BLAS capped at
        ``threads`` while inside, restored on exit; ``None`` leaves both as they are."""
        if threads is None:
            yield
            return
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with limited_blas_threads(threads):
                yield
        finally:
            torch.set_num_threads(before)

    def pad_images(self, X, padding, mode="zeros"):
        """``X`` (NHWC) padded on its height and width, with zeros or by reflection (torch's
        reflection pads the last two axes, hence the round trip through NCHW)."""
        if mode == "reflect":
            padded = F.pad(X.permute(0, 3, 1, 2), (padding, padding, padding, padding), mode="reflect")
            return padded.permute(0, 2, 3, 1).contiguous()
        return F.pad(X, (0, 0, padding, padding, padding, padding))

    def crop_and_flip(self, X, padding, rows, cols, padding_mode="zeros"):
        if padding:
            X = self.pad_images(X, padding, padding_mode)
        rows = torch.as_tensor(rows, device=X.device)
        cols = torch.as_tensor(cols, device=X.device)
        samples = torch.arange(X.shape[0], device=X.device)
        return X[samples[:, None, None], rows[:, :, None], cols[:, None, :]]

    def flip_images(self, X):
        return X.flip(2)

    def shift_images(self, X, dy, dx):
        padding = max(abs(dy), abs(dx))
        height, width = X.shape[1:3]
        padded = self.pad_images(X, padding, "reflect")
        return padded[:, padding - dy : padding - dy + height, padding - dx : padding - dx + width].contiguous()
