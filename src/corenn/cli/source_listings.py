"""Source listings of registered components, for course submissions and reports.

A listing shows the code that really runs: the registry's factory for a (kind, name, backend),
third-party plugins' included, read back with :func:`inspect.getsource`. Whole classes, or only
chosen methods (``forward``, ``backward``), rendered as Markdown (fenced ``python`` blocks under
``#`` headings) or as LaTeX meant for ``\\input`` (a sectioning command, then one
``lstlisting`` environment per block; the including document loads the ``listings`` package)::

    text = render_listing(["layer:fully_connected", "activation:relu"], methods=["forward", "backward"])

The math a course submission needs is in the kernels a component calls (see :mod:`corenn.kernels`):
a class's listing (or its chosen methods') starts with the reference code of the kernels its own
module declares and the code shown calls, so that a docstring's "the kernels above" holds
(``kernels=False`` leaves them out). ``kernel:NAME`` lists one declared kernel's reference by the
name ``corenn kernels`` shows; ``kernels:MODULE`` a module of one backend's overrides.
"""

import inspect
import re
import textwrap
from pathlib import Path

import attrs

from corenn.errors import ConfigError, CorennError, UnknownComponentError, did_you_mean
from corenn.registry import COMPONENT_KINDS, DEFAULT_BACKEND, KINDS

# ``kernel:NAME`` is a declared kernel (its reference), which no registration names.
LISTING_KINDS = (*KINDS, "kernel")

FORMATS = ("markdown", "latex")
LEVELS = (1, 2, 3)
LATEX_HEADINGS = {1: "section", 2: "subsection", 3: "subsubsection"}
_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_LSTLISTING_END = "\\end{lstlisting}"


@attrs.frozen
class ComponentSource:
    """The source of one component: its heading's parts and one code block per part shown.

    ``what`` is a plain description for the heading where there is no single object to name (a
    module of overrides); ``note`` a sentence under the heading, identifiers in backticks."""

    kind: str
    name: str
    backend: str
    qualified_name: str
    blocks: tuple
    what: str | None = None
    note: str | None = None

    def heading(self, code=lambda text: text, plain=lambda text: text):
        """``layer fully_connected: corenn_fc.fully_connected.FullyConnected``, with the
        identifiers passed through ``code`` (backticks in Markdown, ``\\texttt`` in LaTeX) and
        the rest through ``plain`` (LaTeX escaping)."""
        backend = "" if self.backend == DEFAULT_BACKEND else f" [{self.backend}]"
        described = plain(self.what) if self.what is not None else code(self.qualified_name)
        return f"{plain(self.kind)} {code(self.name)}{plain(backend)}: {described}"


def parse_component_spec(spec):
    """``"layer:fully_connected"`` -> ``("layer", "fully_connected")``."""
    kind, separator, name = str(spec).partition(":")
    kind, name = kind.strip(), name.strip()
    if not separator or not kind or not name or ":" in name:
        raise ConfigError(
            f"component {spec!r} is not of the form KIND:NAME (for example layer:fully_connected); "
            f"kinds are: {', '.join(LISTING_KINDS)}"
        )
    if kind not in LISTING_KINDS:
        raise ConfigError(
            f"component {spec!r} has unknown kind {kind!r}{did_you_mean(kind, LISTING_KINDS)}; "
            f"kinds are: {', '.join(LISTING_KINDS)}"
        )
    return kind, name


def parse_method_names(text):
    """``"forward, backward"`` -> ``["forward", "backward"]``; empty entries are an error."""
    names = [part.strip() for part in str(text).split(",")]
    if not all(names):
        raise ConfigError(f"--methods takes comma-separated method names (forward,backward), got {text!r}")
    return names


def component_source(kind, name, *, methods=None, backend=DEFAULT_BACKEND, registry=None, kernels=True):
    """Read the source of a registered component's factory (or of some of its methods), after
    the reference code of the kernels that code calls (``kernels=False``: without them)."""
    if registry is None:
        from corenn.plugins import get_registry

        registry = get_registry()
    if kind == "kernel":
        return _kernel_source(name, backend, registry)
    if kind == "kernels":
        return _overrides_source(name, methods, backend, registry)
    factory = registry.get(kind, name, backend).load()
    label = f"{kind} {name!r}"
    qualified_name = f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', repr(factory))}"
    if not methods:
        shown = [factory]
        blocks = (_source_of(factory, label),)
    elif not inspect.isclass(factory):
        raise ConfigError(
            f"{label} is built by the function {qualified_name}, which has no methods to pick; "
            f"list it without --methods"
        )
    else:
        shown = [_method(factory, method, label) for method in methods]
        blocks = tuple(
            _source_of(function, f"{label} method {method!r}") for function, method in zip(shown, methods, strict=True)
        )
    called = kernels_called(shown, blocks) if kernels else []
    if not called:
        return ComponentSource(kind, name, backend, qualified_name, blocks)
    note = (
        f"The reference code of the kernels it calls ({', '.join(f'`{found.name}`' for found in called)}: "
        f"the math, as `corenn train --kernels reference` runs it), then "
        + ("the class." if not methods else "its methods.")
    )
    kernel_blocks = tuple(_source_of(found.reference, f"kernel {found.name!r}") for found in called)
    return ComponentSource(kind, name, backend, qualified_name, kernel_blocks + blocks, note=note)


def kernels_called(objects, sources):
    """The declared kernels (:class:`corenn.kernels.Kernel`) that the code of ``objects`` (a
    class, functions) calls by name, of those declared in each object's own module: the math of
    a component whose methods call ``conv2d_forward(...)``. In the order they are declared."""
    from corenn.kernels import declared_kernels

    found = []
    for obj, source in zip(objects, sources, strict=True):
        module = getattr(obj, "__module__", None)
        for declared in declared_kernels():
            if declared.reference.__module__ != module or declared in found:
                continue
            if re.search(rf"(?<![\w.]){re.escape(declared.name)}\(", source):
                found.append(declared)
    return sorted(found, key=_declaration_line)


def _declaration_line(declared):
    try:
        return (declared.reference.__module__, inspect.getsourcelines(declared.reference)[1])
    except (OSError, TypeError):
        return (declared.reference.__module__, 0)


def _kernel_source(name, backend, registry):
    """``kernel:NAME``: a declared kernel's reference (its name as ``corenn kernels`` shows it, or
    ``module.name`` where two packages declare one name), and what ``backend`` runs for it."""
    declared = _declared_kernels(registry)
    matches = [found for found in declared if name in (found.name, found.qualified_name.replace(":", "."))]
    if not matches:
        names = sorted({found.name for found in declared})
        raise UnknownComponentError(
            f"unknown kernel {name!r}{did_you_mean(name, names)}; declared kernels (corenn kernels lists them): "
            + (", ".join(names) if names else "(none: is a plugin installed?)")
        )
    if len(matches) > 1:
        qualified = ", ".join(found.qualified_name.replace(":", ".") for found in matches)
        raise ConfigError(f"kernel {name!r} is declared more than once: name one of {qualified}")
    found = matches[0]
    qualified_name = found.qualified_name.replace(":", ".")
    override = _override_for(found, backend, registry)
    if override is None:
        runs = f"on {backend} the reference runs (it has no override of it)."
    else:
        module = override.function.__module__
        runs = f"{backend} runs its override `{override.origin}` (`corenn listing kernels:{module}`)."
    note = f"The reference (the course's math); {runs}"
    return ComponentSource(
        "kernel", found.name, backend, qualified_name, (_source_of(found.reference, f"kernel {name!r}"),), note=note
    )


def _declared_kernels(registry):
    """Every kernel the registry's components declare: their modules are imported (kernels are
    declared beside the components that call them); one that fails to import is skipped."""
    from corenn.errors import PluginError
    from corenn.kernels import declared_kernels

    for entry in registry.entries():
        if entry.kind in COMPONENT_KINDS and isinstance(entry.factory, str):
            try:
                entry.load()
            except PluginError:
                continue
    return declared_kernels()


def _override_for(declared, backend, registry):
    """The override ``backend`` runs for a kernel, installing the backend's overrides first (as
    ``corenn kernels`` does) when this is the loaded plugins' registry; ``None`` for the reference."""
    from corenn.plugins import get_plugins

    system = get_plugins()
    if system.registry is registry and backend in registry.backends():
        system.backend(backend)
    return declared.override_for(backend)


def _overrides_source(name, methods, backend, registry):
    """``kernels:MODULE``: a module of kernel overrides registered for ``backend``, whole or its
    chosen functions (``--methods``)."""
    entry = registry.get_registration("kernels", name, backend)
    if entry is None:
        modules = sorted(found.name for found in registry.entries("kernels") if found.backend == backend)
        hint = ""
        if name in {found.name for found in _declared_kernels(registry)}:
            hint = f"; {name!r} is a declared kernel: list its reference as kernel:{name}"
        raise UnknownComponentError(
            f"no module of kernel overrides {name!r}{did_you_mean(name, modules)} for backend {backend}; "
            f"modules of {backend}'s overrides: " + (", ".join(modules) if modules else "(none)") + hint
        )
    module = entry.load()
    what = f"the {backend} backend's kernel overrides"
    if not methods:
        return ComponentSource(
            "kernels", name, backend, module.__name__, (_source_of(module, f"kernels {name!r}"),), what=what
        )
    functions = {
        attr: value
        for attr, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == module.__name__
    }
    blocks = []
    for function_name in methods:
        if function_name not in functions:
            public = [attr for attr in functions if not attr.startswith("_")]
            raise ConfigError(
                f"kernels {name!r} has no function {function_name!r}{did_you_mean(function_name, list(functions))}; "
                f"its functions are: {', '.join(public)}"
            )
        blocks.append(_source_of(functions[function_name], f"kernels {name!r} function {function_name!r}"))
    return ComponentSource("kernels", name, backend, module.__name__, tuple(blocks), what=what)


def _method(cls, method_name, label):
    """The function behind ``cls.method_name``, inherited ones included."""
    try:
        attribute = inspect.getattr_static(cls, method_name)
    except AttributeError:
        attribute = None
    if isinstance(attribute, (staticmethod, classmethod)):
        attribute = attribute.__func__
    elif isinstance(attribute, property):
        attribute = attribute.fget
    if not inspect.isfunction(attribute):
        names = _method_names(cls)
        suggestions = [known for known in names if not (known.startswith("__") and known != "__init__")]
        public = [known for known in names if known == "__init__" or not known.startswith("_")]
        raise ConfigError(
            f"{label} ({cls.__qualname__}) has no method {method_name!r}{did_you_mean(method_name, suggestions)}; "
            f"its methods are: {', '.join(public)}"
        )
    return attribute


def _method_names(cls):
    """Methods a class defines or inherits, ``object``'s left out, in definition order."""
    names = []
    for klass in reversed(cls.__mro__):
        if klass is object:
            continue
        for attr_name, value in vars(klass).items():
            if isinstance(value, (staticmethod, classmethod, property)) or inspect.isfunction(value):
                if attr_name not in names:
                    names.append(attr_name)
    return names


def _source_of(obj, label):
    try:
        source = inspect.getsource(obj)
    except (OSError, TypeError) as exc:
        raise CorennError(f"cannot read the source of {label}: {exc}") from exc
    return textwrap.dedent(source).rstrip("\n")


def latex_escape(text):
    """``text`` with LaTeX's special characters escaped, for use in a heading."""
    return "".join(_LATEX_SPECIALS.get(char, char) for char in text)


def _markdown_fence(code):
    """A backtick fence longer than any run of backticks inside the code."""
    longest, run = 0, 0
    for char in code:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def _latex_sentence(text):
    """A note's text for LaTeX: its backticked identifiers in ``\\texttt``, the rest escaped."""
    pieces = text.split("`")
    return "".join(
        f"\\texttt{{{latex_escape(piece)}}}" if index % 2 else latex_escape(piece) for index, piece in enumerate(pieces)
    )


def render_markdown(sources, level):
    parts = []
    for source in sources:
        parts.append(f"{'#' * level} {source.heading(lambda text: f'`{text}`')}")
        if source.note:
            parts.append(source.note)
        for code in source.blocks:
            fence = _markdown_fence(code)
            parts.append(f"{fence}python\n{code}\n{fence}")
    return "\n\n".join(parts) + "\n"


def render_latex(sources, level):
    parts = []
    for source in sources:
        heading = source.heading(lambda text: f"\\texttt{{{latex_escape(text)}}}", latex_escape)
        parts.append(f"\\{LATEX_HEADINGS[level]}{{{heading}}}")
        if source.note:
            parts.append(_latex_sentence(source.note))
        for code in source.blocks:
            if _LSTLISTING_END in code:
                raise ConfigError(
                    f"the source of {source.kind} {source.name!r} contains {_LSTLISTING_END!r}, which would "
                    f"end the LaTeX listing early; render it as markdown instead"
                )
            parts.append(f"\\begin{{lstlisting}}[language=Python]\n{code}\n{_LSTLISTING_END}")
    return "\n\n".join(parts) + "\n"


def render_listing(
    specs, *, methods=None, fmt="markdown", level=2, backend=DEFAULT_BACKEND, registry=None, kernels=True
):
    """The listing of the components named by ``specs`` (``"kind:name"``), as one string.

    ``methods`` (names, or one comma-separated string) picks methods of each component's class
    (or functions of a ``kernels`` module); ``None`` shows whole classes (or factory functions).
    ``kernels`` puts the reference code of the kernels that code calls first. ``level`` 1, 2 or 3
    is the heading level.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"unknown listing format {fmt!r}; formats are: {', '.join(FORMATS)}")
    if isinstance(level, bool) or level not in LEVELS:
        raise ConfigError(f"heading level must be 1, 2 or 3, got {level!r}")
    if not specs:
        raise ConfigError("name at least one component to list, as KIND:NAME (for example layer:fully_connected)")
    if isinstance(methods, str):
        methods = parse_method_names(methods)
    parsed = [parse_component_spec(spec) for spec in specs]
    sources = [
        component_source(kind, name, methods=methods, backend=backend, registry=registry, kernels=kernels)
        for kind, name in parsed
    ]
    renderer = render_markdown if fmt == "markdown" else render_latex
    return renderer(sources, level)


def write_listing(text, path):
    """Write a listing to ``path`` atomically (a temporary file, then ``os.replace``)."""
    from corenn.files import atomic_write

    path = Path(path)
    if not path.parent.is_dir():
        raise ConfigError(f"cannot write the listing to {path}: folder {path.parent} does not exist")
    if path.is_dir():
        raise ConfigError(f"cannot write the listing to {path}: it is a folder; name a file")
    atomic_write(path, text)
