"""The numpy backend's array kernels: turning inputs into float arrays, moving and casting.

numpy arrays live on the CPU only; ``device`` may be ``None`` or ``"cpu"``. The layer kernels
(convolution, pooling, batch norm, ...) are registered by the plugins that hold the layers.
"""

import numpy as np

from corenn.errors import ConfigError, CorennError

COMPUTE_DTYPES = {"float32": np.float32, "float64": np.float64}


def _check_device(device):
    if device is not None and str(device) != "cpu":
        raise CorennError(f"the numpy backend works on the CPU only, got device {device!r}; use backend torch")


def asarray(value, *, dtype=None, device=None):
    """``value`` as a numpy array (of ``dtype`` when given), without a copy when it is one already."""
    _check_device(device)
    return np.asarray(value, dtype=dtype)


def as_float_array(value, *, device=None):
    """``value`` as a floating array: float32 stays float32, integers and booleans become float64."""
    _check_device(device)
    array = np.asarray(value)
    return array if array.dtype.kind == "f" else array.astype(np.float64)  # kind "f": np.floating, read fast


def to_numpy(value):
    """A numpy copy of ``value``."""
    return np.array(value, copy=True)


def move(value, *, device=None, dtype=None):
    """``value`` cast to ``dtype`` (when given); numpy has no other device than the CPU."""
    _check_device(device)
    return value if dtype is None else value.astype(dtype, copy=False)


def compute_dtype(dtype):
    """The dtype a product layer computes in: ``None`` (the input's), ``"float32"`` or ``"float64"``.

    numpy has no bfloat16, so mixed precision is refused here with the way to get it.
    """
    if dtype is None:
        return None
    if isinstance(dtype, str) and dtype in COMPUTE_DTYPES:
        return np.dtype(COMPUTE_DTYPES[dtype])
    if isinstance(dtype, np.dtype) and dtype.name in COMPUTE_DTYPES:
        return dtype
    raise ConfigError(
        f"compute_dtype must be None (the input's dtype), float32 or float64 on the numpy backend, got {dtype!r}"
        + ("; bfloat16 (mixed precision) needs backend torch" if str(dtype) == "bfloat16" else "")
    )
