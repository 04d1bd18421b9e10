"""Prints the largest cross-backend difference of each component after the test run."""


def pytest_terminal_summary(terminalreporter):
    from torch_agreement import LARGEST, TOLERANCE

    if not LARGEST:
        return
    terminalreporter.section("largest relative error, torch vs numpy (and cuda vs cpu), float64")
    for component, error in sorted(LARGEST.items()):
        terminalreporter.write_line(f"{component:<32} {error:.3e}")
    terminalreporter.write_line(f"{'(tolerance)':<32} {TOLERANCE:.0e}")
