"""Prints the largest cross-backend difference of each component after the test run."""

import numpy as np
import pytest


def pytest_terminal_summary(terminalreporter):
    from torch_agreement import LARGEST, TOLERANCE

    if not LARGEST:
        return
    terminalreporter.section("largest torch vs numpy relative error (float64)")
    for component, error in sorted(LARGEST.items()):
        terminalreporter.write_line(f"{component:<32} {error:.3e}")
    terminalreporter.write_line(f"{'(tolerance)':<32} {TOLERANCE:.0e}")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
