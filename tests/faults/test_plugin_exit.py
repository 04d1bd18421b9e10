"""A plugin calling ``sys.exit()``, at import or in a hook, is a failing plugin like any other:
reported and skipped (an error in strict mode), never a silent end of the process."""

import json
import subprocess
import sys
import textwrap

import pytest

from faultkit import TIMEOUT_S, environment, one_line_error, run_corenn

PLUGINS = {
    "exit_at_import": ("corenn-test-exit-at-import", "import sys\nsys.exit(0)\n"),
    "exit_in_hook": (
        "corenn-test-exit-in-hook",
        textwrap.dedent("""\
            import sys
            from corenn import hookimpl

            @hookimpl
            def corenn_epoch_end(run, epoch, metrics):
                if epoch == 2:
                    sys.exit(0)
        """),
    ),
}


def install_plugin(folder, module):
    """Make ``module`` an installed plugin for processes with ``folder`` on PYTHONPATH: its
    source and a ``.dist-info`` naming it in the ``corenn.plugins`` entry-point group."""
    distribution, source = PLUGINS[module]
    (folder / f"{module}.py").write_text(source, encoding="utf-8")
    info = folder / f"{distribution.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(
        f"[corenn.plugins]\n{module.replace('_', '-')} = {module}\n", encoding="utf-8"
    )
    return environment(PYTHONPATH=str(folder))


@pytest.fixture
def exit_at_import(tmp_path):
    folder = tmp_path / "site"
    folder.mkdir()
    return install_plugin(folder, "exit_at_import")


@pytest.fixture
def exit_in_hook(tmp_path):
    folder = tmp_path / "site"
    folder.mkdir()
    return install_plugin(folder, "exit_in_hook")


def test_sys_exit_at_import_is_a_failed_plugin_in_every_command(exit_at_import, tmp_path):
    """Before: ``corenn plugins``, ``--version``, ``train --json`` and ``gradcheck`` all exited 0
    with no output at all."""
    listed = run_corenn("plugins", "--json", env=exit_at_import)
    assert listed.returncode == 0, listed.stderr
    failed = {info["name"]: info for info in json.loads(listed.stdout)}["exit-at-import"]
    assert (failed["status"], failed["error"], failed["distribution"]) == (
        "failed",
        "SystemExit: 0",
        "corenn-test-exit-at-import",
    )
    version = run_corenn("--version", env=exit_at_import)
    assert (
        version.returncode == 0
        and "exit-at-import: corenn-test-exit-at-import 0.1 (failed: SystemExit: 0)" in version.stdout
    )
    trained = run_corenn("train", "--epochs", "2", "--json", "--out", tmp_path / "out", env=exit_at_import)
    assert trained.returncode == 0, trained.stderr
    assert json.loads(trained.stdout.strip().splitlines()[-1])["epochs"] == 2
    checked = run_corenn("gradcheck", "layer", "fully_connected", "n_out=3", env=exit_at_import)
    assert checked.returncode == 0 and checked.stdout.strip().endswith("passed"), checked.stdout + checked.stderr


def test_sys_exit_at_import_in_strict_mode_is_one_line(exit_at_import):
    line = one_line_error(run_corenn("plugins", env=exit_at_import | {"CORENN_STRICT_PLUGINS": "1"}))
    assert line == (
        "corenn plugins: error: plugin 'exit-at-import' (corenn-test-exit-at-import 0.1) failed: SystemExit: 0 "
        "(unset CORENN_STRICT_PLUGINS to skip failing plugins)"
    )


def test_sys_exit_at_import_does_not_end_a_python_caller(exit_at_import):
    """Before: importing the plugins through the Python API ended the caller's process."""
    script = "import corenn; corenn.create('layer', 'fully_connected', n_out=2); print('still running')"
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=exit_at_import, timeout=TIMEOUT_S
    )
    assert completed.returncode == 0 and completed.stdout.strip() == "still running", completed.stderr


def test_sys_exit_in_an_epoch_end_hook_is_reported_and_training_goes_on(exit_in_hook, tmp_path):
    """Before: training ended at epoch 2 of 5 with exit 0, no result and no message."""
    completed = run_corenn("train", "--epochs", "5", "--quiet", "--json", "--out", tmp_path / "out", env=exit_in_hook)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout.strip().splitlines()[-1])["epochs"] == 5
    assert "plugin 'exit-in-hook' failed in corenn_epoch_end: SystemExit: 0" in completed.stderr


def test_sys_exit_in_a_hook_in_strict_mode_is_one_line(exit_in_hook, tmp_path):
    completed = run_corenn(
        "train",
        "--epochs",
        "5",
        "--quiet",
        "--out",
        tmp_path / "out",
        env=exit_in_hook | {"CORENN_STRICT_PLUGINS": "1"},
    )
    assert one_line_error(completed) == (
        "corenn train: error: plugin 'exit-in-hook' failed in corenn_epoch_end: SystemExit: 0 "
        "(unset CORENN_STRICT_PLUGINS to skip failing plugins)"
    )
