"""Splitting a user's own data (the ``csv``, ``npz`` and ``image_folder`` data sets) into train,
validation and test splits, and turning its labels into class indices and class names.

The splits are stratified (each class keeps its share in every split) and fixed: they are drawn
from :data:`SPLIT_SEED`, not from the run's seed, so every run and every tool on the same files
sees the same validation and test samples; ``split_seed`` chooses another fixed split.

``val_size`` and ``test_size`` are a fraction of the samples (a float between 0 and 1) or a
number of samples (an integer); ``0`` leaves the split out. The test split is drawn first, from
all the samples; ``val_size`` then counts from what is left. When the data comes with its own
test file or folder, the test split is that, and ``val_size`` is taken from the training data.
"""

import numpy as np

from corenn.data.splits import DatasetSplits, Split
from corenn.errors import ConfigError, DataError

SPLIT_SEED = 20240601
DEFAULT_VAL_SIZE = 0.1
DEFAULT_TEST_SIZE = 0.2
_TEST_STREAM, _VAL_STREAM = 1, 2


def split_count(value, n_samples, key):
    """The number of samples ``dataset.<key>`` asks for out of ``n_samples``: a fraction in [0, 1)
    or a count from 0 to ``n_samples - 1`` (at least one sample must stay to train on)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"dataset.{key} must be a fraction between 0 and 1 or a number of samples, got {value!r}")
    if isinstance(value, float):
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"dataset.{key} as a fraction must be at least 0 and below 1, got {value!r}")
        return round(value * n_samples)
    if not 0 <= value < n_samples:
        raise ConfigError(
            f"dataset.{key} must be from 0 to {n_samples - 1} samples (the data holds {n_samples}), got {value!r}"
        )
    return value


def check_split_seed(split_seed):
    if isinstance(split_seed, bool) or not isinstance(split_seed, int) or split_seed < 0:
        raise ConfigError(f"dataset.split_seed must be a non-negative integer, got {split_seed!r}")
    return split_seed


def stratified_take(labels, n_take, seed, stream):
    """``(kept, taken)`` sorted index arrays: ``n_take`` samples taken out of ``labels`` (class
    indices), each class contributing in proportion to its size (largest remainders round), and
    every class keeping at least one sample, so that no class vanishes from the training split."""
    labels = np.asarray(labels, dtype=np.int64)
    if n_take == 0:
        return np.arange(len(labels)), np.zeros(0, dtype=np.int64)
    counts = np.bincount(labels)
    quotas = counts * (n_take / len(labels))
    shares = np.minimum(np.floor(quotas).astype(np.int64), np.maximum(counts - 1, 0))
    for index in np.argsort(-(quotas - shares), kind="stable"):  # hand out what rounding down left over
        if shares.sum() >= n_take:
            break
        if shares[index] < counts[index] - 1:
            shares[index] += 1
    rng = np.random.default_rng([seed, stream])
    by_class = np.split(np.argsort(labels, kind="stable"), np.cumsum(counts)[:-1])
    taken = np.zeros(len(labels), dtype=bool)
    for members, share in zip(by_class, shares, strict=True):
        if share:
            taken[rng.permutation(members)[:share]] = True
    return np.flatnonzero(~taken), np.flatnonzero(taken)


def class_names_of(values):
    """Sorted distinct labels as class names: numbers in numeric order ("2" before "10"), text in
    alphabetical order."""
    distinct = sorted({str(value) for value in values})
    try:
        return tuple(sorted(distinct, key=float))
    except ValueError:
        return tuple(distinct)


def encode(labels, class_names, source):
    """Class indices of ``labels`` (any values; compared as text) in ``class_names``; a label that
    is not a class is an error naming ``source``."""
    text = np.asarray([str(value) for value in labels]) if len(labels) else np.zeros(0, dtype=str)
    names = np.asarray(class_names)
    order = np.argsort(names)
    positions = np.searchsorted(names[order], text)
    positions = np.minimum(positions, len(names) - 1)
    found = names[order][positions] == text
    if not found.all():
        unknown = sorted(set(text[~found].tolist()))
        shown = ", ".join(repr(name) for name in unknown[:5])
        raise DataError(
            f"{source} has class(es) {shown} that the training data does not have "
            f"(its classes: {', '.join(map(str, class_names))}); a model can only learn classes it is trained on"
        )
    return order[positions].astype(np.int64)


def make_splits(
    name,
    X,
    labels,
    *,
    class_names,
    test=None,
    val_size=DEFAULT_VAL_SIZE,
    test_size=None,
    split_seed=SPLIT_SEED,
    standardize="feature",
    scale=1.0,
    inputs=None,
):
    """:class:`DatasetSplits` of a user's data: ``X`` and integer ``labels`` (train, and test
    when ``test`` is None), ``test`` an ``(X, labels)`` pair of the data's own test file."""
    check_split_seed(split_seed)
    if test is not None and test_size is not None:
        raise ConfigError(
            "dataset.test_size is not allowed with a test file or folder of its own: the test split is that data"
        )
    if len(labels) < 2:
        raise DataError(f"data set {name!r} holds {len(labels)} sample(s); training needs at least 2")
    rest = np.arange(len(labels))
    if test is None:
        n_test = split_count(DEFAULT_TEST_SIZE if test_size is None else test_size, len(labels), "test_size")
        rest, test_index = stratified_take(labels, n_test, split_seed, _TEST_STREAM)
        test_split = Split(X[test_index], labels[test_index]) if n_test else None
    else:
        test_split = Split(*test)
    n_val = split_count(val_size, len(rest), "val_size")
    kept, taken = stratified_take(labels[rest], n_val, split_seed, _VAL_STREAM)
    train_index, val_index = rest[kept], rest[taken]
    return DatasetSplits(
        name=name,
        train=Split(X[train_index], labels[train_index]),
        val=Split(X[val_index], labels[val_index]) if n_val else None,
        test=test_split,
        class_names=class_names,
        standardize=standardize,
        scale=scale,
        inputs=inputs or {},
    )
