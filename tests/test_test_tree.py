"""One ``pytest`` over the whole tree collects: test modules have unique names.

The test folders have no ``__init__.py`` (pytest's default "prepend" import mode), so pytest
imports each test module under its bare file name; two ``test_plugin.py`` in two packages then
clash and the second is not collected ("import file mismatch").
"""

import collections
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def test_modules_directly_in_test_folders_have_unique_names():
    folders = [REPOSITORY / "tests", *REPOSITORY.glob("plugins/*/tests"), *REPOSITORY.glob("examples/*/tests")]
    modules = collections.defaultdict(list)
    for folder in folders:
        for path in folder.rglob("*.py"):
            parts = path.relative_to(REPOSITORY).parts
            if path.name != "conftest.py" and "distributions" not in parts and "mistakes" not in parts:
                modules[path.name].append(str(path.relative_to(REPOSITORY)))
    assert len(folders) >= 5 and modules, "the test folders were not found"
    clashes = {name: paths for name, paths in modules.items() if len(paths) > 1}
    assert not clashes, f"test modules share a name, so one pytest over the tree cannot collect both: {clashes}"
