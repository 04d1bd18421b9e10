"""The core's layout: every module says what it holds, no two modules have nearly equal names,
and the public bases for plugin authors come from ``corenn`` itself without slowing ``import corenn``."""

import ast
import itertools
import subprocess
import sys
from pathlib import Path

import corenn

PACKAGE = Path(corenn.__file__).resolve().parent
# What makes "train", "trainer" and "training" one name to a reader.
NAME_SUFFIXES = ("s", "es", "er", "ers", "ing", "ings", "ed", "ion", "ions")


def modules():
    return sorted(PACKAGE.rglob("*.py"))


def test_every_module_starts_with_a_docstring_saying_what_it_holds():
    missing = [
        str(path.relative_to(PACKAGE))
        for path in modules()
        if not (ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "").strip()
    ]
    assert not missing, f"modules without a docstring: {missing}"


def test_no_two_modules_of_a_package_differ_by_a_suffix():
    clashes = []
    for folder in {path.parent for path in modules()}:
        stems = sorted(path.stem for path in folder.glob("*.py") if not path.stem.startswith("__"))
        for short, long in itertools.permutations(stems, 2):
            if long.startswith(short) and long[len(short) :].lstrip("_") in NAME_SUFFIXES:
                clashes.append(f"{folder.relative_to(PACKAGE.parent)}: {short}.py and {long}.py")
    assert not clashes, clashes


def test_the_bases_for_plugin_authors_are_corenns_own_and_imported_on_use(tmp_path):
    probe = (
        "import sys\n"
        "import corenn\n"
        "print('numpy' in sys.modules)\n"
        "from corenn import Layer\n"
        "from corenn.nn.layers import Activation, ProductLayer\n"
        "from corenn.nn.losses import Loss\n"
        "assert (Layer, corenn.ProductLayer, corenn.Activation, corenn.Loss) == "
        "(corenn.nn.layers.Layer, ProductLayer, Activation, Loss)\n"
        "assert {'Layer', 'ProductLayer', 'Activation', 'Loss'} <= set(corenn.__all__)\n"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "False"


def test_python_dash_m_corenn_is_the_corenn_command(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "corenn", "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert completed.returncode == 0 and "usage: corenn" in completed.stdout
