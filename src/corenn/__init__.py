"""corenn: a small, readable neural-network framework with plugins.

The public entry points::

    import corenn
    layer = corenn.create("layer", "fully_connected", n_out=10, activation="relu")
    corenn.list_components("activation")
    result = corenn.train("my-run.toml")        # a TOML path, a dict or a RunConfig
    model = corenn.load(result["run_dir"])       # predict / predict_proba / evaluate / classes
    result = corenn.train(config, X=X, y=y)      # numpy arrays, no files: result["model"] predicts

scikit-learn estimators (``pip install ".[sklearn]"``): :mod:`corenn.sklearn`.

Plugins implement the hooks in :mod:`corenn.hookspecs`, marked with :data:`corenn.hookimpl`.
Plugins are loaded on the first call that needs them, so ``import corenn`` stays cheap.

A plugin's components derive from the bases exported here: :class:`Layer` (and
:class:`ProductLayer` for a layer whose heavy products may run in another dtype),
:class:`Activation`, :class:`Loss` and :class:`Optimizer`; a backend's from :class:`Backend`.
They are imported on first use (they need numpy). The author's guides are ``docs/plugins/``.

The package's layers and every module: ``docs/architecture.md`` and ``docs/reference/modules.md``
(generated from the modules' docstrings and pyproject.toml's import contracts).
"""

from corenn.errors import CorennError
from corenn.hookspecs import hookimpl, hookspec

__all__ = [
    "Activation",
    "Backend",
    "CorennError",
    "Layer",
    "Loss",
    "Optimizer",
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
    "Optimizer": ("corenn.nn.optimizers", "Optimizer"),
    "Backend": ("corenn.backend", "Backend"),
    # train(config, *, X, y, X_val, y_val, X_test, y_test, data_dir, out_dir, overwrite, record, verbose, callbacks)
    "train": ("corenn.trained.from_arrays", "train"),
    "load": ("corenn.trained.load", "load"),  # load(run_dir, *, which="last", device, data_dir) -> TrainedModel
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
