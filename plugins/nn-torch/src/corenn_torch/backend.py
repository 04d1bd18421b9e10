"""The torch backend: corenn's arrays as torch tensors, on the CPU or a GPU.

One :class:`TorchBackend` object holds what corenn does with tensors (see
:class:`corenn.backend.Backend`; numpy's, :class:`corenn.numpy_backend.NumpyBackend`, documents
each method): making, moving and casting them, the dtypes products may run in (bfloat16 for
mixed precision), and what the trainer needs:

- each split is converted once: inputs in the run's dtype, one-hot targets, int64 labels, all
  on the device; a batch is an index into them (the epoch's order moves there once);
- correct predictions are counted into a device scalar that the trainer reads once an epoch,
  not once a step (the loss, a Python float by the component API, is still read every step);
- evaluation runs under ``torch.no_grad()``;
- image operations for augmentation and test-time views (padding with zeros or by reflection,
  crops, flips, shifts) run on the device and give exactly what the numpy backend gives.

Its kernels are PyTorch's own routines, registered as overrides of the declared kernels
(:mod:`corenn_torch.kernels`). corenn imports this module only when a run or a component asks
for the torch backend, so numpy runs never import torch.
"""

import contextlib
import os

import numpy as np
import torch
import torch.nn.functional as F

from corenn.backend import Backend
from corenn.data.loader import PreparedSplit
from corenn.errors import ConfigError
from corenn.machine import host_memory_available, limited_blas_threads

# The dtypes a product may run in, by the names a config or a model uses. float16 is left out
# on purpose: without loss scaling its small gradients underflow to zero.
COMPUTE_DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}
NUMPY_TO_TORCH = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def torch_dtype(dtype):
    """A dtype given as a torch dtype, a numpy dtype or its name, as a torch dtype (``None`` as it is)."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    return NUMPY_TO_TORCH.get(np.dtype(dtype)) or torch.from_numpy(np.zeros(0, dtype=dtype)).dtype


class TorchBackend(Backend):
    """torch tensors, on ``device`` (``cpu``, ``cuda``, ``cuda:<n>``)."""

    name = "torch"
    array_module = "torch"
    # A tiny network (Iris') trains on one thread: see corenn.run.train.training_threads.
    tiny_work_threads = 1

    def resolve_device(self, device):
        """A ``torch.device`` for a config's ``device`` (``cpu``, ``cuda``, ``cuda:<n>`` or ``auto``).

        Under torchrun, ``cuda`` (and ``auto`` on a machine with GPUs) means this process's GPU,
        ``cuda:<LOCAL_RANK>``: one process per GPU."""
        if isinstance(device, torch.device):
            return device
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

    # --- arrays ---------------------------------------------------------------------------

    def asarray(self, value, *, dtype=None, device=None):
        """``value`` as a tensor (of ``dtype``, on ``device`` when given); a CPU numpy array is
        shared, not copied, when no cast or move is needed."""
        dtype = torch_dtype(dtype)
        if torch.is_tensor(value):
            return value.to(device=device, dtype=dtype) if (device is not None or dtype is not None) else value
        return torch.as_tensor(np.asarray(value), dtype=dtype, device=device)

    def as_float_array(self, value, *, device=None):
        """``value`` as a floating tensor.

        A tensor stays on its device (integer tensors become float64 there); anything else becomes
        a tensor on ``device`` (the CPU when ``None``), sharing memory with a CPU numpy array when
        it can.
        """
        if not torch.is_tensor(value):
            array = np.asarray(value)
            if not np.issubdtype(array.dtype, np.floating):
                array = array.astype(np.float64)
            value = torch.as_tensor(array, device=device)
        if not value.is_floating_point():
            value = value.to(torch.float64)
        return value

    def to_numpy(self, value):
        """A numpy copy of a tensor (from any device), or of anything numpy accepts."""
        if torch.is_tensor(value):
            return value.detach().cpu().numpy().copy()
        return np.array(value, copy=True)

    def move(self, value, *, device=None, dtype=None):
        """``value`` on ``device`` and of ``dtype`` (each when given)."""
        return value.to(device=device, dtype=torch_dtype(dtype))

    def compute_dtype(self, dtype):
        """``dtype`` (``None``, a name of ``COMPUTE_DTYPES`` or that torch dtype) as a torch dtype or ``None``."""
        if dtype is None:
            return None
        if isinstance(dtype, str) and dtype in COMPUTE_DTYPES:
            return COMPUTE_DTYPES[dtype]
        if isinstance(dtype, torch.dtype) and dtype in COMPUTE_DTYPES.values():
            return dtype
        raise ConfigError(
            f"compute_dtype must be None (the input's dtype) or one of {', '.join(COMPUTE_DTYPES)} "
            f"(or that torch dtype), got {dtype!r}"
        )

    def loss_value(self, mean):
        """The mean loss, a 0-d tensor, as a Python float (reading it waits for the device; the
        trainer reads the loss every step anyway)."""
        return float(mean)

    # --- what the trainer needs ---------------------------------------------------------

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
