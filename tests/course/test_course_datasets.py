"""The course's data sets over corenn's splits."""

import math
import re

import numpy as np
import pytest

from corenn.course.datasets import initialize_dataset
from corenn.errors import ConfigError

from course_markers import needs_mnist


def test_iris_parts():
    dataset = initialize_dataset("iris", batch_size=25)
    assert dataset.out_dim == 3
    assert (dataset.train.n_samples, dataset.validate.n_samples, dataset.test.n_samples) == (105, 15, 30)
    assert dataset.train.samples_per_epoch == math.ceil(105 / 25)
    assert dataset.validate.samples_per_epoch == 1


def test_sampling_a_pass_covers_every_training_sample_once_with_one_hot_targets():
    dataset = initialize_dataset("iris", batch_size=25)
    train = dataset.train
    rows, sizes = [], []
    for _ in range(train.samples_per_epoch):
        X, Y = train.sample()
        assert X.shape[1:] == (4,) and Y.shape == (len(X), 3)
        np.testing.assert_array_equal(Y.sum(axis=1), 1.0)
        rows.extend(map(tuple, np.round(X, 12)))
        sizes.append(len(X))
    assert sizes == [25, 25, 25, 25, 5]
    assert sorted(rows) == sorted(map(tuple, np.round(train.data_, 12)))
    assert train.iteration == 0  # the next sample() starts a new pass


def test_each_pass_is_reshuffled_from_numpys_global_state():
    dataset = initialize_dataset("iris", batch_size=105)
    np.random.seed(0)
    first_pass, _ = dataset.train.sample()
    second_pass, _ = dataset.train.sample()
    assert not np.array_equal(first_pass, second_pass)
    np.random.seed(0)
    again, _ = dataset.train.sample()
    np.testing.assert_array_equal(again, first_pass)


def test_iris_is_standardised_with_the_training_statistics():
    X = initialize_dataset("iris").train.data_
    np.testing.assert_allclose(X.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(X.std(axis=0), 1.0)


def test_dataset_errors():
    with pytest.raises(ConfigError, match="the course's data sets are: iris, mnist"):
        initialize_dataset("cifar100")
    with pytest.raises(ConfigError, match="batch_size must be a positive integer"):
        initialize_dataset("iris", batch_size=0)
    with pytest.raises(ConfigError, match="max_samples"):
        initialize_dataset("iris", max_samples=0)
    for wrong in (True, 2.0, np.int64(0)):
        with pytest.raises(ConfigError, match=f"^batch_size must be a positive integer, got {re.escape(repr(wrong))}$"):
            initialize_dataset("iris", batch_size=wrong)


def test_numpy_integers_are_integers():
    """np.arange gives numpy integers; they were refused as no integer."""
    dataset = initialize_dataset("iris", batch_size=np.int64(25), max_samples=np.int32(50))
    assert dataset.batch_size == 25 and type(dataset.batch_size) is int


@needs_mnist
def test_mnist_images_are_nhwc_in_the_unit_interval():
    dataset = initialize_dataset("mnist", batch_size=32, max_samples=100)
    assert dataset.out_dim == 10
    X, Y = dataset.train.sample()
    assert X.shape == (32, 28, 28, 1) and Y.shape == (32, 10)
    assert X.min() >= 0.0 and X.max() <= 1.0 and X.max() > 0.99
    assert (dataset.train.n_samples, dataset.validate.n_samples, dataset.test.n_samples) == (100, 100, 100)
