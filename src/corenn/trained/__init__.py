"""Using a trained run: asking it, judging it, comparing it with others.

- :mod:`~corenn.trained.load`: ``corenn.load(run_dir)``, a trained run as a model to ask;
- :mod:`~corenn.trained.predict`: its predictions for a data set's split (``corenn predict``);
  :mod:`~corenn.trained.predict_input`: for new samples in files (``corenn predict --input``);
- :mod:`~corenn.trained.evaluate`: accuracy, per-class precision and recall, the confusion
  matrix (``corenn evaluate``);
- :mod:`~corenn.trained.runs`: the runs of a folder and their curves (``corenn runs``, ``corenn compare``);
- :mod:`~corenn.trained.sweep`: a learning-rate x hidden-size grid of runs, judged on their
  validation split (``corenn sweep``).

Importing this package imports none of them.
"""
