"""Finding, loading and registering plugins.

Every plugin, the core's own built-ins included, goes through the same path: a module with
hook implementations is registered with the pluggy plugin manager, then its
``corenn_register_components`` hook fills the registry. Built-ins are registered directly
(like datasette's default plugins); third-party plugins come from the ``corenn.plugins``
entry-point group. A plugin that fails to import or to register is recorded and skipped, so one
broken plugin never breaks the tool; ``CORENN_STRICT_PLUGINS=1`` makes such a failure an error.

Precedence does not depend on entry-point names: the built-ins and the first-party packages
(:data:`corenn.registry.FIRST_PARTY_DISTRIBUTIONS`) load first, so a third party that registers
one of their names is the one that fails; two third parties that register the same name both
fail (the user keeps one with ``CORENN_DISABLE_PLUGINS``). Mistakes that would otherwise be
silent (a misspelled hook, a hook without ``@corenn.hookimpl``, a plugin that does nothing) are
warnings, shown by ``corenn plugins`` and errors in strict mode.

"Fails" means raising anything but KeyboardInterrupt: a plugin calling ``sys.exit()`` raises
SystemExit, which is no Exception, and would otherwise end the caller's process silently. A
failure keeps its traceback (``PluginInfo.traceback``, printed by ``corenn plugins --debug``).

Every command pays for every plugin's import, so each plugin's is timed
(``PluginInfo.import_seconds``) and ``corenn plugins`` names one slower than
:data:`SLOW_IMPORT_SECONDS`. A plugin switched off with ``CORENN_DISABLE_PLUGINS`` is listed as
``disabled``, not left out, so that nobody wonders where its components went.
"""

import difflib
import importlib
import importlib.metadata
import inspect
import os
import time
import traceback

import attrs
import pluggy

from corenn import hookspecs, kernels
from corenn.backend import DEFAULT_BACKEND, TORCH_INSTALL
from corenn.errors import ConfigError, PluginError, UnknownComponentError
from corenn.registry import COMPONENT_KINDS, Registration, Registry, is_first_party

ENTRY_POINT_GROUP = "corenn.plugins"
STRICT_ENV = "CORENN_STRICT_PLUGINS"
DISABLE_ENV = "CORENN_DISABLE_PLUGINS"
BUILTIN_PLUGINS = ("corenn.builtins",)
CORE_DISTRIBUTION = "corenn"
CHECK_CONFIG_HOOK = "corenn_check_config"
HOOK_PREFIX = "corenn_"  # reserved for hooks: any other function so named in a plugin is a mistake
SLOW_IMPORT_SECONDS = 0.5  # a plugin slower to import and register than this slows every command: say so
DISABLED = "disabled"


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
    hooks: list = attrs.Factory(list)
    warnings: list = attrs.Factory(list)
    import_seconds: float | None = None  # importing the plugin's module and running its registration
    traceback: str | None = None  # of the failure, when it raised

    @property
    def slow(self):
        """Whether importing and registering it took longer than :data:`SLOW_IMPORT_SECONDS`."""
        return self.import_seconds is not None and self.import_seconds > SLOW_IMPORT_SECONDS

    def as_dict(self):
        by_kind = {}
        for entry in self.components:
            plain = entry.kind == "backend" or (entry.backend == DEFAULT_BACKEND and entry.kind != "kernels")
            label = entry.name if plain else f"{entry.name} [{entry.backend}]"
            by_kind.setdefault(entry.kind, []).append(label)
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "module": self.module,
            "status": self.status,
            "error": self.error,
            "components": by_kind,
            "hooks": list(self.hooks),
            "warnings": list(self.warnings),
            "import_seconds": self.import_seconds,
            "traceback": self.traceback,
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
        self._backends = {}
        self._hook_failures = {}  # (plugin, hook) -> failures in the current run, see call_hook

    def backend(self, name):
        """The backend object of ``name`` (on its default device), made the first time it is asked
        for, when its kernel overrides are imported, checked and installed (see
        :mod:`corenn.kernels`); an error naming the installed backends for an unknown one."""
        found = self._backends.get(name)
        if found is not None:
            return found
        entry = self.registry.get_registration("backend", name, name)
        if entry is None:
            installed = ", ".join(self.registry.backends()) or "(none)"
            hint = f" ({TORCH_INSTALL})" if name == "torch" else ""
            raise UnknownComponentError(f"unknown backend {name!r}{hint}; installed backends: {installed}")
        try:
            backend_class = entry.load()
        except PluginError as exc:
            if isinstance(exc.__cause__, ImportError):
                raise ConfigError(
                    f"backend {name!r} needs a library that cannot be imported ({exc.__cause__}); "
                    + (f"install them: {TORCH_INSTALL}" if name == "torch" else "install it")
                ) from exc
            raise
        backend = backend_class()
        kernels.install_backend(name, getattr(backend_class, "array_module", None), self._overrides_for(entry))
        self._backends[name] = backend
        return backend

    def _overrides_for(self, backend_entry):
        """The kernel overrides registered for one backend, each checked (see
        :mod:`corenn.kernels`); a plugin whose module of overrides fails a check is refused."""
        installed = {}
        for entry in self.registry.entries("kernels"):
            if entry.backend != backend_entry.name:
                continue
            try:
                found = self._overrides_in(entry, backend_entry, installed)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # SystemExit too: see the module's docstring
                self._refuse_after_loading(entry.plugin, exc)
                installed = {key: value for key, value in installed.items() if value.plugin != entry.plugin}
                continue
            installed.update(found)
        return list(installed.values())

    def _overrides_in(self, entry, backend_entry, installed):
        module = entry.load()
        found = {}
        for target, function in kernels.marked_overrides(module):
            kernel = kernels.resolve_target(target)
            if kernel is None:
                continue  # the package declaring it is not installed: nothing calls it
            problem = kernels.signature_problem(kernel, function)
            if problem:
                raise PluginError(f"{entry.distribution} ({entry.name}): {problem}")
            declarer = self._distribution_of_module(kernel.reference.__module__)
            allowed = {backend_entry.distribution, declarer}
            if entry.distribution not in allowed and not _same_package(module.__name__, kernel.reference.__module__):
                raise PluginError(
                    f"{entry.distribution} may not override kernel {kernel.qualified_name} for backend "
                    f"{backend_entry.name} ({function.__module__}.{function.__qualname__}): only "
                    f"{declarer or 'its own package'}, which declares it, and {backend_entry.distribution}, whose "
                    "backend it is, may"
                )
            earlier = installed.get(kernel.qualified_name) or found.get(kernel.qualified_name)
            if earlier is not None:
                raise PluginError(
                    f"kernel {kernel.qualified_name} is overridden twice for backend {backend_entry.name}: by "
                    f"{earlier.distribution} ({earlier.origin}) and by {entry.distribution} "
                    f"({function.__module__}.{function.__qualname__})"
                )
            found[kernel.qualified_name] = kernels.Override(
                kernel, function, backend_entry.name, entry.plugin, entry.distribution
            )
        return found

    def declared_kernels(self):
        """Every kernel declared by the loaded plugins: the modules of their components are
        imported (kernels are declared beside the components that call them); a module that
        fails to import is skipped, its component's check reports it (``corenn plugins --check``)."""
        for entry in self.registry.entries():
            if entry.kind in COMPONENT_KINDS and isinstance(entry.factory, str):
                try:
                    entry.load()
                except PluginError:
                    continue
        return kernels.declared_kernels()

    def declaring_distribution(self, kernel):
        """The distribution of the plugin whose package declares ``kernel``, or ``None``."""
        return self._distribution_of_module(kernel.reference.__module__)

    def _distribution_of_module(self, module_name):
        """The distribution of the plugin whose package holds ``module_name``, or ``None``."""
        package = module_name.partition(".")[0]
        for info in self.plugins:
            if info.module.partition(".")[0].partition(":")[0] == package:
                return info.distribution
        return None

    def _refuse_after_loading(self, plugin, exc):
        """A plugin found broken once it was loaded (when its backend was first used): it fails
        as it would have while loading, its registrations forgotten."""
        info = next((info for info in self.plugins if info.name == plugin), None)
        self.registry.remove_plugin(plugin)
        if info is None:
            raise exc
        info.components = []
        if self.manager.has_plugin(plugin):
            self.manager.unregister(name=plugin)
        self._failed(info, exc)

    def load(self):
        """Register the built-ins, then the first-party plugins, then the third-party ones.

        Plugins are listed in entry-point name order, but loaded by precedence: nothing a third
        party registers can take a name of corenn's own packages, and clashes between third
        parties fail both sides, so the outcome never depends on the names' order.
        """
        version = _core_version()
        for module_name in BUILTIN_PLUGINS:
            info = PluginInfo(CORE_DISTRIBUTION, CORE_DISTRIBUTION, version, module_name)
            self._add(info, lambda module_name=module_name: importlib.import_module(module_name))
        disabled = _disabled()
        entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        found = []
        for entry_point in sorted(entry_points, key=lambda ep: ep.name):
            dist = entry_point.dist
            info = PluginInfo(
                entry_point.name,
                dist.name if dist else "(unknown distribution)",
                dist.version if dist else "?",
                entry_point.value,
            )
            self.plugins.append(info)
            if entry_point.name in disabled:
                info.status = DISABLED
                info.error = f"switched off by {DISABLE_ENV}"
                continue
            found.append((info, entry_point.load))
        found = self._refuse_shared_names(found)
        for info, load_module in found:
            if is_first_party(info.distribution):
                self._load(info, load_module)
        third_party = [(info, load_module) for info, load_module in found if not is_first_party(info.distribution)]
        staged = [(info, self._stage(info, load_module)) for info, load_module in third_party]
        staged = [(info, registrations) for info, registrations in staged if registrations is not None]
        for info, registrations in self._refuse_clashes(staged):
            self.registry.add_all(registrations)
            info.components = registrations
        return self

    def _refuse_shared_names(self, found):
        """The plugins whose entry-point name no other plugin has. pluggy knows a plugin by that
        name, so two of one name cannot both load: each fails (as a component clash does),
        naming the other, unless the other is corenn's own, which keeps its name."""
        by_name = {}
        for info, _ in found:
            by_name.setdefault(info.name, []).append(info)
        kept = []
        for info, load_module in found:
            sharing = [other for other in by_name[info.name] if other is not info]
            others = [f"{other.distribution} {other.version}" for other in sharing]
            builtins = self.manager.has_plugin(info.name)  # the built-ins' name
            if builtins:
                others.append(f"{CORE_DISTRIBUTION}'s built-ins")
            ours = builtins or any(is_first_party(other.distribution) for other in sharing)
            if others and (ours or not is_first_party(info.distribution)):
                self._failed(
                    info,
                    PluginError(
                        f"its entry-point name {info.name!r} is also {', '.join(others)}'s: a plugin is known by that "
                        f'name, so rename the entry point in your package\'s [project.entry-points."{ENTRY_POINT_GROUP}"]'
                    ),
                )
                continue
            kept.append((info, load_module))
        return kept

    def _add(self, info, load_module):
        """List one plugin and load it at once (the built-ins; tests adding a plugin)."""
        self.plugins.append(info)
        self._load(info, load_module)

    def _load(self, info, load_module):
        registrations = self._stage(info, load_module)
        if registrations is not None:
            self.registry.add_all(registrations)
            info.components = registrations

    def _stage(self, info, load_module):
        """Import one plugin, register it with pluggy and run its registration hook.

        Returns its registrations, checked against what is already registered but not yet
        added; ``None`` when the plugin failed (then pluggy forgets it too).
        """
        staged = []
        notes = []  # warnings about the registrations themselves

        def register(kind, name, factory=None, *, backend=DEFAULT_BACKEND, kernels=None):
            if kind == "backend":
                backend = name  # a backend is registered for itself
            elif kind == "kernels":
                factory = name if factory is None else factory  # a module of overrides, by its name
            if factory is None:
                raise PluginError(
                    f"{kind} {name!r}: register it with its factory, register({kind!r}, {name!r}, factory)"
                )
            if kernels is not None:
                notes.append(
                    f"{kind} {name!r} is registered with kernels=..., which corenn no longer reads: the kernels a "
                    "component calls are declared (corenn.kernels) and run on every backend; drop it"
                )
            staged.append(Registration(kind, name, backend, factory, info.name, info.distribution))

        started = time.perf_counter()
        try:
            module = load_module()
            self.manager.register(module, name=info.name)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: see the module's docstring
            info.import_seconds = time.perf_counter() - started
            return self._failed(info, exc)
        try:
            for impl in self.manager.hook.corenn_register_components.get_hookimpls():
                if impl.plugin_name == info.name:
                    impl.function(register=register)
            info.import_seconds = time.perf_counter() - started
            self.registry.check(staged)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            info.import_seconds = time.perf_counter() - started
            self.manager.unregister(name=info.name)
            return self._failed(info, exc)
        info.hooks = sorted(caller.name for caller in self.manager.get_hookcallers(module) or [] if caller.has_spec())
        self._note_mistakes(info, module, notes)
        return staged

    def _note_mistakes(self, info, plugin, notes=()):
        """Warn of hook functions corenn will never call; in strict mode, fail instead.

        A marked function that matches no hook spec is what pluggy's ``check_pending`` rejects;
        it is found here per plugin, from the plugin's hook callers. A function named
        ``corenn_*`` without the marker is invisible to pluggy, so the plugin's attributes are
        scanned for those too. A plugin that implements no hook at all does
        nothing, which is also worth a warning.
        """
        known = sorted(name for name in dir(hookspecs) if name.startswith(HOOK_PREFIX))
        mistakes = {}
        for caller in self.manager.get_hookcallers(plugin) or []:
            if not caller.has_spec():
                mistakes[caller.name] = _unknown_hook(caller.name, known, marked=True)
        for name in sorted(dir(plugin)):
            if not name.startswith(HOOK_PREFIX) or name in mistakes or not callable(getattr(plugin, name, None)):
                continue
            if self.manager.parse_hookimpl_opts(plugin, name) is not None:
                continue  # marked: registered with pluggy, known or not (see above)
            if name in known:
                mistakes[name] = f"{name} is not marked with @corenn.hookimpl, so corenn never calls it"
            else:
                mistakes[name] = _unknown_hook(name, known, marked=False)
        info.warnings = [*notes, *(mistakes[name] for name in sorted(mistakes))]
        if not info.warnings and not info.hooks:
            if inspect.isfunction(plugin) or inspect.ismethod(plugin):
                info.warnings = [
                    f"its entry point names a function ({info.module}); it must name the plugin's module (or an "
                    'object holding its hook functions), as in name = "package.plugin"'
                ]
            else:
                info.warnings = [f"implements no corenn hook, so it adds nothing; the hooks are: {', '.join(known)}"]
        if self.strict and info.warnings:
            raise PluginError(
                f"plugin {info.name!r} ({info.distribution} {info.version}): {info.warnings[0]} "
                f"(unset {STRICT_ENV} to load it anyway)"
            )
        if self.strict and info.slow and not is_first_party(info.distribution):
            raise PluginError(
                f"plugin {info.name!r} ({info.distribution} {info.version}) took {info.import_seconds:.2f} s to import "
                f"and register (above {SLOW_IMPORT_SECONDS:g} s), which every corenn command pays: import heavy "
                f"modules in the factories (unset {STRICT_ENV} to load it anyway)"
            )

    def _refuse_clashes(self, staged):
        """The third-party plugins that register no (kind, name, backend) another one does.

        Every plugin in a clash fails, whichever loaded first: there is no good reason to
        prefer either, and a winner picked by entry-point names would change when a package is
        renamed. The message names both and how to keep one.
        """
        claims = {}
        for info, registrations in staged:
            for registration in registrations:
                claims.setdefault(registration.key, []).append((info, registration))
        clashes = {}
        for key in sorted(claims):
            claimants = claims[key]
            if len(claimants) < 2:
                continue
            names = " and by ".join(registration.distribution for _, registration in claimants)
            disable = " or ".join(f"CORENN_DISABLE_PLUGINS={info.name}" for info, _ in claimants)
            message = (
                f"{claimants[0][1].label} is registered by {names}, so neither gets it; "
                f"uninstall one, or switch one off with {disable}"
            )
            for info, _ in claimants:
                clashes.setdefault(info.name, message)
        kept = []
        for info, registrations in staged:
            if info.name in clashes:
                self.manager.unregister(name=info.name)
                self._failed(info, PluginError(clashes[info.name]))
            else:
                kept.append((info, registrations))
        return kept

    def _failed(self, info, exc):
        info.status = "failed"
        info.error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, PluginError) else str(exc)
        if exc.__traceback__ is not None:  # raised, not a verdict made here (a clash)
            info.traceback = "".join(traceback.format_exception(exc))
        if self.strict:
            raise PluginError(
                f"plugin {info.name!r} ({info.distribution} {info.version}) failed: {info.error} "
                f"(unset {STRICT_ENV} to skip failing plugins)"
            ) from exc

    def failures(self):
        return [info for info in self.plugins if info.status == "failed"]

    def slow_imports(self):
        """The plugins slower to import than :data:`SLOW_IMPORT_SECONDS`."""
        return [info for info in self.plugins if info.slow]

    def troubles(self):
        """One line on the plugins that failed or have warnings (empty when none), so that an
        unknown component's error points at the plugin that should have registered it."""
        notes = [f"{info.name} failed" for info in self.failures()]
        notes += [
            f"{info.name} has {len(info.warnings)} warning{'s' if len(info.warnings) > 1 else ''}"
            for info in self.plugins
            if info.status == "ok" and info.warnings
        ]
        return f"plugins with problems: {', '.join(notes)} (see `corenn plugins`)" if notes else ""

    def implements(self, hook_name):
        """Whether any plugin or registered callback implements the hook ``hook_name``."""
        return bool(getattr(self.manager.hook, hook_name).get_hookimpls())

    def call_hook(self, hook_name, **kwargs):
        """Call a lifecycle hook on every plugin, isolating third-party failures.

        A failing hook of a third-party plugin is reported on stderr, in one line, the first time
        it fails in a run (its later failures in that hook are counted, and their number said at
        the run's end: a hook failing at every step must not print a line per step), and
        training goes on; in strict mode it is an error. Failures of the core's own hooks and of
        a run's callbacks propagate.

        Each implementation gets its own copy of a dict argument (the ``metrics``), so one that
        changes it changes nothing the trainer or the next plugin reads.
        """
        if hook_name == "corenn_train_start":
            self._hook_failures = {}  # a new run: its failures are reported afresh
        caller = getattr(self.manager.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):
            try:
                impl.function(**{arg: _own_copy(kwargs[arg]) for arg in impl.argnames})
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # SystemExit too: see the module's docstring
                if impl.plugin_name == CORE_DISTRIBUTION or _is_local(impl):
                    raise
                if hook_name == CHECK_CONFIG_HOOK and isinstance(exc, ConfigError):
                    raise  # the plugin's word that the config is wrong: the run must not start
                if self.strict:
                    if isinstance(exc, Exception):
                        raise
                    raise PluginError(
                        f"plugin {impl.plugin_name!r} failed in {hook_name}: {type(exc).__name__}: {exc} "
                        f"(unset {STRICT_ENV} to skip failing plugins)"
                    ) from exc
                self._hook_failed(impl.plugin_name, hook_name, exc)
        if hook_name == "corenn_train_end":
            self._report_repeated_hook_failures()

    def _hook_failed(self, plugin, hook_name, exc):
        """Say the first failure of ``plugin`` in ``hook_name`` in this run; count the others."""
        key = (plugin, hook_name)
        self._hook_failures[key] = self._hook_failures.get(key, 0) + 1
        if self._hook_failures[key] == 1:
            later = " (its later failures in this hook are counted, not shown)" if hook_name in REPEATED_HOOKS else ""
            _warn(
                f"plugin {plugin!r} failed in {hook_name}: {type(exc).__name__}: {_one_line(exc)}; training goes on{later}"
            )

    def _report_repeated_hook_failures(self):
        for (plugin, hook_name), count in self._hook_failures.items():
            if count > 1:
                _warn(
                    f"plugin {plugin!r} failed in {hook_name} {count} times in this run (the first failure is shown above)"
                )
        self._hook_failures = {}


REPEATED_HOOKS = ("corenn_step_end", "corenn_epoch_end")  # called many times in a run


def _own_copy(value):
    """A dict argument of a hook as a copy of its own (its values are numbers); anything else as it is."""
    return dict(value) if isinstance(value, dict) else value


def _one_line(exc):
    return " ".join(str(exc).split("\n"))


def _warn(message):
    import sys

    print(f"corenn: warning: {message}", file=sys.stderr, flush=True)


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


def get_backend(name=DEFAULT_BACKEND):
    """The backend object of ``name``, from the loaded plugins (made on first use)."""
    return get_plugins().backend(name)


def create(kind, name, backend=DEFAULT_BACKEND, **options):
    """Build any registered component: ``create("layer", "fully_connected", n_out=10, activation="relu")``."""
    system = get_plugins()
    try:
        return system.registry.create(kind, name, backend, **options)
    except UnknownComponentError as exc:
        troubles = system.troubles()
        if not troubles or troubles in str(exc):  # a nested create (a layer's activation) added it
            raise
        raise UnknownComponentError(f"{exc}; {troubles}") from exc


def _unknown_hook(name, known, *, marked):
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    marker = "is marked with @corenn.hookimpl but " if marked else ""
    return f"{name} {marker}is not a corenn hook{hint}, so corenn never calls it; the hooks are: {', '.join(known)}"


def list_components(kind=None, backend=None):
    """Registrations of every loaded component, optionally of one kind and backend."""
    return get_registry().entries(kind, backend)


def _same_package(module_a, module_b):
    return module_a.partition(".")[0] == module_b.partition(".")[0]
