"""Set-up shared by the torch backend's tests, and a summary of the largest cross-backend
difference of each component after the test run."""

import pytest

import corenn.records.plots


@pytest.fixture
def no_plots(monkeypatch):
    """For runs whose plots no test looks at (drawing them is most of a short run's time)."""
    monkeypatch.setattr(corenn.records.plots, "write_plots", lambda history, folder, **options: [])
    monkeypatch.setattr(corenn.records.plots, "write_step_plot", lambda losses, folder, **options: None)


def pytest_terminal_summary(terminalreporter):
    from torch_agreement import LARGEST, TOLERANCE

    if not LARGEST:
        return
    terminalreporter.section("largest relative error, torch vs numpy (and cuda vs cpu), float64")
    for component, error in sorted(LARGEST.items()):
        terminalreporter.write_line(f"{component:<32} {error:.3e}")
    terminalreporter.write_line(f"{'(tolerance)':<32} {TOLERANCE:.0e}")
