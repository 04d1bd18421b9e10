"""A trained run's class predictions for a data set's split, and the competition's CSV of them.

The file has the competition format: a header ``Id,Category``, then one row per sample in the
split's order, ``Id`` counting from 1 and ``Category`` the predicted class index (the class
names belong to the data set: :func:`split_outputs` returns them).
"""

from pathlib import Path

import attrs
import numpy as np

from corenn.data.loader import averaged_outputs, check_image_options, prepare
from corenn.errors import ConfigError, CorennError, CorruptFileError, DataError, ShapeError
from corenn.files import as_numpy
from corenn.nn.model import Sequential
from corenn.plugins import get_backend
from corenn.records.folder import CONFIG_FILE, parameters_file
from corenn.run.build import compute_dtype, dataset_splits
from corenn.run.config import DatasetConfig, config_on, load_config
from corenn.run.resources import evaluation_batch_size
from corenn.trained.load import check_batch_size, check_finite_parameters

SPLITS = ("train", "val", "test")


def predict_labels(run_dir, **options):
    """The class index the run's model predicts for every sample of a split, as a numpy array;
    ``options`` are :func:`split_outputs`'s (``dataset``, ``split``, ``backend``, ...)."""
    return split_outputs(run_dir, **options).predicted


@attrs.frozen
class SplitOutputs:
    """A run's model's outputs for one split: ``outputs`` (samples x classes, numpy), the
    split's true ``labels``, the data set's ``class_names``, and ``trained_on``, the name of the
    data set the run was trained on (another one than ``dataset`` deserves a word to the user).

    A regression's (``task``) ``labels`` are the split's targets and ``class_names`` their
    names, in the targets' units; its ``outputs`` are standardised, :attr:`values` are not."""

    outputs: np.ndarray
    labels: np.ndarray
    class_names: tuple
    dataset: str
    trained_on: str
    parameters: Path
    task: str = "classification"
    target_standardizer: object = None

    @property
    def predicted(self):
        return self.outputs.argmax(1) if len(self.outputs) else np.zeros(0, dtype=np.int64)

    @property
    def values(self):
        """A regression's predicted values in the targets' units, ``(samples, targets)``."""
        return self.target_standardizer.inverse(self.outputs)


def split_outputs(
    run_dir, *, dataset=None, split="test", data_dir=None, backend=None, device=None, batch_size=None, which=None
):
    """The run's model's outputs for every sample of ``split`` (see :class:`SplitOutputs`).

    The run's config rebuilds the model on its backend; its ``parameters.npz`` (``which="last"``)
    or ``best.npz`` (``which="best"``; ``None``: those the run's own test used), read without
    pickle, fills it. The inputs are
    standardised as in training: with the statistics the run recorded in ``preprocessing.json``
    (for an older run without one, those of the named data set's *training* split). The run's
    ``[dataset] test_augment`` applies as in its evaluations: the outputs are averaged over the
    same views.
    """
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file():
        raise CorennError(
            f"{run_dir} is not a corenn run directory (it has no {CONFIG_FILE}); pass a directory that corenn train created"
        )
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; splits: {', '.join(SPLITS)}")
    batch_size = check_batch_size(batch_size, "--batch-size")
    parameters = parameters_file(run_dir, which)
    config = config_on(load_config(run_dir / CONFIG_FILE), backend=backend, device=device)
    # The run's data set keeps its options (and its task); another one is loaded with its defaults.
    dataset_config = config.dataset if dataset in (None, config.dataset.name) else DatasetConfig(dataset)
    splits = dataset_splits(config, data_dir=data_dir, dataset_config=dataset_config)
    if getattr(splits, split) is None:
        hint = " (its val_size is 0)" if split == "val" and "val_size" in dataset_config.options else ""
        raise DataError(f"data set {dataset_config.name!r} has no {split} split{hint}")
    test_augment = config.dataset.test_augment
    check_image_options(splits.input_shape, dataset_config.name, test_augment=test_augment)
    recorded = _recorded_preprocessing(run_dir, splits.input_shape)
    data = prepare(
        splits,
        config.dtype,
        standardizer=None if recorded is None else recorded.standardizer,
        target_standardizer=None if recorded is None else recorded.target_standardizer,
    )
    arrays = get_backend(config.backend).on(config.device)
    model = Sequential.from_config(config.layers, n_classes=data.n_classes, backend=config.backend, seed=config.seed)
    if config.mixed_precision:  # predict as the run evaluated: products in bfloat16
        model.set_compute_dtype(compute_dtype(config))
    other_data = dataset_config.name != config.dataset.name
    mismatch = (
        f"data set {dataset_config.name!r} has inputs of shape {splits.input_shape} and {data.n_classes} classes, "
        f"which the model of run {run_dir} (trained on {config.dataset.name!r}) does not take"
    )
    try:
        model.initialize(splits.input_shape, config.dtype, to_device=arrays.to_device)
    except ShapeError as exc:
        raise ShapeError(f"{mismatch}: {exc}") from exc
    try:
        model.load_parameters(parameters)
    except CorruptFileError as exc:
        if other_data and "shape" in str(exc):
            raise ShapeError(f"{mismatch}: {exc}") from exc
        raise
    check_finite_parameters(model, parameters)
    X = getattr(data, split).X
    if batch_size is None:
        batch_size = evaluation_batch_size(model, arrays)
    model.eval()
    outputs = []
    with arrays.no_grad():
        for start in range(0, len(X), batch_size):
            Y_hat = averaged_outputs(
                model.forward, arrays.to_device(X[start : start + batch_size]), arrays, test_augment
            )
            outputs.append(np.asarray(as_numpy(Y_hat), dtype=np.float64))
    prepared = getattr(data, split)
    regression = data.task == "regression"
    return SplitOutputs(
        outputs=np.concatenate(outputs) if outputs else np.zeros((0, data.n_classes)),
        labels=np.asarray(prepared.targets if regression else prepared.labels),
        class_names=tuple(data.class_names),
        dataset=dataset_config.name,
        trained_on=config.dataset.name,
        parameters=parameters,
        task=data.task,
        target_standardizer=data.target_standardizer,
    )


def other_data_warning(outputs, run_dir):
    """A word for predictions on another data set than the run's (an MNIST model scoring
    Fashion-MNIST fits by shape, yet its classes mean other things), or ``None``."""
    if outputs.dataset == outputs.trained_on:
        return None
    return (
        f"warning: run {run_dir} was trained on {outputs.trained_on!r}, not {outputs.dataset!r}: its class indices "
        f"are read as {outputs.dataset!r}'s classes only because the shapes fit"
    )


def class_counts(labels, class_names):
    """``"0 setosa: 10, 1 versicolor: 12"``: how often each class was predicted, with its name."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(class_names))
    return ", ".join(
        f"{index} {name}: {int(count)}" for index, (name, count) in enumerate(zip(class_names, counts, strict=False))
    )


def _recorded_preprocessing(run_dir, input_shape):
    """The run's own preprocessing (its ``preprocessing.json``, checked) for inputs of its
    shape; None for a run recorded without one, or inputs of another shape (refused further on)."""
    from corenn.records.preprocessing import read_preprocessing

    recorded = read_preprocessing(run_dir)
    if recorded is None or tuple(recorded.input_shape) != tuple(input_shape):
        return None
    return recorded


def submission_csv(labels):
    """``Id,Category`` rows for predicted class indices, ``Id`` counting from 1."""
    rows = "".join(f"{number},{int(label)}\n" for number, label in enumerate(labels, start=1))
    return "Id,Category\n" + rows


def values_csv(values, names):
    """``Id,<target>...`` rows of a regression's predicted values, ``Id`` counting from 1."""
    values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
    rows = "".join(
        f"{number}," + ",".join(repr(float(value)) for value in row) + "\n"
        for number, row in enumerate(values, start=1)
    )
    return "Id," + ",".join(names) + "\n" + rows
