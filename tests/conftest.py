"""Set-up shared by the core suite's tests (the fault and discovery suites add their own)."""

import contextlib
import urllib.error

import pytest

import corenn.records.plots
from corenn.data import download


@pytest.fixture
def no_network(monkeypatch):
    """Any download attempt fails as it would offline."""

    def offline(url, timeout=None):
        raise urllib.error.URLError("network is unreachable (test)")

    monkeypatch.setattr(download.urllib.request, "urlopen", offline)


@contextlib.contextmanager
def _plots_skipped():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(corenn.records.plots, "write_plots", lambda history, folder, **options: [])
        patch.setattr(corenn.records.plots, "write_step_plot", lambda losses, folder, **options: None)
        yield


@pytest.fixture
def no_plots():
    """For runs whose plots no test looks at (drawing them is most of a short run's time)."""
    with _plots_skipped():
        yield


@pytest.fixture(scope="session")
def plots_skipped():
    """``no_plots`` for a block, ``with plots_skipped(): ...``: for a module-scoped fixture's run."""
    return _plots_skipped


@pytest.fixture
def interrupt_on_call():
    """Ctrl-C inside a run: ``with interrupt_on_call(owner, "method", n): train(...)`` makes
    ``owner.method`` raise KeyboardInterrupt on its n-th call; the other calls, and every call
    after the block, behave as usual."""

    @contextlib.contextmanager
    def interrupting(owner, method, call_number):
        original = getattr(owner, method)
        calls = {"count": 0}

        def interrupt_once(*args, **kwargs):
            calls["count"] += 1
            if calls["count"] == call_number:
                raise KeyboardInterrupt
            return original(*args, **kwargs)

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(owner, method, interrupt_once)
            yield

    return interrupting
