"""Training a run, from its config to a trained and recorded model.

- :mod:`~corenn.run.config`: a run's config (TOML, presets, overrides), checked as it loads;
- :mod:`~corenn.run.build`: the data, model and components a config names, and the trainer over them;
- :mod:`~corenn.run.loop`: the training loop (:class:`~corenn.run.loop.Trainer`);
- :mod:`~corenn.run.train`: ``train(config)``, a recorded run from start to result;
  :mod:`~corenn.run.resume`: ``resume(run_dir)``, a recorded run continued from its checkpoint;
- :mod:`~corenn.run.checkpoints`: a run's state as arrays and back, and the records written as it goes;
- :mod:`~corenn.run.interrupts`: Ctrl-C and SIGTERM held until the state is whole;
- :mod:`~corenn.run.console`: what a run prints;
- :mod:`~corenn.run.early_stopping`: ``patience``, a run stopped once its best metric stops improving;
- :mod:`~corenn.run.resources`: will it fit? memory and disk estimated before training;
- :mod:`~corenn.run.distributed`, :mod:`~corenn.run.launcher`: data-parallel runs (torchrun's
  variables, shares of a batch, the process group) and ``corenn train --nproc N``.

What a run leaves on disk is :mod:`corenn.records`'s; using a trained run, :mod:`corenn.trained`'s.
Importing this package imports none of them.
"""
