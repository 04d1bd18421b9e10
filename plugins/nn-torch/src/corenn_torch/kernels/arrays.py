"""The torch backend's array kernels: turning inputs into float tensors, moving and casting.

Components accept torch tensors and, for convenience (tests, a numpy batch), anything numpy
accepts. Floating tensors keep their dtype and device; integer or boolean inputs become
float64, as on the numpy backend.
"""

import numpy as np
import torch

from corenn.errors import ConfigError

# The dtypes a product may run in, by the names a config or a model uses. float16 is left out
# on purpose: without loss scaling its small gradients underflow to zero.
COMPUTE_DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32, "float64": torch.float64}
NUMPY_TO_TORCH = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}


def _torch_dtype(dtype):
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    return NUMPY_TO_TORCH.get(np.dtype(dtype)) or torch.from_numpy(np.zeros(0, dtype=dtype)).dtype


def asarray(value, *, dtype=None, device=None):
    """``value`` as a tensor (of ``dtype``, on ``device`` when given); a CPU numpy array is
    shared, not copied, when no cast or move is needed."""
    dtype = _torch_dtype(dtype)
    if torch.is_tensor(value):
        return value.to(device=device, dtype=dtype) if (device is not None or dtype is not None) else value
    return torch.as_tensor(np.asarray(value), dtype=dtype, device=device)


def as_float_array(value, *, device=None):
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


def to_numpy(value):
    """A numpy copy of a tensor (from any device), or of anything numpy accepts."""
    if torch.is_tensor(value):
        return value.detach().cpu().numpy().copy()
    return np.array(value, copy=True)


def move(value, *, device=None, dtype=None):
    """``value`` on ``device`` and of ``dtype`` (each when given)."""
    return value.to(device=device, dtype=_torch_dtype(dtype))


def compute_dtype(dtype):
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
