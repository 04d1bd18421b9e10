"""Finding, loading and registering plugins.

Every plugin, the core's own built-ins included, goes through the same path: a module with
hook implementations is registered with the pluggy plugin manager, then its
``corenn_register_components`` hook fills the registry. Built-ins are registered directly
(like datasette's default plugins); third-party plugins come from the ``corenn.plugins``
entry-point group. A plugin that fails to import or to register is recorded and skipped, so one
broken plugin never breaks the tool; ``CORENN_STRICT_PLUGINS=1`` makes such a failure an error.

"Fails" means raising anything but KeyboardInterrupt: a plugin calling ``sys.exit()`` raises
SystemExit, which is no Exception, and would otherwise end the caller's process silently.
"""

import importlib
import importlib.metadata
import os

import attrs
import pluggy

from corenn import hookspecs
from corenn.errors import PluginError
from corenn.registry import DEFAULT_BACKEND, Registration, Registry

ENTRY_POINT_GROUP = "corenn.plugins"
STRICT_ENV = "CORENN_STRICT_PLUGINS"
DISABLE_ENV = "CORENN_DISABLE_PLUGINS"
BUILTIN_PLUGINS = ("corenn.builtins",)
CORE_DISTRIBUTION = "corenn"


@attrs.define
class PluginInfo:
    """What ``corenn plugins`` shows of one plugin."""

    name: str
    distribution: str
    version: str
    module: str
    status: str = "ok"
    error: str | None = None
    components: list = attrs.Factory(list)

    def as_dict(self):
        by_kind = {}
        for entry in self.components:
            label = entry.name if entry.backend == DEFAULT_BACKEND else f"{entry.name} [{entry.backend}]"
            by_kind.setdefault(entry.kind, []).append(label)
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "status": self.status,
            "error": self.error,
            "components": by_kind,
        }


def _strict():
    return os.environ.get(STRICT_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def _disabled():
    return {name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}


def _core_version():
    try:
        return importlib.metadata.version(CORE_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


class PluginSystem:
    """The plugin manager, the component registry, and what happened to each plugin."""

    def __init__(self, *, strict=None):
        self.strict = _strict() if strict is None else strict
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self.registry = Registry()
        self.plugins = []

    def load(self):
        """Register the built-ins, then every enabled entry-point plugin, in name order."""
        version = _core_version()
        for module_name in BUILTIN_PLUGINS:
            info = PluginInfo(CORE_DISTRIBUTION, CORE_DISTRIBUTION, version, module_name)
            self._add(info, lambda module_name=module_name: importlib.import_module(module_name))
        disabled = _disabled()
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        for entry_point in sorted(entry_points, key=lambda ep: ep.name):
            if entry_point.name in disabled:
                continue
            dist = entry_point.dist
            info = PluginInfo(
                entry_point.name,
                dist.name if dist else "(unknown distribution)",
                dist.version if dist else "?",
                entry_point.value,
            )
            self._add(info, entry_point.load)
        return self

    def _add(self, info, load_module):
        """Import one plugin, register it with pluggy, and run its registration hook."""
        self.plugins.append(info)
        staged = []

        def register(kind, name, factory, *, backend=DEFAULT_BACKEND):
            staged.append(Registration(kind, name, backend, factory, info.name, info.distribution))

        try:
            module = load_module()
            self.manager.register(module, name=info.name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: see the module's docstring
            return self._failed(info, exc)
        try:
            for impl in self.manager.hook.corenn_register_components.get_hookimpls():
                if impl.plugin_name == info.name:
                    impl.function(register=register)
            self.registry.add_all(staged)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            self.manager.unregister(name=info.name)
            return self._failed(info, exc)
        info.components = staged

    def _failed(self, info, exc):
        info.status = "failed"
        info.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, PluginError) else str(exc)
        if self.strict:
            raise PluginError(
                f"plugin {info.name!r} ({info.distribution} {info.version}) failed: {info.error} "
                f"(unset {STRICT_ENV} to skip failing plugins)"
            ) from exc

    def failures(self):
        return [info for info in self.plugins if info.status != "ok"]

    def call_hook(self, hook_name, **kwargs):
        """Call a lifecycle hook on every plugin, isolating third-party failures.

        A failing hook of a third-party plugin is reported as a warning and training goes on;
        in strict mode it is an error. Failures of the core's own hooks propagate.
        """
        import warnings

        caller = getattr(self.manager.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):
            try:
                impl.function(**{arg: kwargs[arg] for arg in impl.argnames})
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # SystemExit too: see the module's docstring
                if impl.plugin_name == CORE_DISTRIBUTION or _is_local(impl):
                    raise
                if self.strict:
                    if isinstance(exc, Exception):
                        raise
                    raise PluginError(
                        f"plugin {impl.plugin_name!r} failed in {hook_name}: {type(exc).__name__}: {exc} "
                        f"(unset {STRICT_ENV} to skip failing plugins)"
                    ) from exc
                warnings.warn(
                    f"plugin {impl.plugin_name!r} failed in {hook_name}: {type(exc).__name__}: {exc}",
                    RuntimeWarning,
                    stacklevel=2,
                )


def _is_local(impl):
    """Callbacks registered for one run (not plugins) fail loudly: they are the caller's code."""
    return impl.plugin_name.startswith("corenn-run-callback-")


_system = None


def get_plugins():
    """The process-wide plugin system, loaded on first use."""
    global _system
    if _system is None:
        _system = PluginSystem().load()
    return _system


def reset_plugins():
    """Forget the loaded plugins (tests, or after installing a plugin in a running process)."""
    global _system
    _system = None


def get_registry():
    return get_plugins().registry


def create(kind, name, backend=DEFAULT_BACKEND, **options):
    """Build any registered component: ``create("layer", "fully_connected", n_out=10, activation="relu")``."""
    return get_registry().create(kind, name, backend, **options)


def list_components(kind=None, backend=None):
    """Registrations of every loaded component, optionally of one kind and backend."""
    return get_registry().entries(kind, backend)
