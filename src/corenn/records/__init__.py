"""The run folder on disk: what a run leaves in ``<out>/<name>/``, written by training and read
by everything that uses a trained run.

- :mod:`~corenn.records.folder`: the folder's files (config, metrics, steps, parameters,
  checkpoint, result) and :class:`~corenn.records.folder.RunRecorder`, which writes them;
- :mod:`~corenn.records.plots`: the loss and accuracy plots;
- :mod:`~corenn.records.preprocessing`: ``preprocessing.json``, a run's classes, input
  description and standardisation, so that it predicts new samples without its data set.

Every file is written atomically and arrays are read without pickle (:mod:`corenn.files`).
Importing this package imports none of them.
"""
