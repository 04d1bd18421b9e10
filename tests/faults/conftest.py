"""Fixtures of the fault suite: the small run's config, its uninterrupted reference run, a
data root holding MNIST for a test to damage, and Ctrl-C pressed in the middle of a run."""

import os
import signal
import time
from types import SimpleNamespace

import pytest

from corenn.run.loop import Trainer

from faultkit import EVERY_EPOCH, MNIST_FILES, RUN_NAME, SHARED_MNIST, run_corenn, write_config


@pytest.fixture(autouse=True)
def checkpoint_every_epoch(monkeypatch):
    """Runs trained in the test's own process write a checkpoint at every epoch's end, as the
    suite's subprocesses do (see :data:`faultkit.EVERY_EPOCH`)."""
    for name, value in EVERY_EPOCH.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """The small Iris run trained once, uninterrupted, by the CLI: what every resumed run must equal.

    ``seconds`` is its wall time, which sizes the windows the kill tests draw delays from.
    """
    folder = tmp_path_factory.mktemp("reference")
    config = write_config(folder)
    started = time.perf_counter()
    completed = run_corenn("train", "--config", config, "--out", folder / "out", "--quiet")
    seconds = time.perf_counter() - started
    assert completed.returncode == 0, completed.stderr
    return SimpleNamespace(run_dir=folder / "out" / RUN_NAME, config=config, seconds=seconds)


@pytest.fixture
def config_path(tmp_path):
    return write_config(tmp_path)


@pytest.fixture
def mnist_copy(tmp_path):
    """A data root whose MNIST/raw links every real file; a test replaces the one it damages
    (see :func:`faultkit.replace_file`)."""
    if not all((SHARED_MNIST / name).is_file() for name in MNIST_FILES):
        pytest.skip(f"MNIST is not in {SHARED_MNIST} (set CORENN_DATA_DIR to the shared data root)")
    raw = tmp_path / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        os.symlink(SHARED_MNIST / name, raw / name)
    return raw


@pytest.fixture
def ctrl_c_after_update(monkeypatch):
    """``ctrl_c_after_update(n)`` presses Ctrl-C (real SIGINTs to this process) right after the
    trainer's n-th parameter update, ``presses`` times; ``first``, if given, runs just before.

    It patches through the test's ``monkeypatch``, so ``monkeypatch.undo()`` lets a resume run
    without it.
    """

    def press(update_number, *, presses=1, first=None):
        original_update = Trainer.update
        calls = {"n": 0}

        def update(self):
            original_update(self)
            calls["n"] += 1
            if calls["n"] == update_number:
                if first is not None:
                    first()
                for _ in range(presses):
                    os.kill(os.getpid(), signal.SIGINT)

        monkeypatch.setattr(Trainer, "update", update)

    return press
