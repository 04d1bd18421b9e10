"""The spirals data set: points on interleaved spirals, one class per arm, made from a seed.

A data set is registered as a factory ``load_spirals(data_dir=None, **options)`` returning
:class:`corenn.data.splits.DatasetSplits`: fixed train / validation / test splits of raw numpy
arrays, the class names, and how inputs are standardised. corenn does the rest the same way for
every data set (standardisation fitted on the training split, one-hot labels, batches).
``data_dir`` is where files would be (``--data-dir``); these points are computed, so it is unused.
"""

import numbers

import numpy as np

from corenn.data.splits import DatasetSplits, Split
from corenn.errors import ConfigError


def load_spirals(data_dir=None, classes=3, points=100, noise=0.2, seed=0):
    """``classes`` spiral arms of ``points`` points each (2-d, with Gaussian ``noise``), shuffled
    and split 70 / 15 / 15 % into train, validation and test; the same ``seed`` gives the same
    points."""
    for option, value, low in (("classes", classes, 2), ("points", points, 10)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
            raise ConfigError(f"{option} must be an integer >= {low}, got {value!r}")
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not 0 <= noise < 10:
        raise ConfigError(f"noise must be a number in [0, 10), got {noise!r}")
    rng = np.random.default_rng(seed)
    radius = np.tile(np.linspace(0.1, 1.0, points), classes)
    labels = np.repeat(np.arange(classes), points)
    angle = labels * 2 * np.pi / classes + radius * 4 + rng.normal(scale=noise, size=labels.shape)
    X = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    order = rng.permutation(len(labels))
    X, labels = X[order], labels[order]
    train_end, val_end = int(0.7 * len(labels)), int(0.85 * len(labels))
    return DatasetSplits(
        name="spirals",
        train=Split(X[:train_end], labels[:train_end]),
        val=Split(X[train_end:val_end], labels[train_end:val_end]),
        test=Split(X[val_end:], labels[val_end:]),
        class_names=tuple(f"arm {index}" for index in range(classes)),
        standardize="feature",
        inputs={"kind": "table", "features": ["x", "y"], "label": "arm"},
    )
