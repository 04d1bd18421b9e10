"""The table of registered components: (kind, name, backend) -> factory.

Factories may be ``"module:attr"`` strings; they are imported on first use, so building the
table (and listing it) imports no layer code, and never torch.

A component registered for ``backend="any"`` is written once against the array namespace and
declared kernels (see :mod:`corenn.kernels`); it serves every backend. A registration for one
backend, by the same distribution, takes precedence on that backend.

Two kinds are not components: a ``backend`` (its class, see :mod:`corenn.backend`) and
``kernels``, a module of one backend's kernel overrides, registered by its module's name
(``register("kernels", "corenn_conv.fast", backend="numpy")``).
"""

import importlib
import inspect

import attrs

from corenn.backend import DEFAULT_BACKEND, building_for
from corenn.errors import ConfigError, PluginError, UnknownComponentError, did_you_mean

KINDS = ("layer", "activation", "loss", "optimizer", "scheduler", "initializer", "dataset", "backend", "kernels")
COMPONENT_KINDS = ("layer", "activation", "loss", "optimizer", "scheduler", "initializer")


def _check_kind(kind):
    if kind not in KINDS:
        raise UnknownComponentError(
            f"unknown component kind {kind!r}{did_you_mean(kind, KINDS)}; kinds are: {', '.join(KINDS)}"
        )


ANY_BACKEND = "any"
# The packages that make up corenn itself. They load before any third party and keep their
# names: a third party registering one of them is refused, whatever its entry point is called.
FIRST_PARTY_DISTRIBUTIONS = ("corenn", "corenn-fc", "corenn-conv", "corenn-torch")


def is_first_party(distribution):
    """Whether a distribution name (spelled any way pip accepts) is one of corenn's own."""
    normalized = str(distribution).lower().replace("_", "-").replace(".", "-")
    return normalized in FIRST_PARTY_DISTRIBUTIONS


@attrs.frozen
class Registration:
    """One registered component and the plugin it came from."""

    kind: str
    name: str
    backend: str
    factory: object = attrs.field(eq=False)
    plugin: str
    distribution: str

    @property
    def key(self):
        return (self.kind, self.name, self.backend)

    @property
    def label(self):
        """``activation 'relu' (backend numpy)``, for messages."""
        return f"{self.kind} '{self.name}' (backend {self.backend})"

    def load(self):
        """The factory itself, importing it if it was registered as ``"module:attr"`` (or the
        module, for a ``"module"`` string: a ``kernels`` registration's)."""
        if not isinstance(self.factory, str):
            return self.factory
        module_name, _, attr_path = self.factory.partition(":")
        if not attr_path:
            try:
                return importlib.import_module(module_name)
            except Exception as exc:
                raise PluginError(
                    f"{self.kind} {self.name!r} ({self.backend}) from {self.distribution}: "
                    f"cannot import {module_name}: {type(exc).__name__}: {exc}"
                ) from exc
        try:
            target = importlib.import_module(module_name)
            for attr in attr_path.split("."):
                target = getattr(target, attr)
        except Exception as exc:
            raise PluginError(
                f"{self.kind} '{self.name}' ({self.backend}) from {self.distribution}: "
                f"cannot import {self.factory!r}: {type(exc).__name__}: {exc}"
            ) from exc
        return target


def factory_signature(factory):
    """The signature a factory is called with: a class's is its ``__init__``'s (without
    ``self``), not the ``__new__`` of :class:`corenn.nn.component.Component`, which takes anything
    to record the backend. Raises ``TypeError`` / ``ValueError`` when there is none to read."""
    if isinstance(factory, type):
        for klass in factory.__mro__:
            if "__init__" in vars(klass):
                if klass is object:
                    return inspect.Signature()
                parameters = list(inspect.signature(klass.__init__).parameters.values())[1:]
                return inspect.Signature(parameters)
    return inspect.signature(factory)


def option_names(factory):
    """The keyword options a factory accepts, or ``None`` when it accepts any (``**kwargs``)."""
    try:
        signature = factory_signature(factory)
    except (TypeError, ValueError):
        return None
    names = []
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            return None
        if parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            names.append(parameter.name)
    return names


def required_option_names(factory):
    """The keyword options a factory needs (those without a default), or ``()`` when unknown."""
    try:
        signature = factory_signature(factory)
    except (TypeError, ValueError):
        return ()
    return tuple(
        parameter.name
        for parameter in signature.parameters.values()
        if parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and parameter.default is inspect.Parameter.empty
    )


def example_options_for(factory):
    """The options a component is shown and checked with: its factory's ``example_options``
    (a class attribute, or a function's attribute: a dict of option values), as a new dict; ``{}``
    when it declares none.

    Why: a component with a required option (``n_out``) cannot be built without a value for it,
    so ``corenn plugins --check``, ``corenn gradcheck`` and ``corenn describe`` take the values
    its author declared (``example_options = {"n_out": 3, "kernel_size": 2}``) instead of
    skipping it. Values are what a config's table would hold (numbers, strings, lists, tables).
    """
    examples = getattr(factory, "example_options", None)
    return dict(examples) if isinstance(examples, dict) else {}


class Registry:
    """Registered components, keyed by (kind, name, backend)."""

    def __init__(self):
        self._entries = {}

    def add_all(self, registrations):
        """Add one plugin's registrations, all or none (see :meth:`check`)."""
        self._entries.update({registration.key: registration for registration in self.check(registrations)})

    def check(self, registrations):
        """Raise unless one plugin's registrations could all be added; return them.

        An unknown kind, a (kind, name, backend) registered twice by the plugin, or one that
        is already taken is an error naming both distributions. A name of a first-party package
        (see :data:`FIRST_PARTY_DISTRIBUTIONS`) is never taken over by a third party.
        """
        staged = {}
        for registration in registrations:
            if registration.kind not in KINDS:
                raise PluginError(
                    f"{registration.distribution} registers {registration.name!r} under unknown "
                    f"kind {registration.kind!r}; kinds are: {', '.join(KINDS)}"
                )
            existing = (
                self._entries.get(registration.key)
                or staged.get(registration.key)
                or self._other_distributions_variant(registration, staged)
            )
            if (
                existing is not None
                and is_first_party(existing.distribution)
                and not is_first_party(registration.distribution)
            ):
                raise PluginError(
                    f"{registration.label} belongs to {existing.distribution}, a first-party package, so "
                    f"{registration.distribution} may not register it; give yours another name"
                )
            if existing is not None:
                raise PluginError(
                    f"{registration.label} is registered twice: by {existing.distribution} and by {registration.distribution}"
                )
            staged[registration.key] = registration
        return list(staged.values())

    def _other_distributions_variant(self, registration, staged):
        """A registration of the same kind and name by another distribution, one of the two for
        backend "any" and the other for one backend: that would be an override across
        distributions, refused like a name registered twice."""
        for table in (self._entries, staged):
            for entry in table.values():
                if (
                    entry.kind == registration.kind
                    and entry.name == registration.name
                    and ANY_BACKEND in (entry.backend, registration.backend)
                    and entry.backend != registration.backend
                    and entry.distribution != registration.distribution
                ):
                    return entry
        return None

    def backends(self):
        """The names of the registered backends."""
        return sorted(entry.name for entry in self._entries.values() if entry.kind == "backend")

    def remove_plugin(self, plugin):
        """Forget every registration of ``plugin`` (one found to be broken after it loaded)."""
        self._entries = {key: entry for key, entry in self._entries.items() if entry.plugin != plugin}

    def serves(self, entry, backend, backends=None):
        """Whether ``entry`` can be built for ``backend``: its own, or "any" where ``backend`` is
        installed and the same name is not registered for it alone (``backends``: :meth:`backends`,
        when the caller has it already)."""
        if entry.backend == backend:
            return True
        return (
            entry.backend == ANY_BACKEND
            and backend in (self.backends() if backends is None else backends)
            and (entry.kind, entry.name, backend) not in self._entries
        )

    def entries(self, kind=None, backend=None):
        """Registrations, sorted by kind, name and backend, optionally of one kind / backend (the
        components for backend "any" that serve it included)."""
        if kind is not None:
            _check_kind(kind)
        backends = self.backends() if backend is not None else None
        return [
            entry
            for key, entry in sorted(self._entries.items())
            if (kind is None or entry.kind == kind) and (backend is None or self.serves(entry, backend, backends))
        ]

    def names(self, kind, backend=None):
        """Sorted names registered for a kind (and backend)."""
        return sorted({entry.name for entry in self.entries(kind, backend)})

    def get_registration(self, kind, name, backend=DEFAULT_BACKEND):
        """The registration of exactly (kind, name, backend), or ``None``."""
        return self._entries.get((kind, name, backend))

    def get(self, kind, name, backend=DEFAULT_BACKEND):
        """The registration of a component, or an error that lists what is there instead."""
        _check_kind(kind)
        entry = self._entries.get((kind, name, backend))
        if entry is not None:
            return entry
        generic = self._entries.get((kind, name, ANY_BACKEND))
        if generic is not None and backend != ANY_BACKEND:
            if backend not in self.backends():
                raise UnknownComponentError(
                    f"unknown backend {backend!r} for {kind} {name!r}; backends: {', '.join(self.backends())}"
                )
            return generic
        elsewhere = sorted(e.backend for e in self.entries(kind) if e.name == name)
        if elsewhere:
            raise UnknownComponentError(
                f"{kind} {name!r} is not available on the {backend} backend; "
                f"backends that have it: {', '.join(elsewhere)}"
            )
        known = self.names(kind, backend)
        plural = "losses" if kind == "loss" else kind if kind.endswith("s") else f"{kind}s"
        raise UnknownComponentError(
            f"unknown {kind} {name!r}{did_you_mean(name, known)} for backend {backend}; known {plural}: "
            + (", ".join(known) if known else "(none registered: is its plugin installed?)")
        )

    def create(self, kind, name, backend=DEFAULT_BACKEND, **options):
        """Build a component from its keyword options, checking them against its factory; it is
        built for ``backend`` (see :func:`corenn.backend.building_for`). Backends and modules of
        kernel overrides are no components: ``corenn.plugins.get_backend`` makes a backend."""
        if kind in ("backend", "kernels"):
            raise ConfigError(
                f"a {kind} registration is not built with create(); a backend is made by corenn.plugins.get_backend(name)"
            )
        factory = self.get(kind, name, backend).load()
        allowed = option_names(factory)
        if allowed is not None:
            unknown = sorted(set(options) - set(allowed))
            if unknown:
                raise ConfigError(
                    f"{kind} {name!r} has no option {', '.join(repr(key) + did_you_mean(key, allowed) for key in unknown)}; "
                    f"its options are: {', '.join(allowed) if allowed else '(none)'}"
                )
            missing = [name for name in required_option_names(factory) if name not in options]
            if missing:
                raise ConfigError(
                    f"{kind} {name!r} needs the option{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                    f"(no default); its options are: {', '.join(allowed)}"
                )
        try:
            with building_for(backend):
                return factory(**options)
        except ConfigError as exc:
            raise type(exc)(f"{kind} {name!r}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{kind} {name!r}: {exc}") from exc
