"""The course's ``datasets``: corenn's data sets served as the course's shuffled mini-batches.

The splits are corenn's own (Iris embedded, 105 / 15 / 30; MNIST from the data root, see
:mod:`corenn.data.download`, 55,000 / 5,000 / 10,000). Iris features are standardised with
the training split's statistics; MNIST images come as NHWC ``(n, 28, 28, 1)`` scaled to
[0, 1], as the course has them. Targets are one-hot.
"""

import math

import attrs

import corenn
from corenn.course._random import global_state_generator
from corenn.data.loader import batch_indices, prepare
from corenn.data.splits import Split
from corenn.errors import ConfigError
from corenn.run.config import is_positive_integer

# The course's data sets and how corenn standardises their inputs for it.
STANDARDIZE = {"iris": "feature", "mnist": "none"}


class Data:
    """One split as the course samples it: ``samples_per_epoch`` mini-batches per pass, drawn
    one at a time by ``sample()``, in a new random order (from numpy's global state) each pass."""

    def __init__(self, data, labels, batch_size, out_dim):
        self.data_ = data
        self.labels = labels
        self.batch_size = batch_size
        self.out_dim = out_dim
        self.n_samples = len(data)
        self.samples_per_epoch = math.ceil(self.n_samples / batch_size)
        self.iteration = 0
        self._batches = []

    def sample(self):
        """The next mini-batch ``(X, Y)``; the last of a pass may be smaller."""
        if self.iteration == 0:
            self._batches = batch_indices(self.n_samples, self.batch_size, global_state_generator())
        index = self._batches[self.iteration]
        self.iteration = (self.iteration + 1) % self.samples_per_epoch
        return self.data_[index], self.labels[index]

    def reset(self):
        """Start a new pass (in a new order) at the next ``sample()``."""
        self.iteration = 0


class Dataset:
    """The ``train``, ``validate`` and ``test`` parts of a data set, and ``out_dim``, its classes."""

    def __init__(self, prepared, batch_size):
        self.batch_size = batch_size
        self.out_dim = prepared.n_classes
        self.class_names = prepared.class_names
        self.train = Data(prepared.train.X, prepared.train.Y, batch_size, self.out_dim)
        self.validate = Data(prepared.val.X, prepared.val.Y, batch_size, self.out_dim)
        self.test = Data(prepared.test.X, prepared.test.Y, batch_size, self.out_dim)
        self.n_training = self.train.n_samples
        self.n_validation = self.validate.n_samples


def _first(split, n_samples):
    return split if n_samples is None else Split(split.X[:n_samples], split.y[:n_samples])


def initialize_dataset(name, batch_size=50, *, max_samples=None):
    """The data set the course calls ``name`` (``"iris"`` or ``"mnist"``) in mini-batches of ``batch_size``.

    ``max_samples`` (corenn's addition, for quick runs) keeps only the first that many samples of
    each split; the splits stay fixed, so a smaller run sees a subset of the same data.
    """
    if name not in STANDARDIZE:
        raise ConfigError(f"unknown dataset {name!r}; the course's data sets are: {', '.join(STANDARDIZE)}")
    if not is_positive_integer(batch_size):
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
    if max_samples is not None and not is_positive_integer(max_samples):
        raise ConfigError(f"max_samples must be a positive integer or None (every sample), got {max_samples!r}")
    batch_size, max_samples = int(batch_size), None if max_samples is None else int(max_samples)
    splits = corenn.create("dataset", name)
    splits = attrs.evolve(
        splits,
        train=_first(splits.train, max_samples),
        val=_first(splits.val, max_samples),
        test=_first(splits.test, max_samples),
        standardize=STANDARDIZE[name],
    )
    return Dataset(prepare(splits), batch_size)
