"""Warnings from numpy, Pillow, torch or a plugin reach the user on one line each, as corenn's
errors do. Before (issue 22, hole 13): Python's own format printed two lines per warning (where
it was raised, then that source line), more for messages that span lines, such as torch's."""

import warnings

import numpy as np

from corenn.cli import main, print_warnings_on_one_line


def test_a_multi_line_warning_is_one_line(capsys, monkeypatch):
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)  # restored after the test
    print_warnings_on_one_line()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("TypedStorage is deprecated.\n  It will be removed in the future.", UserWarning, stacklevel=1)
        np.log(np.zeros(1))  # numpy's RuntimeWarning: divide by zero
    assert capsys.readouterr().err.splitlines() == [
        "corenn: warning: TypedStorage is deprecated. It will be removed in the future. (UserWarning)",
        "corenn: warning: divide by zero encountered in log (RuntimeWarning)",
    ]


def test_the_command_line_prints_warnings_on_one_line(capsys, monkeypatch):
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    import corenn.cli.plugins as plugins_command

    original = plugins_command.run

    def warning_run(args):
        warnings.warn("a plugin's\nmulti-line\nwarning", RuntimeWarning, stacklevel=1)
        return original(args)

    monkeypatch.setattr(plugins_command, "run", warning_run)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["plugins"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err == ["corenn: warning: a plugin's multi-line warning (RuntimeWarning)"]
