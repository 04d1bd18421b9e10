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

from corenn.data.columns import MISSING_TEXTS
from corenn.data.splits import DatasetSplits, Split
from corenn.errors import ConfigError, DataError

SPLIT_SEED = 20240601
DEFAULT_VAL_SIZE = 0.1
DEFAULT_TEST_SIZE = 0.2
# What ``corenn describe`` shows of the split options every user data set takes (its factory's
# ``option_values`` / ``option_defaults``): test_size's signature default, None, means DEFAULT_TEST_SIZE
# where the data has no test file or folder of its own, and no test split drawn where it has one.
SPLIT_OPTION_VALUES = {
    "val_size": "a fraction in [0, 1) or a number of samples (0: no validation split)",
    "test_size": (
        "a fraction in [0, 1) or a number of samples (0: no test split); not with a test file or folder of its "
        "own, which is then the test split"
    ),
    "split_seed": "a non-negative integer: which fixed split",
}
SPLIT_OPTION_DEFAULTS = {"test_size": DEFAULT_TEST_SIZE}
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
    is not a class is an error naming ``source`` (a missing one, empty or ``NA``..., said so)."""
    text = np.asarray([str(value) for value in labels]) if len(labels) else np.zeros(0, dtype=str)
    names = np.asarray(class_names)
    order = np.argsort(names)
    positions = np.searchsorted(names[order], text)
    positions = np.minimum(positions, len(names) - 1)
    found = names[order][positions] == text
    if not found.all():
        missing = [row for row in np.flatnonzero(~found).tolist() if text[row].strip() in MISSING_TEXTS]
        if missing:
            raise DataError(
                f"{source}: the label of sample {missing[0] + 1} (counting from 1) is missing "
                f"({str(text[missing[0]])!r}); every sample needs a label, one of the classes "
                f"({', '.join(map(str, class_names))})"
            )
        unknown = sorted(set(text[~found].tolist()))
        shown = ", ".join(repr(name) for name in unknown[:5])
        raise DataError(
            f"{source} has class(es) {shown} that the training data does not have "
            f"(its classes: {', '.join(map(str, class_names))}); a model can only learn classes it is trained on"
        )
    return order[positions].astype(np.int64)


def check_classes(class_names, source, task="classification"):
    """A classifier needs two classes at least: one class would train to a network that always
    answers it (with accuracy 1.0), so it is refused, saying what to do instead."""
    if task == "classification" and len(class_names) < 2:
        found = f"one class ({class_names[0]!r})" if class_names else "no class"
        raise DataError(
            f"{source} holds {found}; a classifier needs at least two. If the labels are values to predict, "
            'set [dataset] task = "regression" (with loss = "l2" and a linear last layer)'
        )


def split_indices(labels, *, has_test=False, val_size=DEFAULT_VAL_SIZE, test_size=None, split_seed=SPLIT_SEED):
    """``(train, val, test)`` index arrays into ``labels`` (class indices; a regression passes
    zeros, so its splits are drawn at random); ``val`` and ``test`` are None when empty, ``test``
    always with ``has_test`` (the data brings its own test file or folder)."""
    check_split_seed(split_seed)
    if has_test and test_size is not None:
        raise ConfigError(
            "dataset.test_size is not allowed with a test file or folder of its own: the test split is that data"
        )
    labels = np.asarray(labels, dtype=np.int64)
    rest, test_index = np.arange(len(labels)), None
    if not has_test:
        n_test = split_count(DEFAULT_TEST_SIZE if test_size is None else test_size, len(labels), "test_size")
        rest, test_index = stratified_take(labels, n_test, split_seed, _TEST_STREAM)
        test_index = test_index if n_test else None
    n_val = split_count(val_size, len(rest), "val_size")
    kept, taken = stratified_take(labels[rest], n_val, split_seed, _VAL_STREAM)
    return rest[kept], (rest[taken] if n_val else None), test_index


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
    task="classification",
    notes=(),
    indices=None,
    val=None,
):
    """:class:`DatasetSplits` of a user's data: ``X`` and integer ``labels`` (train, and test
    when ``test`` is None), ``test`` an ``(X, labels)`` pair of the data's own test file.

    For ``task = "regression"`` the labels are float targets ``(samples, targets)`` and
    ``class_names`` names the target columns; the splits are drawn at random (there are no
    classes to stratify). ``indices`` (a ``(train, val, test)`` from :func:`split_indices`)
    replaces the draw; ``X`` may then be a callable giving the inputs of an index array (a
    table whose encoding was fitted on the training rows). ``val``, an ``(X, labels)`` pair,
    is the validation split when the data brings its own (then nothing is drawn for it)."""
    if len(labels) < 2:
        raise DataError(f"data set {name!r} holds {len(labels)} sample(s); training needs at least 2")
    check_classes(class_names, f"data set {name!r}", task)
    strata = np.zeros(len(labels), dtype=np.int64) if task == "regression" else labels
    if indices is None:
        indices = split_indices(
            strata,
            has_test=test is not None,
            val_size=0 if val is not None else val_size,
            test_size=test_size,
            split_seed=split_seed,
        )
    train_index, val_index, test_index = indices
    rows = X if callable(X) else X.__getitem__
    if test is None:
        test_split = Split(rows(test_index), labels[test_index]) if test_index is not None else None
    else:
        test_split = Split(*test)
    return DatasetSplits(
        name=name,
        train=Split(rows(train_index), labels[train_index]),
        val=Split(*val)
        if val is not None
        else Split(rows(val_index), labels[val_index])
        if val_index is not None
        else None,
        test=test_split,
        class_names=class_names,
        standardize=standardize,
        scale=scale,
        inputs=inputs or {},
        task=task,
        notes=notes,
    )
