"""The site's references, generated from the code as the site is built, so they cannot drift.

A page asks for one with a marker on a line of its own, ``<!-- generated: NAME -->``; this mkdocs
hook (``hooks:`` in mkdocs.yml) replaces the marker with the Markdown of ``GENERATORS[NAME]``:

- ``config-keys``: every config key, its default and meaning (:mod:`corenn.run.config_keys`, what
  ``corenn show --keys`` prints, read from the attrs config classes);
- ``cli``: every command and flag, from ``corenn``'s own argument parser; ``cli-usage``: their usage lines;
- ``components``: every component corenn and its plugins register, with what ``corenn describe``
  shows of it (options, types, defaults, allowed values, kernels, a config table);
- ``module-map``: every module of corenn and its plugins with the first paragraph of its docstring;
- ``course-modules``: each module of the course package and the ``corenn.course`` module for it;
- ``packages``: each package's and sub-package's docstring, one paragraph each;
- ``import-contracts``: the import-linter contracts of pyproject.toml.

The hooks a plugin implements are rendered by mkdocstrings (``::: corenn.hookspecs``); the Sphinx
roles of the docstrings it renders (``:func:`` before a name) are dropped from the pages.

The same functions feed the docs tests (tests/docs/), which import this file by path.
"""

import argparse
import ast
import functools
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)
# The fence info words the docs tests act on (tests/docs/test_code_blocks.py); shown as plain
# languages on the site.
RUN_MARKERS = re.compile(r"^(\s*```[a-z]+) (?:exec|train|build)$", re.MULTILINE)
# The distributions whose components the reference lists: corenn's own (the example plugin's
# components are the plugin guides' subject, and absent where it is not installed).
OWN_DISTRIBUTIONS = ("corenn", "corenn-fc", "corenn-conv")
KIND_HEADINGS = {
    "layer": "Layers",
    "activation": "Activations",
    "loss": "Losses",
    "optimizer": "Optimizers",
    "scheduler": "Schedulers",
    "initializer": "Initializers",
    "dataset": "Data sets",
}
USAGE_WIDTH = 72  # usages wrapped to the width of the site's code blocks, whatever the building machine's terminal
# Sphinx roles in the docstrings mkdocstrings renders (":func:" before a code span): dropped.
SPHINX_ROLE = re.compile(r":(?:mod|class|func|data|meth|attr|exc):(?=<code>|`)")
PACKAGES = (
    ("corenn", ROOT / "src" / "corenn"),
    ("corenn_fc", ROOT / "plugins" / "nn-fc" / "src" / "corenn_fc"),
    ("corenn_conv", ROOT / "plugins" / "nn-conv" / "src" / "corenn_conv"),
    ("corenn_torch", ROOT / "plugins" / "nn-torch" / "src" / "corenn_torch"),
    ("corenn_tensorboard", ROOT / "plugins" / "tensorboard" / "src" / "corenn_tensorboard"),
)


def config_keys():
    from corenn.run.config_keys import markdown_table

    return markdown_table()


def _cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def _flag_row(action):
    if action.option_strings:
        names = ", ".join(f"`{flag}`" for flag in action.option_strings)
        if action.nargs != 0:
            names += f" `{action.metavar or action.dest.upper()}`"
    else:
        names = f"`{action.metavar or action.dest}`"
    if action.choices is not None and not isinstance(action.choices, dict):
        choices = ", ".join(f"`{choice}`" for choice in action.choices)
        names += f" (one of {choices})"
    default = action.default
    shown = "" if default in (None, False, argparse.SUPPRESS) or action.nargs == 0 else f"`{default}`"
    return f"| {names} | {shown} | {_cell(action.help or '')} |"


def cli():
    """Each command: its one-line help, its usage and a table of its arguments."""
    from corenn.cli import COMMANDS

    parser = _parser()
    lines = ["| command | what it does |", "| --- | --- |"]
    lines += [
        f"| [`corenn {name}`](#corenn-{name}) | {_cell(parser.commands[name].description)} |" for name in COMMANDS
    ]
    for name in COMMANDS:
        command = parser.commands[name]
        usage = command.format_usage().removeprefix("usage: ").rstrip()
        lines += ["", f"### corenn {name}", "", command.description, "", "```text", usage, "```", ""]
        actions = [action for action in command._actions if not isinstance(action, argparse._HelpAction)]
        lines += ["| argument | default | meaning |", "| --- | --- | --- |"]
        lines += [_flag_row(action) for action in actions]
    return "\n".join(lines) + "\n"


def _parser():
    """corenn's argument parser, its usages wrapped at ``USAGE_WIDTH`` columns."""
    from corenn.cli import build_parser

    parser = build_parser()
    for command in parser.commands.values():
        command.formatter_class = functools.partial(argparse.HelpFormatter, width=USAGE_WIDTH)
    return parser


def cli_usage():
    """Every command's usage, as one text block."""
    from corenn.cli import COMMANDS

    parser = _parser()
    usages = [parser.commands[name].format_usage().removeprefix("usage: ").rstrip() for name in COMMANDS]
    return "```text\n" + "\n".join([*usages, "corenn --version"]) + "\n```\n"


def _value(value):
    from corenn.cli.describe import toml_value

    return f"`{toml_value(value)}`"


def _option_row(option):
    if option["set_for_it"]:
        default = option["set_for_it"]
    elif option["required"]:
        default = "required" + (f" (e.g. {_value(option['example'])})" if option["example"] is not None else "")
    else:
        default = _value(option["default"])
    allowed = option["allowed"]
    if isinstance(allowed, list):
        allowed = ", ".join(f"`{value}`" for value in allowed)
    return f"| `{option['name']}` | {_cell(option['type'])} | {_cell(default)} | {_cell(allowed or '')} |"


def components():
    """Every registered component of corenn's own distributions, by kind, as ``corenn describe``
    shows it."""
    from corenn.cli.describe import KINDS, describe
    from corenn.plugins import get_plugins

    system = get_plugins()
    present = {entry.distribution for kind in KINDS for entry in system.registry.entries(kind)}
    missing = [name for name in OWN_DISTRIBUTIONS if name not in present]
    if missing:  # else the reference would be built with whole kinds empty, and --strict would not notice
        raise RuntimeError(
            f"the components reference lists {', '.join(OWN_DISTRIBUTIONS)}, but {', '.join(missing)} "
            "is not installed here: pip install ./plugins/nn-fc ./plugins/nn-conv (nox -s docs does)"
        )
    lines = []
    for kind in KINDS:
        names = sorted(
            {entry.name for entry in system.registry.entries(kind) if entry.distribution in OWN_DISTRIBUTIONS}
        )
        lines += ["", f"## {KIND_HEADINGS[kind]}", ""]
        lines += [", ".join(f"[`{name}`](#{kind}-{name.replace('_', '-')})" for name in names), ""]
        for name in names:
            lines += _component(describe(system, kind, name))
    return "\n".join(lines).lstrip("\n") + "\n"


def _component(described):
    kind, name = described["kind"], described["name"]
    lines = [f"### {kind} `{name}` {{ #{kind}-{name.replace('_', '-')} }}", ""]
    lines.append(f"From `{described['distribution']}` (`{described['factory']}`).")
    if described["summary"]:
        lines += ["", _rst_to_markdown(described["summary"])]
    if described["registered_for"] == "any":
        lines += ["", "Written once: runs on every backend."]
    else:
        lines += ["", f"Runs on: {', '.join(described['runs_on'])}."]
    if described["options"]:
        lines += ["", "| option | type | default | allowed |", "| --- | --- | --- | --- |"]
        lines += [_option_row(option) for option in described["options"]]
    else:
        lines += ["", "No options."]
    if described["kernels"]:
        kernels = ", ".join(f"`{kernel['kernel']}` ({kernel['reference']})" for kernel in described["kernels"])
        lines += ["", f"Kernels it declares (reference at): {kernels}."]
    lines += ["", "```toml", described["example_config"], "```", ""]
    return lines


COURSE_MODULES = (
    "activations",
    "layers",
    "losses",
    "weights",
    "optimizers",
    "schedulers",
    "utils",
    "datasets",
    "logs",
    "models",
)


def course_modules():
    """Each module of the course package, the ``corenn.course`` module standing for it, the names
    it has (its ``__all__``, else the classes and functions it defines) and its docstring's first
    paragraph."""
    import importlib
    import inspect

    lines = ["| course module | on corenn | names | what it is |", "| --- | --- | --- | --- |"]
    for name in COURSE_MODULES:
        module = importlib.import_module(f"corenn.course.{name}")
        names = getattr(module, "__all__", None) or [
            attribute
            for attribute, value in vars(module).items()
            if not attribute.startswith("_")
            and (inspect.isclass(value) or inspect.isfunction(value))
            and value.__module__ == module.__name__
        ]
        shown = ", ".join(f"`{attribute}`" for attribute in names)
        summary = _rst_to_markdown(" ".join((inspect.getdoc(module) or "").split("\n\n")[0].split()))
        lines.append(f"| `neural_networks.{name}` | `corenn.course.{name}` | {shown} | {_cell(summary)} |")
    return "\n".join(lines) + "\n"


def _docstring_paragraph(path):
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    return " ".join(doc.split("\n\n")[0].split()) if doc else ""


def _modules(package, folder):
    """``(dotted name, path)`` of every module under ``folder``, packages first, sorted."""
    found = []
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append((".".join((package, *parts)), path))
    return found


def module_map():
    """One table per package: each module and the first paragraph of its docstring."""
    lines = []
    for package, folder in PACKAGES:
        lines += ["", f"### `{package}`", "", "| module | what it holds |", "| --- | --- |"]
        for name, path in _modules(package, folder):
            if any(part.startswith("_") for part in name.split(".")[1:]) and not name.endswith("__main__"):
                continue
            source = path.relative_to(ROOT).as_posix()
            lines.append(
                f"| `{name}` | {_cell(_rst_to_markdown(_docstring_paragraph(path)))} <small>(`{source}`)</small> |"
            )
    return "\n".join(lines).lstrip("\n") + "\n"


def packages():
    """Each package's and sub-package's whole docstring, under its name."""
    lines = []
    for package, folder in PACKAGES:
        for init in [folder / "__init__.py", *sorted(folder.glob("*/__init__.py"))]:
            name = ".".join((package, *init.parent.relative_to(folder).parts))
            doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
            lines += ["", f"### `{name}`", "", _rst_to_markdown(doc)]
    return "\n".join(lines).lstrip("\n") + "\n"


def _rst_to_markdown(text):
    """The docstrings' few reStructuredText forms as Markdown: ``:mod:`x``` and ``x``."""
    text = re.sub(r":(?:mod|class|func|data|meth):`~?([^`]+)`", r"`\1`", text)
    text = re.sub(r"::$", ":", text, flags=re.MULTILINE)  # a literal block follows: indented code in Markdown
    return text.replace("``", "`")


def import_contracts():
    """pyproject.toml's import-linter contracts, as ``lint-imports`` checks them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    lines = []
    for contract in config["contracts"]:
        lines += ["", f"**{contract['name']}** (`{contract['id']}`, {contract['type']})", ""]
        if contract["type"] == "layers":
            lines.append("From the top down (`a | b`: independent parts of one layer):")
            lines.append("")
            lines += [f"{number}. `{layer}`" for number, layer in enumerate(contract["layers"], 1)]
        for key in ("ancestors", "modules", "source_modules", "forbidden_modules"):
            if key in contract:
                lines.append(f"- {key.replace('_', ' ')}: {', '.join(f'`{name}`' for name in contract[key])}")
    return "\n".join(lines).lstrip("\n") + "\n"


GENERATORS = {
    "config-keys": config_keys,
    "cli": cli,
    "cli-usage": cli_usage,
    "components": components,
    "module-map": module_map,
    "course-modules": course_modules,
    "packages": packages,
    "import-contracts": import_contracts,
}


def expand(markdown):
    """The page with each generated marker replaced and the tests' fence markers dropped."""
    markdown = MARKER.sub(lambda match: GENERATORS[match.group(1)](), markdown)
    return RUN_MARKERS.sub(r"\1", markdown)


def on_page_markdown(markdown, page, config, files):
    return expand(markdown)


def on_page_content(html, page, config, files):
    return SPHINX_ROLE.sub("", html)
