"""Fisher's Iris data set, embedded in the package so that ``corenn train`` works offline.

150 flowers, 4 measurements (cm), 3 species. The split is fixed and stratified: within each
species, a permutation from a fixed seed (independent of the run's seed) gives 35 training, 5
validation and 10 test rows, so every run sees the same 105 / 15 / 30 split.
"""

import csv
import importlib.resources

import numpy as np

from corenn.data.splits import DatasetSplits, Split

CLASS_NAMES = ("setosa", "versicolor", "virginica")
FEATURES = ("sepal_length", "sepal_width", "petal_length", "petal_width")
SPLIT_SIZES_PER_CLASS = (35, 5, 10)
SPLIT_SEED = 20240601


def read_iris_table():
    """The 150 rows as (features float64 (150, 4), labels int64 (150,))."""
    text = (importlib.resources.files("corenn") / "data" / "iris.csv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    features = np.array([[float(row[key]) for key in list(row)[:4]] for row in rows])
    labels = np.array([CLASS_NAMES.index(row["species"]) for row in rows])
    return features, labels


def load_iris(data_dir=None):
    """Iris split 105 / 15 / 30 (train / validation / test), stratified and fixed.

    ``data_dir`` is accepted for a uniform dataset signature and ignored: the data is embedded.
    """
    features, labels = read_iris_table()
    rng = np.random.default_rng(SPLIT_SEED)
    parts = ([], [], [])
    for label in range(len(CLASS_NAMES)):
        rows = rng.permutation(np.flatnonzero(labels == label))
        bounds = np.cumsum(SPLIT_SIZES_PER_CLASS)[:-1]
        for part, chunk in zip(parts, np.split(rows, bounds), strict=True):
            part.append(chunk)
    train, val, test = (np.sort(np.concatenate(part)) for part in parts)
    return DatasetSplits(
        name="iris",
        train=Split(features[train], labels[train]),
        val=Split(features[val], labels[val]),
        test=Split(features[test], labels[test]),
        class_names=CLASS_NAMES,
        standardize="feature",
        inputs={"kind": "table", "features": list(FEATURES), "label": "species"},
    )
