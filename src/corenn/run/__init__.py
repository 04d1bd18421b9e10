"""Training a run, from its config to a trained and recorded model: the config, the trainer, its
checkpoints, interrupts and resources, and data-parallel runs.

What a run leaves on disk is :mod:`corenn.records`'s; using a trained run, :mod:`corenn.trained`'s.
Importing this package imports none of them. Its modules, each with what it holds:
``docs/reference/modules.md`` (generated from their docstrings).
"""
