"""Conformance checks of the kinds without gradients: schedulers, initializers and data sets.

What goes wrong with them is quiet: a schedule that keeps state (so a resumed run gets other
rates), an initializer that ignores its generator (so a seed does not fix the weights) or
returns the wrong shape, a data set whose labels do not match its class names. Each check
raises ``AssertionError`` naming what is wrong.
"""

import math

import numpy as np

from corenn.data.splits import DatasetSplits


def _require(condition, message):
    if not condition:
        raise AssertionError(message)


def check_scheduler_conformance(make_scheduler, steps=(0, 1, 2, 10, 99, 1000, 10_000), *, initial_lr=0.1):
    """Check that ``make_scheduler(initial_lr)`` builds a schedule corenn can use: a callable
    giving a finite learning rate >= 0 (a Python or numpy number) for every step in ``steps``;
    the same rate for the same step whenever and however often it is asked, in any order, and
    from a second schedule made alike (it holds no state: a resumed run only knows its step
    count); and ``ValueError`` for a step that is negative or not an integer."""
    scheduler = make_scheduler(initial_lr)
    name = type(scheduler).__name__
    _require(callable(scheduler), f"{name} is not callable: a scheduler is scheduler(step) -> lr")
    rates = {}
    for step in steps:
        rate = scheduler(step)
        _require(
            isinstance(rate, (int, float, np.number)) and not isinstance(rate, bool),
            f"{name}({step}) gave {rate!r}, not a number",
        )
        _require(math.isfinite(rate) and rate >= 0, f"{name}({step}) gave {rate!r}; a learning rate is finite and >= 0")
        rates[step] = float(rate)
    again = make_scheduler(initial_lr)
    for step in reversed(steps):
        _require(
            float(scheduler(step)) == rates[step] and float(again(step)) == rates[step],
            f"{name}({step}) changed when asked again, later or out of order: a scheduler must hold no state "
            "(a resumed run rebuilds it and asks for its step)",
        )
    for bad in (-1, 1.5):
        try:
            scheduler(bad)
        except ValueError:
            continue
        raise AssertionError(f"{name}({bad!r}) gave a rate; a step is an integer >= 0 (raise ValueError)")
    return rates


def check_initializer_conformance(make_init, shapes=((5, 3), (1, 4), (3, 3, 2, 4))):
    """Check that ``make_init()`` (the registered factory, called with its defaults: a layer
    also passes ``activation=``) gives ``init(shape, rng)`` drawing float arrays of each shape in
    ``shapes`` (a dense weight, a bias row, a convolution kernel), all finite, the same for the
    same seed and different for another (when it draws at all)."""
    init = make_init()
    name = getattr(make_init, "__name__", type(init).__name__)
    _require(callable(init), f"{name}() did not return init(shape, rng)")
    for shape in shapes:
        first = np.asarray(init(shape, np.random.default_rng(0)))
        _require(first.shape == tuple(shape), f"{name}: init({shape}, rng) made shape {first.shape}")
        _require(np.issubdtype(first.dtype, np.floating), f"{name}: init({shape}, rng) made dtype {first.dtype}")
        _require(np.all(np.isfinite(first)), f"{name}: init({shape}, rng) made values that are not finite")
        second = np.asarray(init(shape, np.random.default_rng(0)))
        _require(
            np.array_equal(first, second),
            f"{name}: two draws of shape {shape} from generators of the same seed differ: draw from rng only",
        )
    make_init(activation=None)  # what a layer without an activation passes


def check_dataset_conformance(load, **options):
    """Check that ``load(data_dir=None, **options)`` returns :class:`corenn.data.splits.DatasetSplits`
    whose splits have one label per sample, labels in ``range(n_classes)`` covering every class in
    the training split, samples of one shape across the splits, and finite inputs."""
    splits = load(data_dir=None, **options)
    name = getattr(load, "__name__", "the data set")
    _require(isinstance(splits, DatasetSplits), f"{name} returned {type(splits).__name__}, not DatasetSplits")
    _require(splits.n_classes >= 2, f"{name}: {splits.n_classes} class name(s); a classifier needs two or more")
    shape = splits.input_shape
    for split_name in ("train", "val", "test"):
        split = getattr(splits, split_name)
        if split is None:
            _require(split_name != "train", f"{name}: no training split")
            continue
        _require(len(split) > 0, f"{name}: the {split_name} split is empty")
        _require(split.X.shape[1:] == shape, f"{name}: {split_name} samples are {split.X.shape[1:]}, train's {shape}")
        labels = np.asarray(split.y)
        _require(
            labels.min() >= 0 and labels.max() < splits.n_classes,
            f"{name}: {split_name} labels outside 0..{splits.n_classes - 1} (the class names' indices)",
        )
        _require(np.all(np.isfinite(split.X)), f"{name}: the {split_name} split holds NaN or infinite inputs")
    missing = sorted(set(range(splits.n_classes)) - set(np.asarray(splits.train.y).tolist()))
    _require(not missing, f"{name}: the training split has no sample of class(es) {missing}")
    return splits
