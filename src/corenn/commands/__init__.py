"""Sub-commands of the ``corenn`` CLI, one module each (see :mod:`corenn.cli`)."""
