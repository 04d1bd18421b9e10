"""Source listings of registered components, for course submissions and reports.

A listing shows the code that really runs: the registry's factory for a (kind, name, backend),
third-party plugins' included, read back with :func:`inspect.getsource`. Whole classes, or only
chosen methods (``forward``, ``backward``), rendered as Markdown (fenced ``python`` blocks under
``#`` headings) or as LaTeX meant for ``\\input`` (a sectioning command, then one
``lstlisting`` environment per block; the including document loads the ``listings`` package)::

    text = render_listing(["layer:fully_connected", "activation:relu"], methods=["forward", "backward"])
"""

import inspect
import textwrap
from pathlib import Path

import attrs

from corenn.errors import ConfigError, CorennError
from corenn.registry import DEFAULT_BACKEND, KINDS

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
    """The source of one component: its heading's parts and one code block per part shown."""

    kind: str
    name: str
    backend: str
    qualified_name: str
    blocks: tuple

    def heading(self, code=lambda text: text, plain=lambda text: text):
        """``layer fully_connected: corenn_fc.fully_connected.FullyConnected``, with the
        identifiers passed through ``code`` (backticks in Markdown, ``\\texttt`` in LaTeX) and
        the rest through ``plain`` (LaTeX escaping)."""
        backend = "" if self.backend == DEFAULT_BACKEND else f" [{self.backend}]"
        return f"{plain(self.kind)} {code(self.name)}{plain(backend)}: {code(self.qualified_name)}"


def parse_component_spec(spec):
    """``"layer:fully_connected"`` -> ``("layer", "fully_connected")``."""
    kind, separator, name = str(spec).partition(":")
    kind, name = kind.strip(), name.strip()
    if not separator or not kind or not name or ":" in name:
        raise ConfigError(
            f"component {spec!r} is not of the form KIND:NAME (for example layer:fully_connected); "
            f"kinds are: {', '.join(KINDS)}"
        )
    if kind not in KINDS:
        raise ConfigError(f"component {spec!r} has unknown kind {kind!r}; kinds are: {', '.join(KINDS)}")
    return kind, name


def parse_method_names(text):
    """``"forward, backward"`` -> ``["forward", "backward"]``; empty entries are an error."""
    names = [part.strip() for part in str(text).split(",")]
    if not all(names):
        raise ConfigError(f"--methods takes comma-separated method names (forward,backward), got {text!r}")
    return names


def component_source(kind, name, *, methods=None, backend=DEFAULT_BACKEND, registry=None):
    """Read the source of a registered component's factory (or of some of its methods)."""
    if registry is None:
        from corenn.plugins import get_registry

        registry = get_registry()
    factory = registry.get(kind, name, backend).load()
    label = f"{kind} {name!r}"
    qualified_name = f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', repr(factory))}"
    if not methods:
        return ComponentSource(kind, name, backend, qualified_name, (_source_of(factory, label),))
    if not inspect.isclass(factory):
        raise ConfigError(
            f"{label} is built by the function {qualified_name}, which has no methods to pick; "
            f"list it without --methods"
        )
    blocks = tuple(_source_of(_method(factory, method, label), f"{label} method {method!r}") for method in methods)
    return ComponentSource(kind, name, backend, qualified_name, blocks)


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
        raise ConfigError(
            f"{label} ({cls.__qualname__}) has no method {method_name!r}; its methods are: "
            f"{', '.join(_method_names(cls))}"
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


def render_markdown(sources, level):
    parts = []
    for source in sources:
        parts.append(f"{'#' * level} {source.heading(lambda text: f'`{text}`')}")
        for code in source.blocks:
            fence = _markdown_fence(code)
            parts.append(f"{fence}python\n{code}\n{fence}")
    return "\n\n".join(parts) + "\n"


def render_latex(sources, level):
    parts = []
    for source in sources:
        heading = source.heading(lambda text: f"\\texttt{{{latex_escape(text)}}}", latex_escape)
        parts.append(f"\\{LATEX_HEADINGS[level]}{{{heading}}}")
        for code in source.blocks:
            if _LSTLISTING_END in code:
                raise ConfigError(
                    f"the source of {source.kind} {source.name!r} contains {_LSTLISTING_END!r}, which would "
                    f"end the LaTeX listing early; render it as markdown instead"
                )
            parts.append(f"\\begin{{lstlisting}}[language=Python]\n{code}\n{_LSTLISTING_END}")
    return "\n\n".join(parts) + "\n"


def render_listing(specs, *, methods=None, fmt="markdown", level=2, backend=DEFAULT_BACKEND, registry=None):
    """The listing of the components named by ``specs`` (``"kind:name"``), as one string.

    ``methods`` (names, or one comma-separated string) picks methods of each component's class;
    ``None`` shows whole classes (or factory functions). ``level`` 1, 2 or 3 is the heading level.
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
        component_source(kind, name, methods=methods, backend=backend, registry=registry) for kind, name in parsed
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
