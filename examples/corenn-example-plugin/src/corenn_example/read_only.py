"""The read_only backend: numpy, with every array it makes or hands on marked read-only.

A debugging backend: a component that writes into an array it was given (``X += ...`` in a
forward, a gradient clipped in place) fails on it at once, where numpy would silently change
the caller's array and a backend of immutable arrays (JAX) could not run it at all. Its arrays
are numpy's, but it claims no array type (``array_module = None``), so the kernels run their
references on them only inside ``corenn.kernels.reference_kernels()`` (``corenn train --kernels
reference``): numpy's own fast overrides write in place, as they may.

A backend derives from :class:`corenn.backend.Backend`; :class:`corenn.numpy_backend.NumpyBackend`
documents every method with numpy's behaviour, so this one overrides only those that hand out
arrays. It is registered by the plugin :class:`ReadOnlyPlugin` below, which this package does
not name as an entry point (a backend whose arrays break numpy's fast kernels is not one to
install for everybody); its test registers it in memory (``corenn.testing.plugin_system_from``).
"""

import attrs

import corenn
from corenn.numpy_backend import NumpyBackend


def read_only(array):
    """A view of ``array`` that cannot be written (the array itself stays writable)."""
    view = array.view()
    view.flags.writeable = False
    return view


class ReadOnlyBackend(NumpyBackend):
    """numpy, but every array it makes or hands on is read-only."""

    name = "read_only"
    array_module = None  # numpy's arrays stay numpy's

    def asarray(self, value, *, dtype=None, device=None):
        return read_only(super().asarray(value, dtype=dtype, device=device))

    def as_float_array(self, value, *, device=None):
        return read_only(super().as_float_array(value, device=device))

    def move(self, value, *, device=None, dtype=None):
        return read_only(super().move(value, device=device, dtype=dtype))

    def to_device(self, array):
        return read_only(super().to_device(array))

    def split(self, split):
        return attrs.evolve(split, X=read_only(split.X), Y=read_only(split.Y), labels=read_only(split.labels))


class ReadOnlyPlugin:
    """The registration of the backend, as a plugin object for ``plugin_system_from(ReadOnlyPlugin)``;
    a package that installs the backend for good puts this hook in its entry point's module."""

    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("backend", "read_only", "corenn_example.read_only:ReadOnlyBackend")
