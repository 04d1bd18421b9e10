"""corenn: a small, readable neural-network framework with plugins.

The public entry points::

    import corenn
    layer = corenn.create("layer", "fully_connected", n_out=10, activation="relu")
    corenn.list_components("activation")
    result = corenn.train("my-run.toml")        # a TOML path, a dict or a RunConfig
    model = corenn.load(result["run_dir"])       # predict / predict_proba / evaluate / classes

Plugins implement the hooks in :mod:`corenn.hookspecs`, marked with :data:`corenn.hookimpl`.
Plugins are loaded on the first call that needs them, so ``import corenn`` stays cheap.

A plugin's components derive from the bases exported here: :class:`Layer` (and
:class:`ProductLayer` for a layer whose heavy products may run in another dtype),
:class:`Activation` and :class:`Loss`. They are imported on first use (they need numpy).

The package's layout: the plugin system at the top (:mod:`~corenn.hookspecs`,
:mod:`~corenn.plugins`, :mod:`~corenn.registry`, :mod:`~corenn.builtins`, :mod:`~corenn.errors`,
:mod:`~corenn.protocols`, :mod:`~corenn.testing`, :mod:`~corenn.plugin_check`,
:mod:`~corenn.listing`); :mod:`corenn.nn`, the network's components and the kernels they call;
:mod:`corenn.run`, a training run from its config to its records; :mod:`corenn.data`, the data
sets; :mod:`corenn.cli`, the command line; :mod:`corenn.course`, the course's API.
"""

from corenn.errors import CorennError
from corenn.hookspecs import hookimpl, hookspec

__all__ = [
    "Activation",
    "CorennError",
    "Layer",
    "Loss",
    "ProductLayer",
    "__version__",
    "create",
    "hookimpl",
    "hookspec",
    "list_components",
    "load",
    "train",
]

# Public names imported on first use: (module, name).
_LAZY = {
    "Layer": ("corenn.nn.layers", "Layer"),
    "ProductLayer": ("corenn.nn.layers", "ProductLayer"),
    "Activation": ("corenn.nn.layers", "Activation"),
    "Loss": ("corenn.nn.losses", "Loss"),
    "train": (
        "corenn.run.train",
        "train",
    ),  # train(config, *, data_dir, out_dir, overwrite, record, verbose, callbacks)
    "load": ("corenn.run.load", "load"),  # load(run_dir, *, which="last", device, data_dir) -> TrainedModel
}


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
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value  # found directly from now on
        return value
    raise AttributeError(f"module 'corenn' has no attribute {name!r}")
