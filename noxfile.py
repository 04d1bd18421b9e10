"""Test sessions, one per package; a bare ``nox`` runs them all.

Packages are installed non-editable, so entry points come from installed metadata exactly as
they would for a user.
"""

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

TEST_DEPS = ("pytest>=7", "hypothesis>=6")
TORCH = ("torch==2.14.1", "torchvision==0.29.1")
CORE = "."
FC = "./plugins/nn-fc"
CONV = "./plugins/nn-conv"


def _install(session, *packages):
    session.install("--no-cache-dir", *packages, *TEST_DEPS)


@nox.session
def core(session):
    """The core package: registry, built-ins, model, trainer, data, records, CLI (with nn-fc layers)."""
    _install(session, CORE, FC)
    session.run("pytest", "tests", "--ignore=tests/discovery", *session.posargs)


@nox.session
def fc(session):
    """The nn-fc plugin: fully connected layer and activations."""
    _install(session, CORE, FC)
    session.run("pytest", "plugins/nn-fc/tests", *session.posargs)


@nox.session
def discovery(session):
    """Plugin discovery with real throw-away distributions installed into temporary environments."""
    _install(session, CORE, FC)
    session.run("pytest", "tests/discovery", *session.posargs)
