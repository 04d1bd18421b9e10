"""Fixtures of the fault suite: the small run's config and its uninterrupted reference run."""

import time
from types import SimpleNamespace

import pytest

from faultkit import RUN_NAME, run_corenn, write_config


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
