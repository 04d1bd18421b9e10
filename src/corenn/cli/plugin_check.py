"""``corenn plugins --check``: import every registered factory, build every component, and check
the gradients of every layer, activation and loss it built.

Listing plugins imports none of their factories (they are ``"module:attr"`` strings), so a
factory that points nowhere, a component whose constructor fails, or a backward pass that is
wrong would otherwise surface only when some config names it, or never (a wrong gradient of
the right shape trains, badly). The check does all three for every registration and names the
plugin of each failure:

- a component is built with its defaults, its required options taken from its
  ``example_options`` (see :func:`corenn.registry.example_options_for`) and, for a scheduler,
  the options the trainer passes (:data:`TRAINER_OPTIONS`). One whose required options have no
  example is *unchecked*, and the line says which example to declare; one that refuses those
  options with a ``ConfigError`` likewise. Unchecked is not passed: the check exits 1, as it
  does for a failure, since a component it could not build was never checked. A default that
  names an unknown component is a failure;
- every layer, activation and loss built is checked by finite differences at random parameters
  and inputs (:func:`corenn.testing.gradient_errors`, the check of ``corenn gradcheck``), on
  each backend it was built for: a wrong gradient of the right shape fails here;
- a component written once for every backend (``backend="any"``) is built and checked on each
  installed backend; data sets are only imported (building one loads or downloads its data).

Each plugin's factories are timed as they are imported (``import_seconds``), beside the import
of the plugin module itself that every command pays (``PluginInfo.import_seconds``). Every
kernel override installed on a backend is held to its kernel's reference
(:func:`check_overrides`); an override of a kernel that declares no examples is unchecked.
"""

import time
import traceback

import attrs

from corenn.errors import ConfigError, CorennError, PluginError, UnknownComponentError
from corenn.registry import ANY_BACKEND, example_options_for, required_option_names

IMPORT_ONLY_KINDS = ("dataset", "backend", "kernels")
GRADIENT_CHECKED_KINDS = ("layer", "activation", "loss")
WHY_IMPORTED_ONLY = {
    "dataset": "a data set, not loaded",
    "backend": "a backend, made when it is used",
    "kernels": "kernel overrides, checked when their backend is made",
}
# What the trainer passes a component itself (corenn.run.build), so a config never sets them.
TRAINER_OPTIONS = {"scheduler": {"initial_lr": 0.1, "total_steps": 100}}
GRADIENT_TOLERANCE = 1e-6  # as corenn gradcheck's default


@attrs.frozen
class CheckResult:
    """What happened to one registration: ``built`` (and, for a layer, activation or loss,
    gradient-checked: ``gradient_error`` is its largest relative error), ``imported`` (a data
    set, backend or module of overrides, which the check never builds: ``why_not_built``),
    ``unchecked`` (it could not be built or held to anything: ``why_not_built`` says what to
    declare) or ``failed`` (``error``, and its ``traceback`` when it raised)."""

    kind: str
    name: str
    backend: str
    plugin: str
    distribution: str
    outcome: str
    error: str | None = None
    why_not_built: str | None = None
    gradient_error: float | None = None
    import_seconds: float = 0.0
    traceback: str | None = None

    @property
    def ok(self):
        return self.outcome in ("built", "imported")

    def as_dict(self):
        return attrs.asdict(self)


def check_component(registry, entry):
    """Import one registration's factory, build it (with its example options where it needs
    some) on every backend it serves, and gradient-check what it built."""
    fields = dict(
        kind=entry.kind, name=entry.name, backend=entry.backend, plugin=entry.plugin, distribution=entry.distribution
    )
    started = time.perf_counter()
    try:
        factory = entry.load()
    except Exception as exc:  # a plugin's import may fail any way at all
        return _failed(fields, _describe(exc), exc, import_seconds=time.perf_counter() - started)
    fields["import_seconds"] = time.perf_counter() - started
    if entry.kind in IMPORT_ONLY_KINDS:
        return CheckResult(**fields, outcome="imported", why_not_built=WHY_IMPORTED_ONLY[entry.kind])
    options = _trainer_options(entry.kind, factory) | example_options_for(factory)
    needed = [name for name in required_option_names(factory) if name not in options]
    if needed:
        why = f"needs {', '.join(needed)}: declare example_options on {getattr(factory, '__name__', factory)!s} to check it"
        return CheckResult(**fields, outcome="unchecked", why_not_built=why)
    largest = None
    for backend in _backends_to_build_on(registry, entry):
        on = "" if backend == entry.backend else f" on backend {backend}"
        how = "its example options" if example_options_for(factory) else "its default options"
        try:
            component = registry.create(entry.kind, entry.name, backend, **options)
        except (UnknownComponentError, PluginError) as exc:
            return _failed(fields, f"building it with {how}{on}: {exc}", None)
        except ConfigError as exc:
            return CheckResult(**fields, outcome="unchecked", why_not_built=f"{how} are refused{on}: {exc}")
        except Exception as exc:
            return _failed(fields, f"building it with {how}{on}: {_describe(exc)}", exc)
        if entry.kind not in GRADIENT_CHECKED_KINDS:
            continue
        problem, error = _gradient_problem(entry.kind, component, backend)
        if problem is not None:
            return _failed(fields, problem, error if isinstance(error, BaseException) else None)
        largest = error if largest is None else max(largest, error)
    return CheckResult(**fields, outcome="built", gradient_error=largest)


def _trainer_options(kind, factory):
    """The options of :data:`TRAINER_OPTIONS` that ``factory`` takes."""
    from corenn.registry import option_names

    accepted = option_names(factory)
    return {key: value for key, value in TRAINER_OPTIONS.get(kind, {}).items() if accepted is None or key in accepted}


def _gradient_problem(kind, component, backend):
    """``(problem, largest error)``: ``problem`` is ``None`` when ``component``'s gradients pass
    the finite-difference check; else what failed (and the exception, when one was raised)."""
    from corenn.testing import gradient_errors

    try:
        _, errors, failure = gradient_errors(kind, component)
    except Exception as exc:  # a forward or backward that raises: a bug of the plugin's
        return f"gradient check on {backend}: {_describe(exc)}", exc
    if failure is not None:
        return f"gradient check on {backend}: {failure}", None
    worst = max(errors, key=errors.get) if errors else None
    if worst is not None and errors[worst] > GRADIENT_TOLERANCE:
        return (
            f"gradient check on {backend}: dL/d{worst} differs from finite differences by a relative error of "
            f"{errors[worst]:.3e} (above {GRADIENT_TOLERANCE:g}) at random parameters and inputs",
            None,
        )
    return None, max(errors.values(), default=0.0)


def _failed(fields, error, exc, **extra):
    trace = "".join(traceback.format_exception(exc)) if exc is not None and exc.__traceback__ else None
    return CheckResult(**(fields | extra), outcome="failed", error=error, traceback=trace)


def _backends_to_build_on(registry, entry):
    """A component written once (backend "any") is built for every backend it serves, each
    with its own activations; any other for its own backend."""
    if entry.backend != ANY_BACKEND:
        return [entry.backend]
    return [backend for backend in registry.backends() if registry.serves(entry, backend)]


def check_components(registry):
    """A :class:`CheckResult` for every registration, in the registry's order."""
    return [check_component(registry, entry) for entry in registry.entries()]


def check_overrides(system):
    """A :class:`CheckResult` (kind ``"override"``) for every kernel override installed on the
    backends made so far, held to its kernel's reference on the kernel's examples
    (:func:`corenn.testing.check_kernel`), under the plugin that registered it."""
    from corenn.kernels import installed_overrides
    from corenn.testing import check_kernel

    results = []
    for backend in system.registry.backends():
        for override in installed_overrides(backend).values():
            fields = dict(
                kind="override",
                name=override.kernel.name,
                backend=backend,
                plugin=override.plugin,
                distribution=override.distribution,
            )
            if override.kernel.examples is None:
                why = (
                    f"kernel {override.kernel.qualified_name} declares no examples to check its overrides on: "
                    "give it @kernel(examples=...)"
                )
                results.append(CheckResult(**fields, outcome="unchecked", why_not_built=why))
                continue
            try:
                report = check_kernel(override.kernel, backend)
            except Exception as exc:
                results.append(_failed(fields, f"checking {override.origin}: {_describe(exc)}", exc))
                continue
            if report.passed:
                results.append(CheckResult(**fields, outcome="built", gradient_error=report.max_error))
            else:
                problem = "; ".join(report.failures) or f"largest relative error {report.max_error:.3e}"
                results.append(
                    _failed(fields, f"{override.origin} differs from the kernel's reference: {problem}", None)
                )
    return results


def _describe(exc):
    return str(exc) if isinstance(exc, CorennError) else f"{type(exc).__name__}: {exc}"
