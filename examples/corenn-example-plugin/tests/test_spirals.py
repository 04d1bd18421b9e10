"""The spirals data set."""

import numpy as np
import pytest

from corenn.errors import ConfigError
from corenn.testing import check_dataset_conformance

from corenn_example.spirals import load_spirals


def test_conforms_and_splits_70_15_15():
    splits = check_dataset_conformance(load_spirals, classes=4, points=50)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (140, 30, 30)
    assert splits.class_names == ("arm 0", "arm 1", "arm 2", "arm 3")


def test_the_same_seed_gives_the_same_points():
    np.testing.assert_array_equal(load_spirals(seed=3).train.X, load_spirals(seed=3).train.X)
    assert not np.array_equal(load_spirals(seed=3).train.X, load_spirals(seed=4).train.X)


@pytest.mark.parametrize("options", [{"classes": 1}, {"points": 5}, {"noise": -1.0}], ids=repr)
def test_options_are_checked(options):
    with pytest.raises(ConfigError):
        load_spirals(**options)


def test_a_run_trains_on_it():
    from pathlib import Path

    from corenn.run.train import train

    config = Path(__file__).resolve().parents[1] / "spirals.toml"
    assert train(config, record=False, verbose=False)["test_accuracy"] > 0.8
