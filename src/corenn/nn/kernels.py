"""Kernels: the hot routines a component calls by name, each backend supplying its own.

A component (a layer, an activation, a loss, an optimizer) is written once. Its bookkeeping
(options and their checks, parameter and gradient tables, caches, lazy initialization, train
and evaluation modes) works on any backend's arrays through their array namespace (the Python
array API standard, :func:`array_namespace`); the few routines where the backends truly differ
(a convolution and its gradients, pooling, batch normalization, gelu, random masks, moving an
array to a device) are *kernels*: plain functions a plugin registers per backend::

    register("kernel", "conv2d_forward", "my_plugin.kernels:conv2d_forward", backend="cupy")

and a component calls them as ``self.kernels.conv2d_forward(...)``. numpy's kernels are the
readable reference (the course's math); torch's call PyTorch's kernels. A third party adds a
backend by registering its kernels, and every component that needs only those runs on it.

Which backend a component is built for is fixed when it is built: ``corenn.create(kind, name,
backend)`` builds it inside :func:`building_for`, and the component bases (:class:`OnBackend`)
record :func:`current_backend` as the object is made. A component built directly
(``FullyConnected(10)``) is numpy's.
"""

from corenn.backend import (  # noqa: F401 (moved to the bottom of the import graph; still importable here)
    DEFAULT_BACKEND,
    array_namespace,
    as_dtype,
    building_for,
    current_backend,
    device_of,
)


def kernels_for(backend):
    """The :class:`Kernels` of ``backend`` from the loaded plugins."""
    from corenn.plugins import get_plugins

    return get_plugins().kernels(backend)


class Kernels:
    """One backend's kernels, as attributes: ``kernels.conv2d_forward(...)``.

    Each name is looked up in the registry the first time it is used and then kept, so later
    calls cost an attribute access. A kernel the backend lacks is an error that says which
    backends have it.
    """

    def __init__(self, backend, registry):
        self.backend = backend
        self._registry = registry

    def __repr__(self):
        return f"Kernels({self.backend!r})"

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        kernel = self._registry.get("kernel", name, self.backend).load()
        self.__dict__[name] = kernel
        return kernel


class OnBackend:
    """Base of the components written once: the backend an object was built for, and its kernels.

    ``backend`` is recorded in ``__new__``, so a subclass's ``__init__`` need not pass anything
    on (nor even call ``super().__init__()``) for its object to know it.
    """

    def __new__(cls, *args, **kwargs):
        from corenn.plugins import get_backend

        component = super().__new__(cls)
        component.backend = get_backend(current_backend())
        return component

    @property
    def kernels(self):
        """The kernels of this component's backend, or those given to :meth:`use_kernels`."""
        replaced = self.__dict__.get("_replaced_kernels")
        return replaced if replaced is not None else kernels_for(self.backend.name)

    def use_kernels(self, kernels):
        """Make this one object call ``kernels`` (an object with the backend's kernel names as
        attributes) instead of its backend's: a data-parallel run gives its batch-norm layers
        kernels that take their statistics over every rank's share of the batch."""
        self._replaced_kernels = kernels

    def _as_float_on(self, value, device):
        """``value`` as a floating array of this component's backend: an array of the backend's
        own library stays where it is (the caller checks its device), anything else (a numpy
        batch for a torch component, a list) is made on ``device``."""
        return self.backend.as_float_array(value, device=None if self.backend.owns(value) else device)
