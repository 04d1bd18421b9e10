"""A trained run as a model to ask: :func:`load` (exported as ``corenn.load``) reads a run
directory into a :class:`TrainedModel` with ``predict``, ``predict_proba``, ``evaluate`` and
``classes``, which applies the run's own preprocessing (``preprocessing.json``: the training
split's standardisation, the image size and colour mode) to raw inputs.

    import corenn
    model = corenn.load("experiments/wine")
    model.classes                  # ('class_0', 'class_1', 'class_2')
    model.predict(X)               # class names, one per row of X
    model.predict_proba(X)         # (rows, classes) probabilities
    model.evaluate(X, y)           # {'accuracy': ..., 'loss': ..., 'samples': ...}

``X`` holds raw samples as the data set gave them (table rows, or NHWC pixel values 0..255 for
images); one sample alone is taken as a batch of one.
"""

from pathlib import Path

import numpy as np

from corenn.errors import CorennError, ShapeError
from corenn.records.folder import parameters_file


def check_run_dir(run_dir):
    from corenn.records.folder import CONFIG_FILE

    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file():
        raise CorennError(
            f"{run_dir} is not a corenn run directory (it has no {CONFIG_FILE}); pass a directory that corenn train created"
        )
    return run_dir


def load(run_dir, *, which="last", device=None, data_dir=None):
    """The model trained in ``run_dir`` with its preprocessing, ready to predict.

    ``which`` chooses the parameters: ``"last"`` (``parameters.npz``, those of the last epoch) or
    ``"best"`` (``best.npz``, those of the epoch with the best validation metric).
    ``device`` moves a torch run (``cpu``, ``cuda``...). ``data_dir`` is only read for a run
    recorded before corenn kept ``preprocessing.json``, whose statistics are refitted from its
    data set.
    """
    from corenn.nn.model import Sequential
    from corenn.plugins import get_backend
    from corenn.records.folder import CONFIG_FILE
    from corenn.records.preprocessing import run_preprocessing
    from corenn.run.build import compute_dtype
    from corenn.run.config import load_config, with_overrides

    run_dir = check_run_dir(run_dir)
    path = parameters_file(run_dir, which)
    config = load_config(run_dir / CONFIG_FILE)
    if device is not None:
        config = with_overrides(config, device=device)
    preprocessing = run_preprocessing(run_dir, config, data_dir)
    arrays = get_backend(config.backend).on(config.device)
    model = Sequential.from_config(
        config.layers, n_classes=len(preprocessing.class_names), backend=config.backend, seed=config.seed
    )
    if config.mixed_precision:  # predict as the run evaluated: products in bfloat16
        model.set_compute_dtype(compute_dtype(config))
    model.initialize(preprocessing.input_shape, config.dtype, to_device=arrays.to_device)
    model.load_parameters(path)
    model.eval()
    return TrainedModel(run_dir, config, preprocessing, model, arrays, which, path)


def _as_probabilities(outputs):
    """Outputs that are not probabilities already (a model trained with the l2 loss, say) go
    through a softmax, so every row is a distribution over the classes."""
    if outputs.size and (outputs.min() < 0 or not np.allclose(outputs.sum(axis=1), 1.0, atol=1e-4)):
        shifted = np.exp(outputs - outputs.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)
    return outputs


class TrainedModel:
    """A trained run's model and preprocessing (see :func:`load`)."""

    def __init__(self, run_dir, config, preprocessing, model, arrays, which, parameters_path=None):
        self.run_dir = Path(run_dir)
        self.parameters_path = parameters_path  # the file the parameters came from
        self.config = config
        self.preprocessing = preprocessing
        self.model = model
        self.arrays = arrays
        self.which = which

    @property
    def classes(self):
        """The class names, in the order of ``predict_proba``'s columns."""
        return self.preprocessing.class_names

    @property
    def input_shape(self):
        """The shape of one raw sample."""
        return self.preprocessing.input_shape

    def describe_input(self):
        """One sample as the run takes it, in words (for error messages)."""
        inputs, shape = self.preprocessing.inputs, self.input_shape
        if inputs.get("kind") == "table":
            return f"rows of {shape[0]} features ({', '.join(inputs['features'])})"
        if inputs.get("kind") == "image" or len(shape) == 3:
            colour = "grey" if shape[-1] == 1 else f"{shape[-1]}-channel"
            return f"{colour} images of {shape[0]}x{shape[1]} pixels (height x width), as arrays of shape (n, {shape[0]}, {shape[1]}, {shape[2]})"
        return f"samples of shape {shape}"

    def _batch(self, X, source="X"):
        X = np.asarray(X)
        if X.dtype.kind not in "biuf":
            raise ShapeError(f"{source} holds {X.dtype} values; the model takes numbers")
        shape = tuple(self.input_shape)
        if X.shape == shape:
            X = X[np.newaxis]
        if len(shape) == 3 and X.ndim == 3 and shape[-1] == 1 and X.shape[1:] == shape[:2]:
            X = X[..., np.newaxis]  # grey images given without their channel axis
        if X.shape[1:] != shape:
            raise ShapeError(
                f"{source} has samples of shape {X.shape[1:]}, but the model of {self.run_dir} takes {self.describe_input()}"
            )
        return X

    def transform(self, X, source="X"):
        """Raw samples standardised as in training, in the run's dtype."""
        return self.preprocessing.standardizer.transform(self._batch(X, source), self.config.dtype)

    def predict_proba(self, X, batch_size=None, source="X"):
        """Each class's probability for every sample of ``X``: ``(samples, classes)``, computed
        ``batch_size`` samples at a time (by default 1,024, fewer where a wide network's outputs
        would not fit in memory)."""
        from corenn.data.loader import averaged_outputs
        from corenn.files import as_numpy
        from corenn.run.resources import evaluation_batch_size

        X = self.transform(X, source)
        if batch_size is None:
            batch_size = evaluation_batch_size(self.model, self.arrays)
        outputs = []
        with self.arrays.no_grad():
            for start in range(0, len(X), batch_size):
                batch = self.arrays.to_device(X[start : start + batch_size])
                Y_hat = averaged_outputs(self.model.forward, batch, self.arrays, self.config.dataset.test_augment)
                outputs.append(np.asarray(as_numpy(Y_hat), dtype=np.float64))
        if not outputs:
            return np.zeros((0, len(self.classes)))
        return _as_probabilities(np.concatenate(outputs))

    def predict(self, X, batch_size=None):
        """The predicted class name of every sample of ``X``."""
        return np.asarray(self.classes)[self.predict_proba(X, batch_size).argmax(axis=1)]

    def class_indices(self, y, source="y"):
        """``y`` as class indices: integers are indices already, anything else is a class name."""
        from corenn.data.user_splits import encode

        y = np.asarray(y)
        if y.dtype.kind in "iu":
            if len(y) and (y.min() < 0 or y.max() >= len(self.classes)):
                raise ShapeError(
                    f"{source} holds class indices {int(y.min())}..{int(y.max())}; the run has {len(self.classes)} classes"
                )
            return y.astype(np.int64)
        try:
            return encode(y.tolist(), self.classes, source)
        except CorennError as exc:
            raise ShapeError(str(exc)) from None

    def evaluate(self, X, y, batch_size=None):
        """Accuracy and mean cross-entropy of the predictions for ``X`` against labels ``y``
        (class names, or class indices as integers)."""
        probabilities = self.predict_proba(X, batch_size)
        labels = self.class_indices(y)
        if len(labels) != len(probabilities):
            raise ShapeError(f"X has {len(probabilities)} samples but y has {len(labels)} labels")
        if not len(labels):
            return {"accuracy": None, "loss": None, "samples": 0}
        picked = np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1.0)
        return {
            "accuracy": float((probabilities.argmax(axis=1) == labels).mean()),
            "loss": float(-np.log(picked).mean()),
            "samples": len(labels),
        }

    def __repr__(self):
        return f"TrainedModel({str(self.run_dir)!r}, classes={list(self.classes)!r}, which={self.which!r})"
