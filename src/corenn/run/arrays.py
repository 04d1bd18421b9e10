"""The trainer's array backends: numpy's own, and finding another backend's through its plugin.

The training loop is backend-neutral: what differs between numpy arrays and torch tensors (where
the data lives, indexing it with a batch order, counting correct predictions, switching off
autograd, batched image operations for augmentation) goes through an *array backend*,
:class:`NumpyArrays` here and ``corenn_torch.training.TorchArrays`` for torch, found through
the ``corenn_array_backend`` hook by :func:`array_backend`. The core never imports torch.
"""

import contextlib

import numpy as np

from corenn.errors import ConfigError
from corenn.plugins import get_plugins
from corenn.run.resources import host_memory_available

# corenn-torch is not on the package index: it is installed from the corenn repository.
TORCH_INSTALL = (
    "corenn-torch is not on PyPI; from a clone of the corenn repository run "
    "pip install torch==2.14.1 torchvision==0.29.1 ./plugins/nn-torch"
)


def limited_blas_threads(threads):
    """A context capping the BLAS (OpenBLAS, MKL, BLIS) and OpenMP thread pools at ``threads``
    through threadpoolctl, restored on exit; a no-op for ``None``."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=threads)


class NumpyArrays:
    """The trainer's array backend for numpy: the data stays where it is, on the host.

    An array backend has ``name``, ``device``, and the methods below; the torch one
    (``corenn_torch.training.TorchArrays``) moves the data to its device once and keeps every
    step there.
    """

    name = "numpy"
    device = "cpu"

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
        return contextlib.nullcontext()

    def available_memory(self):
        """Bytes of memory still free where the arrays live (the host's), or ``None`` where
        unknown; the trainer sizes its memory check and evaluation batches from it (see
        :mod:`corenn.run.resources`). Optional for other backends' array backends."""
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


def check_backend(backend, registry):
    """Refuse a backend for which no plugin registers any component, naming the installed ones
    (and, for torch, how to install it)."""
    if not registry.entries(backend=backend) and backend != "numpy":
        backends = registry.backends()  # those with components or kernels of their own ("any" is none)
        hint = f" ({TORCH_INSTALL})" if backend == "torch" else ""
        raise ConfigError(
            f"backend {backend!r} has no components installed{hint}; installed backends: {', '.join(backends)}"
        )


def array_backend(backend, device):
    """The trainer's array backend for ``backend`` on ``device`` (see :class:`NumpyArrays`).

    numpy computes on the CPU only (``device = "auto"`` means the CPU there). Other backends'
    array backends come from their plugins through the ``corenn_array_backend`` hook, called
    only here, so a numpy run never imports torch.
    """
    if backend == "numpy":
        if device not in ("cpu", "auto"):
            raise ConfigError(
                f"device {device!r} needs a backend that has devices (--backend torch); numpy runs on the cpu only"
            )
        return NumpyArrays()
    try:
        backend_class = get_plugins().manager.hook.corenn_array_backend(backend=backend)
    except ImportError as exc:
        raise ConfigError(
            f"backend {backend!r} needs PyTorch and corenn-torch ({exc}); install them: {TORCH_INSTALL}"
        ) from exc
    if backend_class is None:
        check_backend(backend, get_plugins().registry)  # no plugin for it at all: say which to install
        raise ConfigError(
            f"backend {backend!r} has components but no installed plugin lets the trainer run on it "
            "(the corenn_array_backend hook); the trainer runs on numpy and on backends whose plugin implements it"
        )
    return backend_class.for_device(device)
