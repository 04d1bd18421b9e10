"""``corenn describe KIND NAME``: what a registered component is and how a config uses it.

Everything shown comes from the registry and the component's own code, so it covers a third
party's components as it does corenn's: the options from the factory's signature (types from
annotations, else from the default or the example value), the allowed values from a ``Literal``
annotation, from the class attribute ``option_values`` (``{"mode": ("max", "average")}``, or a
sentence for a range: ``{"rate": "a number in [0, 1)"}``) or, for ``activation`` and
``weight_init``, from the registered names; the default from the signature, or from the
attribute ``option_defaults`` where the signature holds a stand-in (``test_size=None`` meaning
``0.2`` of the samples); an option whose ``__init__`` reads it with
:func:`corenn.nn.geometry.positive_pair` (``kernel_shape``, ``stride``) is an integer or a pair; the docstring's first paragraph; the distribution
and version of the plugin that registered it; the backends it runs on; for a component whose
math is declared kernels (:mod:`corenn.kernels`), those kernels and what each backend runs for
them (as ``corenn kernels`` shows); and a config table that uses it, built from its
``example_options`` (see :func:`corenn.registry.example_options_for`).
"""

HELP = (
    "show a component's options (types, defaults, allowed values), documentation, plugin, backends and a config table"
)

KINDS = ("layer", "activation", "loss", "optimizer", "scheduler", "initializer", "dataset")
# Options the trainer or the layer passes a component itself: shown, never put in a config.
SET_FOR_IT = {
    "scheduler": {
        "initial_lr": "set by the trainer: the optimizer's lr",
        "total_steps": "set by the trainer unless given",
    },
    "initializer": {"activation": "set by the layer: its activation, for the gain"},
    "dataset": {"data_dir": "set by --data-dir or CORENN_DATA_DIR"},
}
# Options whose values are components of another kind: their allowed values are those registered.
COMPONENT_OPTIONS = {"activation": "activation", "weight_init": "initializer"}


def add_arguments(parser):
    parser.add_argument("kind", choices=KINDS, help="component kind")
    parser.add_argument("name", help="registered component name, e.g. fully_connected")
    parser.add_argument(
        "--backend", help="the registration for this backend (default: numpy, else the first registered)"
    )
    parser.add_argument("--json", action="store_true", help="print it as one JSON object")


def run(args):
    from corenn.cli.common import print_json
    from corenn.plugins import get_plugins

    described = describe(get_plugins(), args.kind, args.name, args.backend)
    if args.json:
        print_json(described)
    else:
        print(render(described))
    return 0


def describe(system, kind, name, backend=None):
    """What ``corenn describe`` shows of one registered component, as a dict (its ``--json``)."""
    import inspect

    from corenn.registry import ANY_BACKEND, example_options_for

    entry = _registration(system, kind, name, backend)
    factory = entry.load()
    info = next((info for info in system.plugins if info.name == entry.plugin), None)
    runs_on = system.registry.backends() if entry.backend == ANY_BACKEND else [entry.backend]
    examples = example_options_for(factory)
    return {
        "kind": kind,
        "name": name,
        "distribution": entry.distribution,
        "version": info.version if info is not None else None,
        "plugin": entry.plugin,
        "factory": entry.factory if isinstance(entry.factory, str) else _qualified(factory),
        "summary": _first_paragraph(inspect.getdoc(factory)),
        "registered_for": entry.backend,
        "backends": [
            other.backend if other.backend != ANY_BACKEND else f"{ANY_BACKEND} ({', '.join(runs_on)})"
            for other in system.registry.entries(kind)
            if other.name == name
        ],
        "runs_on": runs_on,
        "options": _options(system, kind, factory, examples),
        "example_options": examples,
        "example_input_shape": _shape(getattr(factory, "example_input_shape", None)),
        "kernels": _kernels(system, factory, runs_on),
        "example_config": example_config(kind, name, factory, examples),
    }


def _registration(system, kind, name, backend):
    """The registration described: for ``backend``, else numpy's, else the first there is."""
    from corenn.errors import UnknownComponentError

    registry = system.registry
    if backend is not None:
        return registry.get(kind, name, backend)
    found = [entry for entry in registry.entries(kind) if entry.name == name]
    if not found:
        registry.get(kind, name)  # the error that lists the names there are
        raise UnknownComponentError(f"unknown {kind} {name!r}")
    for preferred in ("numpy", "any"):
        for entry in found:
            if entry.backend == preferred:
                return entry
    return found[0]


def _qualified(factory):
    return f"{getattr(factory, '__module__', '?')}:{getattr(factory, '__qualname__', repr(factory))}"


def _first_paragraph(doc):
    if not doc:
        return None
    return " ".join(doc.strip().split("\n\n")[0].split())


def _shape(value):
    return list(value) if isinstance(value, (tuple, list)) else None


def _options(system, kind, factory, examples):
    import inspect
    import typing

    from corenn.registry import factory_signature

    try:
        signature = factory_signature(factory)
    except (TypeError, ValueError):
        return []
    declared = getattr(factory, "option_values", None) or {}
    declared_defaults = getattr(factory, "option_defaults", None) or {}
    hints = _type_hints(factory)
    read_as = _options_read_by_helpers(factory)
    options = []
    for parameter in signature.parameters.values():
        if parameter.kind not in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            continue
        name = parameter.name
        required = parameter.default is inspect.Parameter.empty
        default = None if required else declared_defaults.get(name, parameter.default)
        annotation = hints.get(name)
        allowed = None
        if typing.get_origin(annotation) is typing.Literal:
            allowed = list(typing.get_args(annotation))
        elif name in declared and isinstance(declared[name], (list, tuple)):
            allowed = list(declared[name])
        elif name in declared and name not in read_as:  # else the helper's words say what it may be
            allowed = str(declared[name])
        elif name in COMPONENT_OPTIONS and kind != "initializer":
            allowed = system.registry.names(COMPONENT_OPTIONS[name])
        options.append(
            {
                "name": name,
                "type": read_as.get(name) or _type_name(name, annotation, default, examples.get(name)),
                "required": required,
                "default": _plain(default),
                "allowed": allowed,
                "example": _plain(examples.get(name)),
                "set_for_it": SET_FOR_IT.get(kind, {}).get(name),
            }
        )
    return options


def _type_hints(factory):
    """The annotations of the factory's options (its ``__init__``'s for a class), resolved where
    they can be; ``{}`` when they cannot."""
    import typing

    target = getattr(factory, "__init__", None) if isinstance(factory, type) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # annotations naming what cannot be imported here: show none rather than fail
        return {}


# What an option read by one of the core's helpers (called on it in ``__init__``) may be.
HELPER_TYPES = {
    "positive_pair": "a positive integer or a pair [rows, cols]",
    "checked_pad": '"same", "valid", a non-negative integer, a pair [rows, cols] or four [top, bottom, left, right]',
}


def _options_read_by_helpers(factory):
    """``{option: words}`` for the options a class's ``__init__`` passes, as they are, to one of
    :data:`HELPER_TYPES` (``positive_pair(kernel_shape, ...)``): the helper decides what they
    may be, whatever the default or the example suggests."""
    import ast
    import inspect
    import textwrap

    from corenn.nn import geometry

    init = vars(factory).get("__init__") if isinstance(factory, type) else None
    if not inspect.isfunction(init):
        return {}
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):
        return {}
    parameters = set(inspect.signature(init).parameters)
    found = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args):
            continue
        helper, argument = node.func.id, node.args[0]
        if (
            helper in HELPER_TYPES
            and init.__globals__.get(helper) is getattr(geometry, helper)
            and isinstance(argument, ast.Name)
            and argument.id in parameters
        ):
            found[argument.id] = HELPER_TYPES[helper]
    return found


TYPE_WORDS = {
    bool: "true or false",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    tuple: "array",
    dict: "table",
}


def _type_name(name, annotation, default, example):
    if name in COMPONENT_OPTIONS:
        return f"{COMPONENT_OPTIONS[name]} (a name, or a table {{ name = ..., options }})"
    if annotation is not None:
        return _annotation_words(annotation)
    for value in (default, example):
        if value is not None:
            return TYPE_WORDS.get(type(value), type(value).__name__)
    return "any" if default is None else type(default).__name__


def _annotation_words(annotation):
    """An annotation as a config's reader says it: ``str | int`` -> ``string or integer``,
    ``float | int | None`` -> ``number`` (an integer is a number; None is "unset"),
    ``Literal["a", "b"]`` -> ``string`` (the values are shown as the allowed ones)."""
    import types
    import typing

    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        parts = [type(value) for value in typing.get_args(annotation)]
    elif origin in (typing.Union, types.UnionType):
        parts = [part for part in typing.get_args(annotation) if part is not type(None)]
    else:
        parts = [annotation]
    words = []
    for part in parts:
        word = TYPE_WORDS.get(typing.get_origin(part) or part) or str(part).replace("typing.", "")
        if word not in words:
            words.append(word)
    if "number" in words and "integer" in words:
        words.remove("integer")
    if len(words) == 1:
        return words[0]
    return ", or ".join(words) if any(" or " in word for word in words) else " or ".join(words)


def _plain(value):
    """``value`` as JSON holds it (tuples as lists; anything else that JSON lacks as its repr)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return repr(value)


def _kernels(system, factory, backends):
    """The declared kernels the component calls (named in the source of its classes defined
    beside the kernels), each with where its reference is and what each backend runs for it."""
    import inspect
    import re

    from corenn.kernels import declared_kernels

    module = getattr(factory, "__module__", None)
    own = [kernel for kernel in declared_kernels() if kernel.reference.__module__ == module]
    if not own:
        return []
    sources = []
    for klass in getattr(factory, "__mro__", (factory,)):
        if getattr(klass, "__module__", None) == module:
            try:
                sources.append(inspect.getsource(klass))
            except (OSError, TypeError):
                continue
    called = [kernel for kernel in own if any(re.search(rf"\b{kernel.name}\(", source) for source in sources)]
    rows = []
    for backend in backends:
        system.backend(backend)  # installs its overrides (imports its library, as corenn kernels does)
    for kernel in called:
        try:
            line = inspect.getsourcelines(kernel.reference)[1]
            where = f"{kernel.reference.__module__.replace('.', '/')}.py:{line}"
        except (OSError, TypeError):
            where = kernel.qualified_name
        rows.append(
            {
                "kernel": kernel.name,
                "reference": where,
                "backends": {
                    backend: (override.origin if (override := kernel.override_for(backend)) else "reference")
                    for backend in backends
                },
            }
        )
    return rows


def toml_value(value):
    """``value`` written as a TOML value (an inline table for a dict)."""
    import json
    import math

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {toml_value(item)}" for key, item in value.items()) + " }"
    return json.dumps(str(value))


def example_config(kind, name, factory, examples):
    """A config table that uses the component: its example options set, its required options
    without an example marked, the others commented out at their defaults."""
    import inspect

    from corenn.registry import factory_signature

    try:
        parameters = [
            parameter
            for parameter in factory_signature(factory).parameters.values()
            if parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        ]
    except (TypeError, ValueError):
        parameters = []
    set_for_it = SET_FOR_IT.get(kind, {})
    declared_defaults = getattr(factory, "option_defaults", None) or {}
    lines, others, optional, required = [], [], [], []
    for parameter in parameters:
        key = parameter.name
        default = declared_defaults.get(key, parameter.default)
        if key in set_for_it:
            continue
        if key in examples:
            lines.append(f"{key} = {toml_value(examples[key])}")
        elif default is inspect.Parameter.empty:
            lines.append(f"# {key} = ...   (required: give it a value)")
            required.append(key)
        elif default is None:
            others.append(f"# {key} = ...   (unset by default)")
            optional.append((key, "..."))
        else:
            others.append(f"# {key} = {toml_value(default)}")
            optional.append((key, toml_value(default)))
    body = lines + others
    if kind == "layer":
        return "\n".join(["[[layers]]", f"name = {toml_value(name)}", *body])
    if kind == "dataset":
        body = [*body, "batch_size = 32   # every data set's table takes it: the mini-batch size"]
    if kind in ("loss", "optimizer", "scheduler", "dataset"):
        if kind == "loss" and not body:
            return f"loss = {toml_value(name)}"
        return "\n".join([f"[{kind}]", f"name = {toml_value(name)}", *body])
    option = "activation" if kind == "activation" else "weight_init"
    inline = {"name": name} | {key: examples[key] for key in examples if key not in set_for_it}
    value = toml_value(name) if len(inline) == 1 else toml_value(inline)
    if required:  # the bare name would be refused: "needs the option ..."
        needed = ", ".join(f"{key} = ..." for key in required)
        value = (
            toml_value(inline)[:-2] + f", {needed} }}"
            if len(inline) > 1
            else f"{{ name = {toml_value(name)}, {needed} }}"
        )
    return "\n".join(
        [
            "[[layers]]",
            'name = "fully_connected"',
            "n_out = 16",
            f"# {option} = {value}   (required: give {', '.join(required)} a value)"
            if required
            else f"{option} = {value}",
            *(f"# {option} = {{ name = {toml_value(name)}, {key} = {value} }}" for key, value in optional),
        ]
    )


def render(described):
    """The text of ``corenn describe``."""
    lines = [
        f"{described['kind']} {described['name']}, from {described['distribution']} {described['version'] or ''}".rstrip()
        + f" ({described['factory']})",
    ]
    if described["summary"]:
        lines += ["", *_wrapped(described["summary"], "  ")]
    lines += ["", f"runs on: {', '.join(described['runs_on'])}" + _written_once(described)]
    if described["options"]:
        lines += ["", "options:"]
        width = max(len(option["name"]) for option in described["options"])
        for option in described["options"]:
            lines.append(f"  {option['name']:<{width}}  {_option_text(option)}")
    else:
        lines += ["", "options: none"]
    if described["example_input_shape"]:
        lines.append(f"example input shape: {tuple(described['example_input_shape'])} (corenn gradcheck's default)")
    if described["kernels"]:
        lines += ["", "kernels it declares and calls (corenn kernels lists them all):"]
        width = max(len(row["kernel"]) for row in described["kernels"])
        for row in described["kernels"]:
            runs = "; ".join(
                f"{backend}: {'the reference' if what == 'reference' else what}"
                for backend, what in row["backends"].items()
            )
            lines.append(f"  {row['kernel']:<{width}}  {row['reference']}  ({runs})")
    lines += ["", "in a config:", *("  " + line for line in described["example_config"].splitlines())]
    return "\n".join(lines)


def _written_once(described):
    if described["registered_for"] == "any":
        return ' (written once: registered for backend "any")'
    return ""


def _option_text(option):
    parts = [option["type"]]
    if option["set_for_it"]:
        parts.append(option["set_for_it"])
    elif option["required"]:
        parts.append("required")
    else:
        parts.append(f"default {toml_value(option['default']) if option['default'] is not None else 'unset'}")
    if option["example"] is not None:
        parts.append(f"example {toml_value(option['example'])}")
    text = ", ".join(parts)
    allowed = option["allowed"]
    if isinstance(allowed, list) and allowed:
        text += f"; one of: {', '.join(str(toml_value(value)) if not isinstance(value, str) or option['name'] not in COMPONENT_OPTIONS else value for value in allowed)}"
    elif isinstance(allowed, str):
        text += f"; {allowed}"
    return text


def _wrapped(text, indent, width=96):
    import textwrap

    return textwrap.wrap(text, width=width, initial_indent=indent, subsequent_indent=indent)
