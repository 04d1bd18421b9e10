"""A plugin (loaded through the ``corenn.plugins`` entry-point group by the data tests) that
registers copies of Iris with one poisoned input value: NaN or infinity, in the training or
the validation split. It is the template of a third-party dataset plugin, turned bad."""

import numpy as np

from corenn import hookimpl
from corenn.data.iris import load_iris
from corenn.data.splits import DatasetSplits, Split

POISONED_ROW = 3


def _poisoned(split_name, value):
    def load(data_dir=None):
        splits = load_iris(data_dir)
        split = getattr(splits, split_name)
        X = split.X.copy()
        X[POISONED_ROW, 2] = value
        parts = {name: getattr(splits, name) for name in ("train", "val", "test")}
        parts[split_name] = Split(X, split.y)
        return DatasetSplits(
            name=f"iris_{split_name}_{value}", class_names=splits.class_names, standardize=splits.standardize, **parts
        )

    return load


@hookimpl
def corenn_register_components(register):
    register("dataset", "iris_nan_in_train", _poisoned("train", np.nan))
    register("dataset", "iris_inf_in_train", _poisoned("train", np.inf))
    register("dataset", "iris_inf_in_val", _poisoned("val", -np.inf))
