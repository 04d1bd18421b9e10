"""The README is short and true (issues 20 and 24): its two set-up commands are the ones CI and a
newcomer run, it points into the documentation at pages that exist, and every component that it
and the docs' pages name exists.

Its code and the pages' code run in the ``docs`` session (tests/docs/test_code_blocks.py); the
config keys it used to list are generated into docs/reference/config.md (tests/docs/)."""

import re
import tomllib
from pathlib import Path

import corenn

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PAGES = {"README.md": README} | {
    path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
    for path in sorted((ROOT / "docs").rglob("*.md"))
}
EXAMPLE_PLUGIN = ROOT / "examples" / "corenn-example-plugin" / "src" / "corenn_example"
INSTALL_AND_TRAIN = (
    "python3 -m venv .venv && .venv/bin/pip install . ./plugins/nn-fc ./plugins/nn-conv && .venv/bin/corenn train"
)
TEST_EVERYTHING = "pip install nox && nox"


def test_the_readme_is_short():
    """The anchors: Keras 133 lines, thinc 174, micrograd 69; the rest is on the site's pages."""
    assert len(README.splitlines()) <= 150


def test_the_readme_has_the_two_set_up_commands_and_ci_runs_the_second():
    blocks = re.findall(r"^```bash\n(.*?)^```", README, re.DOTALL | re.MULTILINE)
    assert [block.strip() for block in blocks[:2]] == [INSTALL_AND_TRAIN, TEST_EVERYTHING]
    assert TEST_EVERYTHING in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_readmes_links_point_at_pages_that_exist():
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", README)
    assert len(links) >= 20
    for target in links:
        assert (ROOT / target).exists(), f"the README links to {target}, which does not exist"


def test_the_readme_links_every_page_of_the_site():
    for page in PAGES:
        if page.startswith("docs/") and page != "docs/index.md":
            assert f"]({page}" in README, f"the README does not link to {page}"


def registered_names():
    names = {entry.name for entry in corenn.list_components()}
    # the example plugin's components, which the plugin guides use as their examples
    for module in EXAMPLE_PLUGIN.glob("*.py"):
        names |= set(re.findall(r'register\("\w+", "(\w+)"', module.read_text(encoding="utf-8")))
    return names


def run_names(text):
    """The top-level names of a page's configs (runs, not components), in TOML blocks, in heredocs
    (``cat > flowers.toml <<'TOML'``) and in Python dicts (``config = {"name": ...``)."""
    tomls = re.findall(r"^```toml[^\n]*\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    heredocs = re.findall(r"<<'TOML'\n(.*?)^TOML$", text, re.DOTALL | re.MULTILINE)
    in_python = re.findall(r'config\s*=\s*\{\s*"name":\s*"([^"]+)"', text)
    return {tomllib.loads(block).get("name") for block in [*tomls, *heredocs]} | set(in_python)


def test_every_component_the_readme_and_the_docs_name_exists():
    """`name = "..."` and `"name": "..."` anywhere, in blocks, tables and prose: the plugin
    example once named `leaky_relu`, which nothing registers."""
    known = registered_names() | {"corenn"}
    for page, text in PAGES.items():
        named = set(re.findall(r'name\s*=\s*"([^"]+)"', text)) | set(re.findall(r'"name":\s*"([^"]+)"', text))
        unknown = sorted(named - known - run_names(text))
        assert not unknown, f"{page} names components that do not exist: {unknown}"
