"""Training from arrays in Python: ``corenn.train(config, X=..., y=...)``, without data files.

    import corenn
    result = corenn.train(config, X=X, y=y)                  # records nothing on disk
    result["model"].predict(X_new)                           # the trained model, in memory
    result = corenn.train(config, X=X, y=y, X_val=Xv, y_val=yv, record=True, out_dir="experiments")

The arrays become the run's data set ``arrays`` (:mod:`corenn.data.arrays`): split, checked
and standardised like an ``.npz`` file's, classification or regression as the config says (its
``[dataset]`` table may be left out, or hold ``batch_size``, ``task``, ``missing``,
``val_size``...). Without ``X``, :func:`train` is :func:`corenn.run.train.train`.
"""

from corenn.errors import ConfigError

ARRAY_KEYWORDS = ("X", "y", "X_val", "y_val", "X_test", "y_test")


def train(config, *, X=None, y=None, X_val=None, y_val=None, X_test=None, y_test=None, record=None, **options):
    """Train ``config`` (a TOML path, a dict or a RunConfig) and return its result.

    Without arrays this is :func:`corenn.run.train.train` (``record`` defaults to True, and
    ``options`` are its own: ``data_dir``, ``out_dir``, ``overwrite``, ``verbose``...). With
    ``X`` and ``y`` the run trains on them (and on ``X_val``/``y_val`` as its validation split,
    ``X_test``/``y_test`` as its test split), records nothing unless ``record=True``, and its
    result also holds ``"model"``: the trained :class:`corenn.trained.load.TrainedModel`, ready
    to ``predict`` (it is not part of ``result.json``)."""
    from corenn.run.train import train as train_run

    arrays = {"X": X, "y": y, "X_val": X_val, "y_val": y_val, "X_test": X_test, "y_test": y_test}
    if X is None and y is None:
        given = [name for name, value in arrays.items() if value is not None]
        if given:
            raise ConfigError(f"corenn.train got {', '.join(given)} without X and y: give the training arrays too")
        return train_run(config, record=True if record is None else record, **options)
    if X is None or y is None:
        raise ConfigError("corenn.train trains on arrays given as both X= (the inputs) and y= (the labels or targets)")
    from corenn.data.arrays import SuppliedArrays, supplied

    config = _on_arrays(config)
    capture = _ModelCapture()
    callbacks = [*options.pop("callbacks", ()), capture]
    with supplied(SuppliedArrays(**arrays)):
        result = train_run(config, record=bool(record), callbacks=callbacks, **options)
        model = _trained_model(capture, result)
    return result | {"model": model}


def _on_arrays(config):
    """The config with ``[dataset] name = "arrays"`` (a config naming another data set is an
    error: the arrays replace it)."""
    from corenn.run.config import RunConfig, load_config

    if isinstance(config, RunConfig):
        data = config.to_dict()
    elif isinstance(config, dict):
        data = dict(config)
    else:
        data = load_config(config).to_dict()
    dataset = data.get("dataset") or {}
    if not isinstance(dataset, dict):
        raise ConfigError(f"dataset must be a table (a dict), got {dataset!r}")
    dataset = dict(dataset)
    name = dataset.get("name", "arrays")
    if name != "arrays":
        raise ConfigError(
            f'dataset.name is {name!r}, but corenn.train got arrays (X=, y=): leave the name out or write "arrays"'
        )
    data["dataset"] = dataset | {"name": "arrays"}
    return load_config(data)


class _ModelCapture:
    """Keeps the run's trainer-side model at the end of training (a per-run hook implementation)."""

    from corenn.hookspecs import hookimpl

    def __init__(self):
        self.run = None

    @hookimpl
    def corenn_train_end(self, run, metrics):
        self.run = run


def _trained_model(capture, result):
    """The run's model with the preprocessing its data was given, as :func:`corenn.load` would
    read it back from the run's folder."""
    from corenn.data.arrays import current_splits
    from corenn.files import as_numpy
    from corenn.records.preprocessing import Preprocessing
    from corenn.trained.load import TrainedModel

    run = capture.run
    preprocessing = Preprocessing.of_splits(current_splits(), "arrays")
    parameters = {name: as_numpy(value).copy() for name, value in run.model.parameter_arrays().items()}
    return TrainedModel.build(run.config, preprocessing, parameters, run_dir=result.get("run_dir"))
