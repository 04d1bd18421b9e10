"""The site's references are generated from the code and complete (issue 24, item 3): every config
key, every command and flag, every registered component and option, every module; and the
hand-written module maps they replace are gone from the package docstrings."""

import argparse
import ast
import re

import attrs
import pytest

from corenn.cli import COMMANDS, build_parser
from corenn.cli.describe import KINDS
from corenn.plugins import get_plugins
from corenn.run.config import TOP_LEVEL_KEYS, DatasetConfig, RunConfig
from corenn.run.config_keys import UNDESCRIBED

from docs_pages import DOCS, ROOT, pages, reference_module, text_of

reference = reference_module()


def test_every_config_key_is_in_the_reference_with_a_description():
    page = reference.config_keys()
    keys = set(TOP_LEVEL_KEYS) | {field.name for field in attrs.fields(RunConfig)}
    keys |= {f"dataset.{field.name}" for field in attrs.fields(DatasetConfig) if field.name != "options"}
    for key in keys:
        assert f"| `{key}` |" in page, key
    assert UNDESCRIBED not in page


def test_every_command_and_flag_is_in_the_cli_reference():
    page = reference.cli()
    parser = build_parser()
    for name in COMMANDS:
        assert f"### corenn {name}\n" in page, name
        section = page[page.index(f"### corenn {name}\n") :].split("\n### ", 1)[0]
        for action in parser.commands[name]._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            for flag in action.option_strings or [action.metavar or action.dest]:
                assert f"`{flag}`" in section, f"corenn {name}: {flag}"
    usage = reference.cli_usage()
    assert all(f"\ncorenn {name} " in usage or usage.startswith(f"```text\ncorenn {name} ") for name in COMMANDS)


def test_every_component_of_corenn_and_its_plugins_is_in_the_reference_with_its_options():
    from corenn.cli.describe import describe

    page = reference.components()
    system = get_plugins()
    listed = 0
    for kind in KINDS:
        for entry in system.registry.entries(kind):
            if entry.distribution not in reference.OWN_DISTRIBUTIONS:
                continue
            heading = f"### {kind} `{entry.name}`"
            assert heading in page, heading
            section = page[page.index(heading) :].split("\n### ", 1)[0]
            for option in describe(system, kind, entry.name)["options"]:
                assert f"| `{option['name']}` |" in section, f"{kind} {entry.name}: option {option['name']}"
            listed += 1
    assert listed >= 40  # 9 layers, 7 activations, 2 losses, 2 optimizers, 4 schedulers, 12 initializers, 8 data sets


def test_the_components_reference_is_not_built_without_corenns_plugins(monkeypatch):
    """Before: with corenn alone installed, the site built under --strict with no layer and no
    activation listed."""
    from corenn.testing import plugin_system_from, plugins_in_use

    monkeypatch.setenv("CORENN_DISABLE_PLUGINS", "fc,conv")
    with plugins_in_use(plugin_system_from()), pytest.raises(RuntimeError, match="corenn-fc, corenn-conv is not"):
        reference.components()


def test_the_module_map_lists_every_module_with_its_docstring():
    page = reference.module_map()
    for package, folder in reference.PACKAGES:
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            if any(part.startswith("_") and part not in ("__init__", "__main__") for part in parts):
                continue
            name = ".".join((package, *[part for part in parts if part != "__init__"]))
            assert f"| `{name}` |" in page, name
            assert ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))), f"{name} has no docstring"


def test_the_import_contracts_are_pyprojects():
    page = reference.import_contracts()
    for contract_id in ("layers", "acyclic", "plugins-apart", "core-alone"):
        assert f"(`{contract_id}`," in page
    assert "`cli | course | sklearn`" in page


@pytest.mark.parametrize("package", ["src/corenn/__init__.py", "src/corenn/run/__init__.py"])
def test_package_docstrings_are_short_and_point_at_the_generated_map(package):
    """The hand-written module maps drifted (issue 24): the generated one replaces them."""
    doc = ast.get_docstring(ast.parse((ROOT / package).read_text(encoding="utf-8")))
    assert len(doc.splitlines()) <= 25
    assert "docs/reference/modules.md" in doc
    assert ":mod:`~corenn.run.config`" not in doc and ":mod:`~corenn.builtins`" not in doc


def test_every_generated_marker_names_a_generator():
    used = set()
    for page in pages():
        for name in reference.MARKER.findall(text_of(page)):
            assert name in reference.GENERATORS, f"{page}: no generator {name!r}"
            used.add(name)
    assert used == set(reference.GENERATORS)


def test_expanding_a_page_replaces_its_markers_and_drops_the_test_markers():
    text = (DOCS / "getting-started.md").read_text(encoding="utf-8")
    expanded = reference.expand(text + "\n<!-- generated: config-keys -->\n")
    assert "<!-- generated:" not in expanded and "| `epochs` |" in expanded
    assert not re.search(r"^```\w+ (exec|train|build)$", expanded, re.MULTILINE)
    assert "```toml\n" in expanded and "```bash\n" in expanded


def test_the_course_mapping_covers_every_course_module():
    folder = ROOT / "src" / "corenn" / "course"
    modules = {path.stem for path in folder.glob("*.py") if not path.stem.startswith("_")}
    assert modules == set(reference.COURSE_MODULES)
    page = reference.course_modules()
    for name in modules:
        assert f"| `neural_networks.{name}` | `corenn.course.{name}` |" in page
