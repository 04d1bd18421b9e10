"""Helpers of corenn's own test suites (not part of corenn: plugin authors have corenn.testing).

Importable as ``suite_helpers`` from every test folder: pytest puts this folder on ``sys.path``
(``pythonpath`` in the ``[tool.pytest.ini_options]`` of the repository's pyproject.toml, and of
each plugin's whose tests use it).
"""


def run_command(capsys, *argv):
    """``(exit code, stdout, stderr)`` of ``corenn *argv`` run in this process; ``capsys`` is
    pytest's fixture that captures the output. Arguments may be paths or numbers."""
    from corenn.cli import main

    try:
        code = main([str(arg) for arg in argv])
    except SystemExit as exit:
        code = exit.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def trainer_for(config, *, data_dir=None):
    """The trainer that a run of ``config`` (a loaded config, :mod:`corenn.run.config`) would use,
    with no run folder: it records and prints nothing.

    For tests that look inside training: ``trainer = trainer_for(config); trainer.fit()`` trains
    as ``corenn train`` does, and then ``trainer.optimizer`` and ``trainer.run`` (the model, the
    steps taken) are there to read.
    """
    from corenn.run.build import make_trainer  # imported on use: training pulls in the data sets

    return make_trainer(config, None, data_dir=data_dir, reporter=None)
