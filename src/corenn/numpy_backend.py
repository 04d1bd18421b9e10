"""The numpy backend: arrays in the host's memory, computed on the CPU; corenn's default.

Every method of :class:`corenn.backend.Backend` is documented here with numpy's behaviour, the
reference for other backends' (corenn-torch's ``corenn_torch.backend.TorchBackend``).
"""

import contextlib

import numpy as np

from corenn.backend import Backend
from corenn.errors import ConfigError, CorennError
from corenn.machine import host_memory_available, limited_blas_threads


class NumpyBackend(Backend):
    """numpy: arrays in the host's memory, computed on the CPU; the default backend.

    Its kernels are the declared kernels' references, except where a package registers a
    faster numpy override (the convolution as one BLAS product, blocked optimizer steps; see
    ``corenn kernels``).
    """

    name = "numpy"
    array_module = "numpy"
    COMPUTE_DTYPES = ("float32", "float64")

    # --- arrays ---------------------------------------------------------------------------

    def resolve_device(self, device):
        if str(device) not in ("cpu", "auto"):
            raise ConfigError(
                f"device {device!r} needs a backend that has devices (--backend torch); numpy runs on the cpu only"
            )
        return "cpu"

    def _check_device(self, device):
        if device is not None and str(device) != "cpu":
            raise CorennError(f"the numpy backend works on the CPU only, got device {device!r}; use backend torch")

    def asarray(self, value, *, dtype=None, device=None):
        """``value`` as a numpy array (of ``dtype`` when given), without a copy when it is one already."""
        self._check_device(device)
        return np.asarray(value, dtype=dtype)

    def as_float_array(self, value, *, device=None):
        """``value`` as a floating array: float32 stays float32, integers and booleans become float64."""
        self._check_device(device)
        array = np.asarray(value)
        return array if array.dtype.kind == "f" else array.astype(np.float64)  # kind "f": np.floating, read fast

    def to_numpy(self, value):
        """A numpy copy of ``value``."""
        return np.array(value, copy=True)

    def move(self, value, *, device=None, dtype=None):
        """``value`` cast to ``dtype`` (when given); numpy has no other device than the CPU."""
        self._check_device(device)
        return value if dtype is None else value.astype(dtype, copy=False)

    def compute_dtype(self, dtype):
        """The dtype a product layer computes in: ``None`` (the input's), ``"float32"`` or ``"float64"``.

        numpy has no bfloat16, so mixed precision is refused here with the way to get it.
        """
        if dtype is None:
            return None
        if isinstance(dtype, str) and dtype in self.COMPUTE_DTYPES:
            return np.dtype(dtype)
        if isinstance(dtype, np.dtype) and dtype.name in self.COMPUTE_DTYPES:
            return dtype
        raise ConfigError(
            f"compute_dtype must be None (the input's dtype), float32 or float64 on the numpy backend, got {dtype!r}"
            + ("; bfloat16 (mixed precision) needs backend torch" if str(dtype) == "bfloat16" else "")
        )

    def loss_value(self, mean):
        """The mean loss, a 0-d result of the predictions' dtype, as a loss's ``forward`` returns
        it: a numpy scalar of that dtype (``np.float32`` for float32 predictions), as the
        course's losses give."""
        return mean.dtype.type(mean)

    # --- what the trainer needs ---------------------------------------------------------

    def to_device(self, array):
        """A numpy array (inputs, one-hot targets or labels) where the model computes."""
        return array

    def split(self, split):
        """A prepared split whose X, Y and labels live on the device."""
        return split

    def indices(self, order):
        """A numpy index array as an index for the device's arrays."""
        return order

    def count_correct(self, Y_hat, labels):
        """How many rows' arg-max is the label: an int, or a device scalar read later with int()."""
        return int(np.sum(Y_hat.argmax(axis=1) == labels))

    def no_grad(self):
        """A context in which the library records nothing for automatic differentiation."""
        return contextlib.nullcontext()

    def available_memory(self):
        """Bytes of memory still free where the arrays live (the host's), or ``None`` where
        unknown; the trainer sizes its memory check and evaluation batches from it (see
        :mod:`corenn.run.resources`). A backend without this method is never refused a run."""
        return host_memory_available()

    def limit_threads(self, threads):
        """A context in which the BLAS runs at most ``threads`` threads (``None``: as it is)."""
        return limited_blas_threads(threads)

    def pad_images(self, X, padding, mode="zeros"):
        """``X`` (NHWC) padded by ``padding`` pixels on each side of its height and width, with
        zeros or (``mode="reflect"``) by reflection without repeating the edge pixel."""
        widths = ((0, 0), (padding, padding), (padding, padding), (0, 0))
        return np.pad(X, widths, mode="reflect" if mode == "reflect" else "constant")

    def crop_and_flip(self, X, padding, rows, cols, padding_mode="zeros"):
        """``X`` (NHWC) padded by ``padding`` on each side (see :meth:`pad_images`), then
        gathered at ``rows`` (m, H) and ``cols`` (m, W), numpy index arrays: each sample's crop,
        flipped where its column indices run backwards."""
        if padding:
            X = self.pad_images(X, padding, padding_mode)
        return X[np.arange(len(X))[:, None, None], rows[:, :, None], cols[:, None, :]]

    def flip_images(self, X):
        """``X`` (NHWC) mirrored left-right, as a new contiguous array."""
        return np.ascontiguousarray(X[:, :, ::-1])

    def shift_images(self, X, dy, dx):
        """``X`` (NHWC) moved ``dy`` pixels down and ``dx`` right (negative: up, left), the
        uncovered border filled by reflection: output pixel (y, x) is input pixel (y - dy, x - dx)."""
        padding = max(abs(dy), abs(dx))
        height, width = X.shape[1:3]
        padded = self.pad_images(X, padding, "reflect")
        return np.ascontiguousarray(
            padded[:, padding - dy : padding - dy + height, padding - dx : padding - dx + width]
        )
