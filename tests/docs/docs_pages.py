"""The documentation's pages and the code blocks they mark to run, for the docs tests.

A fenced block whose info string has a second word is one the tests act on:

- ```` ```bash exec ```` and ```` ```python exec ````: run, in the page's own folder, in order (a
  page's later blocks see the files its earlier ones wrote);
- ```` ```toml train ````: a complete config, trained for one epoch;
- ```` ```toml build ````: a fragment, whose layers, loss, optimizer and scheduler are built.

The site shows them as plain ``bash``, ``python`` and ``toml`` (docs/hooks/reference.py drops the
second word).
"""

import importlib.util
import re
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MARKERS = {"exec": ("bash", "python"), "train": ("toml",), "build": ("toml",)}
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@attrs.frozen
class Block:
    page: str  # relative to the repository: README.md, docs/training.md
    line: int
    language: str
    marker: str | None
    code: str

    def __str__(self):
        return f"{self.page}:{self.line} ({self.language} {self.marker})"


def pages():
    """README.md and every page of the site, as paths relative to the repository."""
    return ["README.md", *sorted(path.relative_to(ROOT).as_posix() for path in DOCS.rglob("*.md"))]


def text_of(page):
    return (ROOT / page).read_text(encoding="utf-8")


def blocks(page):
    """Every fenced block of a page at the top level (not indented), in order."""
    text = text_of(page)
    found = []
    for match in FENCE.finditer(text):
        words = match.group(1).split()
        language = words[0] if words else ""
        marker = words[1] if len(words) > 1 else None
        line = text.count("\n", 0, match.start()) + 1
        found.append(Block(page, line, language, marker, match.group(2)))
    return found


def marked_blocks():
    return [block for page in pages() for block in blocks(page) if block.marker is not None]


def reference_module():
    """docs/hooks/reference.py, the generators of the site's references, imported by path."""
    spec = importlib.util.spec_from_file_location("docs_reference", DOCS / "hooks" / "reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
