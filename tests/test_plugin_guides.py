"""The author's guides (docs/plugins/) show the example plugin's own code, and link to pages that
exist (issue 21, item 1): a guide that drifts from the code it teaches fails here."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDES = ROOT / "docs" / "plugins"
EXAMPLE = ROOT / "examples" / "corenn-example-plugin"
KINDS = (
    "layer",
    "activation",
    "loss",
    "optimizer",
    "scheduler",
    "initializer",
    "kernel-override",
    "dataset",
    "hook-plugin",
    "backend",
)
BLOCK = re.compile(r"^```(python|toml)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def example_sources():
    files = [*EXAMPLE.glob("src/corenn_example/*.py"), *EXAMPLE.glob("tests/*.py"), *EXAMPLE.glob("*.toml")]
    return {path: lines_of(path.read_text(encoding="utf-8")) for path in files}


def lines_of(code):
    """The code's non-blank lines without their indentation, as one string: a method shown
    apart from its class (``ruff format`` dedents a guide's code blocks) still matches."""
    return "\n".join(line.strip() for line in code.splitlines() if line.strip()) + "\n"


def test_there_is_a_guide_per_kind_and_the_index_links_each():
    index = (GUIDES / "index.md").read_text(encoding="utf-8")
    for kind in KINDS:
        assert (GUIDES / f"{kind}.md").is_file(), kind
        assert f"]({kind}.md)" in index, kind


@pytest.mark.parametrize("guide", ["index", *KINDS])
def test_every_code_block_is_the_example_plugins_code(guide):
    text = (GUIDES / f"{guide}.md").read_text(encoding="utf-8")
    sources = example_sources()
    blocks = BLOCK.findall(text)
    assert blocks, f"{guide}.md shows no code"
    for language, block in blocks:
        assert any(lines_of(block) in source for source in sources.values()), (
            f"{guide}.md has a {language} block that is in no file of examples/corenn-example-plugin:\n{block}"
        )


@pytest.mark.parametrize("guide", ["index", *KINDS])
def test_relative_links_point_at_pages_that_exist(guide):
    text = (GUIDES / f"{guide}.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", text):
        assert (GUIDES / target).is_file(), f"{guide}.md links to {target}, which does not exist"


def test_the_readme_points_at_the_guides():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Write your own plugin") :]
    assert "docs/plugins/index.md" in section
    for kind in KINDS:
        assert f"docs/plugins/{kind}.md" in section, kind
