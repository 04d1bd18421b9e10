"""corenn: a small, readable neural-network framework with plugins.

The public entry points::

    import corenn
    layer = corenn.create("layer", "fully_connected", n_out=10, activation="relu")
    corenn.list_components("activation")

Plugins implement the hooks in :mod:`corenn.hookspecs`, marked with :data:`corenn.hookimpl`.
Plugins are loaded on the first call that needs them, so ``import corenn`` stays cheap.
"""

from corenn.errors import CorennError
from corenn.hookspecs import hookimpl, hookspec

__all__ = ["CorennError", "__version__", "create", "hookimpl", "hookspec", "list_components"]


def create(kind, name, backend="numpy", **options):
    """Build any registered component: ``create("layer", "fully_connected", n_out=10, activation="relu")``."""
    from corenn.plugins import create as create_component

    return create_component(kind, name, backend, **options)


def list_components(kind=None, backend=None):
    """Registrations of every loaded component, optionally of one kind and backend."""
    from corenn.plugins import list_components as list_registered

    return list_registered(kind, backend)


def __getattr__(name):
    if name == "__version__":
        from corenn.plugins import _core_version

        return _core_version()
    raise AttributeError(name)
