"""Backends: the array library a network computes with, one object per backend.

A backend object holds what corenn does with its arrays: making them (``asarray``,
``as_float_array``), moving and casting them (``move``, ``to_numpy``), the dtypes its products
may run in (``compute_dtype``), and what the trainer needs (the data on a device, batches as
indices, counting correct predictions, switching autograd off, memory, threads, batched image
operations for augmentation). :class:`NumpyBackend` is the default and the reference for every
method (:mod:`corenn.numpy_backend`); corenn-torch adds ``torch``. A plugin adds a backend by registering its class::

    register("backend", "cupy", "my_plugin.backend:CupyBackend")

and, optionally, faster versions of the declared kernels for its arrays (see
:mod:`corenn.kernels`). Until it overrides a kernel, the kernel's reference runs on its arrays,
so a new backend trains every network from its first day.

Which backend a component is built for is fixed when it is built: ``corenn.create(kind, name,
backend)`` builds it inside :func:`building_for`, and the component records
:func:`current_backend` as the object is made. A component built directly
(``FullyConnected(10)``) is numpy's.

This module is at the bottom of corenn's import graph: it imports nothing of corenn's.
"""

import contextlib
import contextvars

DEFAULT_BACKEND = "numpy"

# corenn-torch is not on the package index: it is installed from the corenn repository.
TORCH_INSTALL = (
    "corenn-torch is not on PyPI; from a clone of the corenn repository run "
    "pip install torch==2.14.1 ./plugins/nn-torch"
)

_building_for = contextvars.ContextVar("corenn_building_for", default=DEFAULT_BACKEND)


def current_backend():
    """The name of the backend components made now are built for (``"numpy"`` outside
    :func:`building_for`)."""
    return _building_for.get()


@contextlib.contextmanager
def building_for(backend):
    """Components made inside this block (and the activations, initializers and inner layers
    they make themselves) are built for ``backend`` (a name)."""
    token = _building_for.set(backend)
    try:
        yield backend
    finally:
        _building_for.reset(token)


_namespaces = {}  # array type -> its array API namespace


def array_namespace(*arrays):
    """The array API namespace of ``arrays`` (``array_api_compat``'s view of numpy, torch, ...).

    A namespace depends on the array's type alone, so for one array it is looked up once per
    type and then kept: components call this in their hot paths.
    """
    if len(arrays) == 1:
        namespace = _namespaces.get(type(arrays[0]))
        if namespace is not None:
            return namespace
    from array_api_compat import array_namespace as namespace_of

    namespace = namespace_of(*arrays)
    if len(arrays) == 1:
        _namespaces[type(arrays[0])] = namespace
    return namespace


def as_dtype(array, dtype):
    """``array`` in ``dtype``: itself when it has it already (a comparison), else a cast copy."""
    return array if array.dtype == dtype else array_namespace(array).astype(array, dtype)


def product_dtypes(X, W, compute_dtype=None):
    """``(dtype, working)`` of a product of ``X`` and ``W`` (a matrix product, a convolution):
    ``dtype`` is what its result is returned in, the wider of the two (numpy's promotion), and
    ``working`` what it runs in, ``compute_dtype`` when one is given (mixed precision: bfloat16
    products of float32 arrays on torch), else ``dtype``."""
    dtype = X.dtype if X.dtype == W.dtype else array_namespace(X).result_type(X.dtype, W.dtype)
    return dtype, dtype if compute_dtype is None else compute_dtype


def device_of(array):
    """The device an array lives on (``"cpu"`` for numpy)."""
    device = getattr(array, "device", None)
    if device is not None and not callable(device):
        return device  # torch tensors, numpy >= 2 and cupy arrays: an attribute read, on every layer call
    from array_api_compat import device as namespace_device

    return namespace_device(array)


class Backend:
    """What corenn does with one array library's arrays, on one device.

    A backend class sets ``name`` (what configs and ``corenn.create`` call it) and
    ``array_module`` (the top-level module of the array types it owns, ``"numpy"``, ``"torch"``:
    the declared kernels run this backend's overrides on arrays of those types; ``None`` claims
    none, and then arrays run their own library's kernels). :class:`NumpyBackend` documents
    every method with numpy's behaviour; the trainer calls them, and components call the array
    methods (``asarray``, ``as_float_array``, ``to_numpy``, ``move``, ``compute_dtype``,
    ``loss_value``) through ``self.backend``.

    One object of each backend is made the first time the backend is used (see
    ``corenn.plugins.get_backend``), on its default device; :meth:`on` gives the same backend
    on another device, for a run.
    """

    name = None
    array_module = None

    def __init__(self, device=None):
        self.device = self.resolve_device("cpu" if device is None else device)

    def __repr__(self):
        return f"{type(self).__name__}(device={str(self.device)!r})"

    def on(self, device):
        """This backend with its arrays on ``device`` (a config's device, ``"auto"`` included)."""
        return type(self)(device)

    def resolve_device(self, device):
        """The device a config's ``device`` names on this backend; an error naming what is allowed."""
        return device

    def owns(self, value):
        """Whether ``value`` is an array of this backend's library."""
        return self.array_module is not None and type(value).__module__.partition(".")[0] == self.array_module
