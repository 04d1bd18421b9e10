"""Test sessions, one per package, and ``lint``; a bare ``nox`` runs them all.

Packages are installed non-editable, so entry points come from installed metadata exactly as
they would for a user.
"""

import json
import os
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

TEST_DEPS = ("pytest>=7", "hypothesis>=6")
TORCH = ("torch==2.14.1",)
SHARED_DATA = Path(__file__).resolve().parent.parent / "shared" / "data"
if "CORENN_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    # The project's checkout sits beside shared/, which holds MNIST, Fashion-MNIST and CIFAR-10.
    os.environ["CORENN_DATA_DIR"] = str(SHARED_DATA)

CORE = "."
FC = "./plugins/nn-fc"
CONV = "./plugins/nn-conv"
EXAMPLE = "./examples/corenn-example-plugin"
TORCH_PLUGIN = "./plugins/nn-torch"
TENSORBOARD = "./plugins/tensorboard"
TORCH_ENV = Path(__file__).resolve().parent / ".nox" / "torch-env"


def _install(session, *packages):
    session.install(*packages, *TEST_DEPS)


@nox.session
def lint(session):
    """ruff check and ruff format --check over the packages, tests, benchmarks, the docs site's hooks and this file
    (rules and style: pyproject.toml's [tool.ruff]); ``ruff format`` fixes the format. Then
    ``lint-imports``: the import contracts of pyproject.toml's [tool.importlinter] (corenn's
    layers, no import cycles, plugins apart, no plugin nor torch imported by the core), checked on
    the packages as installed.

    ruff and import-linter are pinned to one minor version, so that a new release adds no findings
    unasked. The packages are installed without their dependencies: import-linter reads their
    imports and runs none of them (torch is named by the contracts, never installed here).
    """
    session.install("ruff~=0.17.6", "import-linter~=2.17.0")
    paths = ("src", "plugins", "examples", "tests", "bench", "docs/hooks", "noxfile.py")
    session.run("ruff", "check", *paths, *session.posargs)
    session.run("ruff", "format", "--check", *paths)
    session.install("--no-deps", CORE, FC, CONV, TORCH_PLUGIN, TENSORBOARD, EXAMPLE)
    session.run("lint-imports")


@nox.session
def core(session):
    """The core package: registry, built-ins, model, trainer, data, records, CLI, the course facade
    (with the nn-fc layers, and nn-conv's, which corenn.course builds)."""
    # corenn's sklearn extra: the estimators of corenn.sklearn, and scikit-learn's small real data
    # sets, written out as a user's own files (tests/own_data_files.py)
    _install(session, f"{CORE}[sklearn]", FC, CONV)
    session.run(
        "pytest",
        "tests",
        "--ignore=tests/discovery",
        "--ignore=tests/faults",
        "--ignore=tests/distributed",
        "--ignore=tests/docs",
        *session.posargs,
    )


@nox.session
def docs(session):
    """The documentation site: ``mkdocs build --strict`` into ``site/`` (broken links, missing
    references and a generator's error fail it; open site/index.html, no network needed), then
    its tests: every code block the README and the pages mark to run is run, every complete
    config shown trains for an epoch, the generated references are complete, and no page loads
    anything from the network (tests/docs)."""
    # corenn's docs extra: mkdocs, mkdocs-material and mkdocstrings, pinned; sklearn for the
    # estimators' examples; ruff formats the API reference's signatures.
    _install(session, f"{CORE}[docs,sklearn]", FC, CONV, "ruff~=0.17.6")
    site = Path(__file__).resolve().parent / "site"
    env = {"NO_MKDOCS_2_WARNING": "1"}
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site), env=env)
    session.run("pytest", "tests/docs", *session.posargs, env={**env, "CORENN_DOCS_SITE": str(site)})


@nox.session
def fc(session):
    """The nn-fc plugin: fully connected layer and activations."""
    _install(session, CORE, FC)
    session.run("pytest", "plugins/nn-fc/tests", *session.posargs)


@nox.session
def tensorboard(session):
    """The corenn-tensorboard plugin: iris runs' event files read back by TensorBoard's own reader."""
    _install(session, CORE, FC, TENSORBOARD)
    session.run("pytest", "plugins/tensorboard/tests", *session.posargs)


@nox.session
def discovery(session):
    """Plugin discovery with real throw-away distributions installed into temporary environments."""
    # The throw-away distributions are built without isolation; nox's venv setuptools is too old.
    _install(session, CORE, FC, CONV, "setuptools>=70.1")
    session.run("pytest", "tests/discovery", *session.posargs)


@nox.session
def faults(session):
    """The fault suite: SIGKILL / Ctrl-C / SIGTERM then resume, damaged and pickled files, bad data, full disk,
    divergence; hostile input: nesting, run names, gzip bombs, concurrent sweeps, plugins calling sys.exit, huge values."""
    _install(session, CORE, FC, CONV)
    session.run("pytest", "tests/faults", *session.posargs)


@nox.session
def example(session):
    """The third-party plugin example, as a user meets it: install, test, list, gradcheck, train."""
    _install(session, CORE, FC, EXAMPLE)
    session.run("pytest", "examples/corenn-example-plugin/tests", *session.posargs)
    plugins = {info["name"]: info for info in json.loads(session.run("corenn", "plugins", "--json", silent=True))}
    example_plugin = plugins.get("example")
    if example_plugin is None or example_plugin["status"] != "ok":
        session.error(f"corenn plugins does not list the example plugin as ok: {example_plugin}")
    session.log(
        f"corenn plugins lists {example_plugin['distribution']} {example_plugin['version']}: {example_plugin['components']}"
    )
    session.run("corenn", "gradcheck", "activation", "swish")
    session.run("corenn", "gradcheck", "layer", "scale_shift", "activation=swish")
    run = session.run(
        "corenn",
        "train",
        "--config",
        "examples/corenn-example-plugin/iris-swish.toml",
        "--out",
        session.create_tmp(),
        "--overwrite",
        "--quiet",
        "--json",
        silent=True,
    )
    summary = json.loads(run.strip().splitlines()[-1])
    session.log(f"iris-swish: test accuracy {summary['test_accuracy']:.3f} in {summary['seconds']:.2f} s")
    if summary["test_accuracy"] < 0.9:
        session.error(f"iris-swish reached a test accuracy of only {summary['test_accuracy']}")


def _run_in_torch_env(session, *pytest_args):
    """Install corenn, its three plugins, the example plugin and torch into one environment, then
    run pytest there.

    torch is a 5.5 GB install that takes minutes, so the two sessions that need it (``conv``,
    where it is the test oracle, and ``torch``, the backend itself) share this environment
    instead of installing it twice.
    """
    python = TORCH_ENV / "bin" / "python"
    if not python.exists():
        session.run(sys.executable, "-m", "venv", str(TORCH_ENV), external=True)
    packages = (CORE, FC, CONV, TORCH_PLUGIN, EXAMPLE)
    session.log(f"installing torch into {TORCH_ENV} (about 5.6 GB the first time, several minutes)")
    session.run(
        str(python), "-m", "pip", "install", "--progress-bar", "on", *packages, *TORCH, *TEST_DEPS, external=True
    )
    env = {"PATH": f"{TORCH_ENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", "VIRTUAL_ENV": str(TORCH_ENV)}
    session.run(str(python), "-m", "pytest", *pytest_args, *session.posargs, external=True, env=env)


@nox.session(venv_backend="none")
def conv(session):
    """The nn-conv plugin: Conv2D, Pool2D, Flatten (finite differences, torch as oracle), MNIST, the LeNet preset."""
    _run_in_torch_env(session, "plugins/nn-conv/tests", "tests/test_mnist.py")


@nox.session(venv_backend="none")
def torch(session):
    """The nn-torch plugin: the torch backend, checked against the numpy one component by component,
    and the example plugin's components (written once, for any backend) trained on it."""
    _run_in_torch_env(session, "plugins/nn-torch/tests", "examples/corenn-example-plugin/tests/test_example_torch.py")


@nox.session(venv_backend="none")
def distributed(session):
    """Data-parallel training with 2 processes on 127.0.0.1 (torchrun, gloo): 2 ranks equal 1 on numpy and torch,
    sync batch norm, records by rank 0, resume on another world size, a killed rank restarted, one-line errors,
    two --nnodes 2 launches forming one run. Every launch is bounded in time and killed with its process group."""
    _run_in_torch_env(session, "tests/distributed")
