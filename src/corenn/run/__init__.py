"""A training run, from its config to a trained and recorded model.

- :mod:`~corenn.run.config`: a run's config (TOML, presets, overrides), checked as it loads;
- :mod:`~corenn.run.build`: the data, model and components a config names, and the trainer over them;
- :mod:`~corenn.run.loop`: the training loop (:class:`~corenn.run.loop.Trainer`);
- :mod:`~corenn.run.arrays`: the loop's array backends (numpy's; torch's comes from its plugin);
- :mod:`~corenn.run.train`: ``train(config)``, a recorded run from start to result;
- :mod:`~corenn.run.checkpoints`: a run's state as arrays and back, and ``resume(run_dir)``;
- :mod:`~corenn.run.interrupts`: Ctrl-C and SIGTERM held until the state is whole;
- :mod:`~corenn.run.records`, :mod:`~corenn.run.plots`, :mod:`~corenn.run.files`: what a run
  leaves in its folder, its plots, and files written atomically and read without pickle;
- :mod:`~corenn.run.console`: what a run prints;
- :mod:`~corenn.run.predict`, :mod:`~corenn.run.sweep`: a trained run's predictions, a grid search.

Importing this package imports none of them.
"""
