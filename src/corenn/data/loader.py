"""Turning a data set's raw splits into standardised arrays and shuffled mini-batches.

Standardisation is fitted on the training split only (the validation and test splits are
transformed with the training mean and standard deviation), so no information leaks from the
held-out data into training.
"""

import attrs
import numpy as np

from corenn.errors import DataError


@attrs.frozen
class Standardizer:
    """``(x / scale - mean) / std``, with statistics from the training split."""

    mean: np.ndarray
    std: np.ndarray
    scale: float = 1.0

    @classmethod
    def fit(cls, X, mode, scale=1.0):
        X = np.asarray(X, dtype=np.float64) / scale
        if mode == "none":
            return cls(np.zeros(()), np.ones(()), scale)
        axes = (0,) if mode == "feature" else tuple(range(X.ndim - 1))
        mean = X.mean(axis=axes)
        std = X.std(axis=axes)
        return cls(mean, np.where(std > 0, std, 1.0), scale)

    def transform(self, X, dtype):
        X = np.asarray(X, dtype=np.float64) / self.scale
        return ((X - self.mean) / self.std).astype(dtype, copy=False)


def one_hot(labels, n_classes, dtype=np.float64):
    encoded = np.zeros((len(labels), n_classes), dtype=dtype)
    encoded[np.arange(len(labels)), labels] = 1
    return encoded


@attrs.frozen
class PreparedSplit:
    """A split ready for training: standardised inputs, one-hot targets, integer labels."""

    X: np.ndarray
    Y: np.ndarray
    labels: np.ndarray

    def __len__(self):
        return len(self.labels)


@attrs.frozen
class PreparedData:
    train: PreparedSplit
    val: PreparedSplit
    test: PreparedSplit | None
    n_classes: int
    class_names: tuple
    standardizer: Standardizer


def _check_finite(name, X):
    """Integer inputs are always finite; float inputs must hold no NaN or infinity."""
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        return
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.unique(np.nonzero(bad.reshape(len(bad), -1))[0])
        raise DataError(
            f"the {name} split holds {int(bad.sum())} NaN or infinite input value(s) in "
            f"{len(rows)} sample(s) (first: row {int(rows[0])}); clean the data before training"
        )


def prepare(splits, dtype="float64"):
    """Standardise every split with the training statistics and one-hot encode the labels.

    Every split is checked before the statistics are fitted, so bad values are reported as
    such rather than surfacing as NaN statistics (or numpy warnings) first.
    """
    dtype = np.dtype(dtype)
    named = {name: getattr(splits, name) for name in ("train", "val", "test")}
    for name, split in named.items():
        if split is None:
            continue
        if name != "test" and len(split) == 0:
            raise DataError(f"the {name} split is empty; training needs samples in both train and val")
        _check_finite(name, split.X)
        if len(split) and (split.y.min() < 0 or split.y.max() >= splits.n_classes):
            raise DataError(
                f"the {name} split has labels outside 0..{splits.n_classes - 1} "
                f"(found {split.y.min()}..{split.y.max()})"
            )
    standardizer = Standardizer.fit(splits.train.X, splits.standardize, splits.scale)
    prepared = {
        name: None
        if split is None
        else PreparedSplit(standardizer.transform(split.X, dtype), one_hot(split.y, splits.n_classes, dtype), split.y)
        for name, split in named.items()
    }
    return PreparedData(
        prepared["train"], prepared["val"], prepared["test"], splits.n_classes, splits.class_names, standardizer
    )


def batch_indices(n_samples, batch_size, rng=None):
    """Index arrays of consecutive mini-batches, shuffled by ``rng`` when one is given."""
    order = rng.permutation(n_samples) if rng is not None else np.arange(n_samples)
    return [order[start : start + batch_size] for start in range(0, n_samples, batch_size)]


def iterate_batches(split, batch_size, rng=None):
    """``(X, Y)`` mini-batches of a prepared split; the last one may be smaller."""
    for index in batch_indices(len(split), batch_size, rng):
        yield split.X[index], split.Y[index]


def augment_batch(X, rng, arrays, crop_padding=0, flip=False):
    """A randomly cropped and flipped copy of an NHWC image batch ``X``, as for CIFAR-10 training.

    Each image is padded with ``crop_padding`` zeros on every side and cropped back to its size
    at an offset drawn from ``rng``; with ``flip`` each image is also mirrored left-right with
    probability 1/2. The draws are made on the host from ``rng`` (a numpy Generator, part of
    the run's checkpoint); the crop itself is one gather on ``arrays``'s device (see
    :meth:`corenn.trainer.NumpyArrays.crop_and_flip`), vectorised over the batch.
    """
    if X.ndim != 4:
        raise DataError(
            f"dataset.augment needs image batches of shape (m, height, width, channels), got shape {tuple(X.shape)}"
        )
    m, height, width = X.shape[0], X.shape[1], X.shape[2]
    if crop_padding:
        offsets = rng.integers(0, 2 * crop_padding + 1, size=(m, 2))
    else:
        offsets = np.zeros((m, 2), dtype=np.int64)
    rows = offsets[:, :1] + np.arange(height)
    cols = offsets[:, 1:] + np.arange(width)
    if flip:
        mirrored = rng.random(m) < 0.5
        cols = np.where(mirrored[:, None], cols[:, ::-1], cols)
    return arrays.crop_and_flip(X, crop_padding, rows, cols)
