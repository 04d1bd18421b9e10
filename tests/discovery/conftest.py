"""A temporary environment holding real third-party plugin distributions.

The distributions under ``distributions/`` are built and installed once per test session with
pip (``--target`` a temporary folder, no network, no build isolation), exactly as a user's
``pip install`` would lay them out: a ``*.dist-info`` with the ``corenn.plugins`` entry point,
next to the package. Tests then run ``corenn`` and small Python snippets in subprocesses whose
``PYTHONPATH`` adds that folder to the environment running the tests (where corenn and nn-fc
are installed), so entry points come from installed metadata and every process starts cold.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DISTRIBUTIONS = Path(__file__).parent / "distributions"
# The deliberate mistakes of issue 21's table, installed apart from the distributions above (see
# mistake_env), so that one slow or refused plugin changes nothing the other tests see.
MISTAKES = Path(__file__).parent / "mistakes"
PLUGIN_ENV_VARIABLES = ("CORENN_STRICT_PLUGINS", "CORENN_DISABLE_PLUGINS")
TIMEOUT_S = 120


class PluginEnvironment:
    """Runs corenn with the throw-away distributions installed."""

    def __init__(self, site):
        self.site = site

    def environ(self, variables):
        env = {key: value for key, value in os.environ.items() if key not in PLUGIN_ENV_VARIABLES}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.site), env.get("PYTHONPATH")]))
        env.update(variables)
        return env

    def run(self, argv, **variables):
        return subprocess.run(
            argv, capture_output=True, text=True, env=self.environ(variables), timeout=TIMEOUT_S, check=False
        )

    def python(self, code, **variables):
        """Run ``code``; it prints one JSON value as its last line, which is returned."""
        result = self.run([sys.executable, "-c", code], **variables)
        if result.returncode != 0:
            raise AssertionError(f"snippet failed ({result.returncode}):\n{result.stderr}")
        return json.loads(result.stdout.strip().splitlines()[-1])

    def corenn(self, *args, **variables):
        return self.run([*corenn_command(), *args], **variables)


def corenn_command():
    """The installed ``corenn`` script of the interpreter running the tests."""
    script = shutil.which("corenn", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "corenn"]


def can_build_wheels():
    """Whether the setuptools installed here builds wheels (itself from 70.1, else with ``wheel``)."""
    if importlib.util.find_spec("setuptools") is None:
        return False
    builtin = importlib.util.find_spec("setuptools.command.bdist_wheel") is not None
    return builtin or importlib.util.find_spec("wheel") is not None


def install_distributions(tmp_path_factory, folder, label):
    """Build and install every distribution in ``folder`` into a fresh ``--target`` folder, as
    pip would for a user (no network, no build isolation); returns that folder."""
    if not can_build_wheels():
        pytest.fail(
            "the discovery tests build their plugin distributions without network access, with the "
            "setuptools installed here, which cannot build wheels: pip install 'setuptools>=70.1'"
        )
    root = tmp_path_factory.mktemp(label)
    sources = root / "sources"
    shutil.copytree(folder, sources, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = root / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            *sorted(str(path) for path in sources.iterdir()),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if install.returncode != 0:
        pytest.fail(f"could not install the throw-away plugin distributions:\n{install.stdout}\n{install.stderr}")
    return site


@pytest.fixture(scope="session")
def plugin_env(tmp_path_factory):
    return PluginEnvironment(install_distributions(tmp_path_factory, DISTRIBUTIONS, "plugin-env"))


class MistakeEnvironment(PluginEnvironment):
    """The distributions of ``mistakes/``, each a plugin with one deliberate mistake; ``only(name)``
    gives the variables that switch every other one off (``CORENN_DISABLE_PLUGINS``)."""

    def __init__(self, site, names):
        super().__init__(site)
        self.names = names

    def only(self, name):
        return {"CORENN_DISABLE_PLUGINS": ",".join(other for other in self.names if other != name)}


@pytest.fixture(scope="session")
def mistake_env(tmp_path_factory):
    site = install_distributions(tmp_path_factory, MISTAKES, "mistake-env")
    names = sorted(
        line.split("=", 1)[0].strip()
        for entry_points in site.glob("*.dist-info/entry_points.txt")
        for line in entry_points.read_text().splitlines()
        if "=" in line
    )
    return MistakeEnvironment(site, names)
