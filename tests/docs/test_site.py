"""The built site (issue 24, items 2 and 5): ``mkdocs build --strict`` passes (broken links and
missing references fail it), every page is there, and a page loads nothing from the network and
links to files, not folders, so it reads offline and from ``file://``.

The ``docs`` nox session builds the site once and names it in ``CORENN_DOCS_SITE``; without it
(a developer running these tests alone) the site is built here, into a temporary folder."""

import html.parser
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from docs_pages import DOCS, ROOT

pytest.importorskip("mkdocs", reason="the docs tooling: pip install '.[docs]' (nox -s docs)")

# Attributes through which a page loads something (an <a href> is a link a reader follows).
LOADING = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src", "video": "src"}
REMOTE = re.compile(r"^(https?:)?//")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    built = os.environ.get("CORENN_DOCS_SITE")
    if built:
        return Path(built)
    folder = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert done.returncode == 0, done.stderr[-5000:]
    return folder


class _Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.loads, self.links = [], []

    def handle_starttag(self, tag, attributes):
        attributes = dict(attributes)
        if tag in LOADING and attributes.get(LOADING[tag]):
            self.loads.append(attributes[LOADING[tag]])
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])


def _parsed(path):
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def test_every_page_is_built(site):
    for source in DOCS.rglob("*.md"):
        built = site / source.relative_to(DOCS).with_suffix(".html")
        assert built.is_file(), f"{source.relative_to(ROOT)} was not built"
        assert "<!-- generated:" not in built.read_text(encoding="utf-8")


def test_no_page_loads_anything_from_the_network(site):
    for path in site.rglob("*.html"):
        remote = [url for url in _parsed(path).loads if REMOTE.match(url)]
        assert not remote, f"{path.relative_to(site)} loads {remote}"
    for path in [*site.rglob("*.css"), *site.rglob("*.js")]:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert "fonts.googleapis" not in text and "fonts.gstatic" not in text, path.relative_to(site)
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", text), f"{path.relative_to(site)} loads a remote url()"


def test_internal_links_name_files_that_exist(site):
    """use_directory_urls is off: ``training.html``, not ``training/`` (a folder, which file://
    shows as a listing)."""
    for path in site.rglob("*.html"):
        if path.name == "404.html":
            continue  # a web server's page for a missing address: its links are from the site's root
        for link in _parsed(path).links:
            if REMOTE.match(link) or link.startswith(("#", "mailto:")):
                continue
            target = link.split("#")[0]
            if not target:
                continue
            assert not target.endswith("/"), f"{path.relative_to(site)} links to the folder {link}"
            assert (path.parent / target).resolve().is_file(), f"{path.relative_to(site)} links to {link}: missing"


def test_the_hooks_reference_documents_every_hook(site):
    import corenn.hookspecs

    page = (site / "reference" / "hooks.html").read_text(encoding="utf-8")
    hooks = [name for name, _ in inspect.getmembers(corenn.hookspecs, inspect.isfunction) if name.startswith("corenn_")]
    assert len(hooks) >= 7
    for name in hooks:
        assert f'id="corenn.hookspecs.{name}"' in page, name
        first_line = inspect.getdoc(getattr(corenn.hookspecs, name)).splitlines()[0]
        assert first_line.split()[0] in page, name


def test_the_api_reference_documents_the_entry_points(site):
    page = (site / "reference" / "api.html").read_text(encoding="utf-8")
    for name in ("corenn.create", "corenn.list_components", "corenn.train", "corenn.load", "check_layer_conformance"):
        assert name in page, name
