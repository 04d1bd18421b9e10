"""``corenn plugins --check``: import every registered factory and build what can be built.

Listing plugins imports none of their factories (they are ``"module:attr"`` strings), so a
factory that points nowhere, or a component whose constructor fails with its own defaults,
would otherwise surface only when some config names it. The check does both for every
registration and names the plugin of each failure. Components whose factory has required
options (``fully_connected`` needs ``n_out``), or that refuse their defaults with a
``ConfigError`` (``scale`` needs a ``factor``), are imported but not built: there is no value to
build them with. A default that names an unknown component, though, is a failure. Data sets are
only imported: building one loads (or downloads) its data. A component written once for every
backend (``backend="any"``) is built for each installed backend.
"""

import attrs

from corenn.errors import ConfigError, CorennError, PluginError, UnknownComponentError
from corenn.registry import ANY_BACKEND, required_option_names

IMPORT_ONLY_KINDS = ("dataset", "backend", "kernels")
WHY_IMPORTED_ONLY = {
    "dataset": "a data set, not loaded",
    "backend": "a backend, made when it is used",
    "kernels": "kernel overrides, checked when their backend is made",
}


@attrs.frozen
class CheckResult:
    """What happened to one registration: ``built``, ``imported`` (not built) or ``failed``."""

    kind: str
    name: str
    backend: str
    plugin: str
    distribution: str
    outcome: str
    error: str | None = None
    why_not_built: str | None = None

    @property
    def ok(self):
        return self.outcome != "failed"

    def as_dict(self):
        return attrs.asdict(self)


def check_component(registry, entry):
    """Import one registration's factory and build it with its defaults where it has them."""
    fields = dict(
        kind=entry.kind, name=entry.name, backend=entry.backend, plugin=entry.plugin, distribution=entry.distribution
    )
    try:
        factory = entry.load()
    except Exception as exc:  # a plugin's import may fail any way at all
        return CheckResult(**fields, outcome="failed", error=_describe(exc))
    if entry.kind in IMPORT_ONLY_KINDS:
        return CheckResult(**fields, outcome="imported", why_not_built=WHY_IMPORTED_ONLY[entry.kind])
    needed = required_option_names(factory)
    if needed:
        return CheckResult(**fields, outcome="imported", why_not_built=f"needs {', '.join(needed)}")
    backends = _backends_to_build_on(registry, entry)
    for backend in backends:
        on = "" if backend == entry.backend else f" on backend {backend}"
        try:
            registry.create(entry.kind, entry.name, backend)
        except (UnknownComponentError, PluginError) as exc:
            return CheckResult(**fields, outcome="failed", error=f"building it with its default options{on}: {exc}")
        except ConfigError as exc:
            return CheckResult(**fields, outcome="imported", why_not_built=f"its defaults are refused{on}: {exc}")
        except Exception as exc:
            return CheckResult(
                **fields, outcome="failed", error=f"building it with its default options{on}: {_describe(exc)}"
            )
    return CheckResult(**fields, outcome="built")


def _backends_to_build_on(registry, entry):
    """A component written once (backend "any") is built for every backend it serves, each
    with its own activations; any other for its own backend."""
    if entry.backend != ANY_BACKEND:
        return [entry.backend]
    return [backend for backend in registry.backends() if registry.serves(entry, backend)]


def check_components(registry):
    """A :class:`CheckResult` for every registration, in the registry's order."""
    return [check_component(registry, entry) for entry in registry.entries()]


def _describe(exc):
    return str(exc) if isinstance(exc, CorennError) else f"{type(exc).__name__}: {exc}"
