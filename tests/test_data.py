"""Data: the fixed, stratified Iris split, standardisation fitted on train only, one-hot, batches."""

import numpy as np
import pytest

import corenn.data.iris
from corenn.data.iris import CLASS_NAMES, load_iris, read_iris_table
from corenn.data.loader import Standardizer, batch_indices, iterate_batches, one_hot, prepare
from corenn.data.splits import DatasetSplits, Split
from corenn.errors import DataError
from corenn.run.train import train


def test_iris_table_has_150_rows_of_4_features_and_50_per_class():
    features, labels = read_iris_table()
    assert features.shape == (150, 4) and features.dtype == np.float64
    np.testing.assert_array_equal(np.bincount(labels), [50, 50, 50])
    assert np.all(features > 0) and np.all(features < 10)  # centimetres


def test_iris_split_is_105_15_30_and_stratified():
    splits = load_iris()
    assert (len(splits.train), len(splits.val), len(splits.test)) == (105, 15, 30)
    np.testing.assert_array_equal(np.bincount(splits.train.y), [35, 35, 35])
    np.testing.assert_array_equal(np.bincount(splits.val.y), [5, 5, 5])
    np.testing.assert_array_equal(np.bincount(splits.test.y), [10, 10, 10])
    assert splits.n_classes == 3 and splits.class_names == CLASS_NAMES and splits.input_shape == (4,)


def test_iris_splits_are_disjoint_and_cover_every_row():
    features, _ = read_iris_table()
    splits = load_iris()
    rows = np.concatenate([splits.train.X, splits.val.X, splits.test.X])
    # Iris has a few duplicate flowers, so compare multisets of rows, not sets.
    np.testing.assert_array_equal(
        np.unique(rows, axis=0, return_counts=True)[1], np.unique(features, axis=0, return_counts=True)[1]
    )
    assert len(rows) == 150


def test_iris_split_is_the_same_on_every_call():
    first, second = load_iris(), load_iris(data_dir="/ignored")
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(first, name).X, getattr(second, name).X)
        np.testing.assert_array_equal(getattr(first, name).y, getattr(second, name).y)


def test_standardisation_is_fitted_on_the_training_split_only():
    splits = load_iris()
    data = prepare(splits)
    np.testing.assert_allclose(data.train.X.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(data.train.X.std(axis=0), 1.0, rtol=1e-12)
    mean, std = splits.train.X.mean(axis=0), splits.train.X.std(axis=0)
    np.testing.assert_allclose(data.val.X, (splits.val.X - mean) / std, rtol=1e-12)
    np.testing.assert_allclose(data.test.X, (splits.test.X - mean) / std, rtol=1e-12)
    # Statistics of the held-out data would make these exactly 0 / 1; the training ones do not.
    assert not np.allclose(data.test.X.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_array_equal(data.standardizer.mean, mean)


def test_a_constant_feature_is_centred_not_divided_by_zero():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]])
    standardizer = Standardizer.fit(X, "feature")
    out = standardizer.transform(X, np.float64)
    np.testing.assert_array_equal(out[:, 1], 0.0)
    np.testing.assert_allclose(out[:, 0], [-1.224744871391589, 0.0, 1.224744871391589])


def test_channel_standardisation_uses_one_mean_per_channel():
    X = np.random.default_rng(0).uniform(0, 255, size=(6, 3, 3, 2))
    X[..., 1] += 100
    standardizer = Standardizer.fit(X, "channel", scale=255.0)
    assert standardizer.mean.shape == (2,)
    out = standardizer.transform(X, np.float32)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.reshape(-1, 2).mean(axis=0), 0.0, atol=1e-5)


def test_prepared_targets_are_one_hot_of_the_labels_in_the_requested_dtype():
    for dtype in (np.float64, np.float32):
        data = prepare(load_iris(), np.dtype(dtype).name)
        for split in (data.train, data.val, data.test):
            assert split.X.dtype == dtype and split.Y.dtype == dtype
            assert split.Y.shape == (len(split), 3)
            np.testing.assert_array_equal(split.Y.sum(axis=1), 1.0)
            np.testing.assert_array_equal(split.Y.argmax(axis=1), split.labels)


def test_one_hot_by_hand():
    np.testing.assert_array_equal(one_hot(np.array([2, 0, 1, 2]), 3), [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])


@pytest.mark.parametrize(("n_samples", "batch_size"), [(105, 25), (10, 3), (7, 7), (5, 100)])
def test_batch_indices_cover_every_sample_once_per_epoch(n_samples, batch_size):
    rng = np.random.default_rng(0)
    epochs = [batch_indices(n_samples, batch_size, rng) for _ in range(3)]
    for batches in epochs:
        np.testing.assert_array_equal(np.sort(np.concatenate(batches)), np.arange(n_samples))
        assert all(len(batch) == batch_size for batch in batches[:-1])
        assert 1 <= len(batches[-1]) <= batch_size
        assert len(batches) == -(-n_samples // batch_size)
    if n_samples > batch_size:
        assert not np.array_equal(np.concatenate(epochs[0]), np.concatenate(epochs[1])), "each epoch reshuffles"


def test_batch_indices_without_a_generator_keep_the_order():
    np.testing.assert_array_equal(np.concatenate(batch_indices(10, 4)), np.arange(10))


def test_iterate_batches_yields_matching_inputs_and_targets():
    data = prepare(load_iris())
    batches = list(iterate_batches(data.train, 40, np.random.default_rng(1)))
    assert [len(X) for X, _ in batches] == [40, 40, 25]
    X = np.concatenate([X for X, _ in batches])
    Y = np.concatenate([Y for _, Y in batches])
    order = np.lexsort(X.T)
    reference = np.lexsort(data.train.X.T)
    np.testing.assert_array_equal(X[order], data.train.X[reference])
    np.testing.assert_array_equal(Y[order], data.train.Y[reference])


def poisoned_iris(train_X=None, val_X=None, train_y=None):
    splits = load_iris()
    return DatasetSplits(
        name="iris",
        train=Split(splits.train.X if train_X is None else train_X, splits.train.y if train_y is None else train_y),
        val=Split(splits.val.X if val_X is None else val_X, splits.val.y),
        test=splits.test,
        class_names=splits.class_names,
    )


@pytest.mark.filterwarnings("error")  # reported before any statistic is computed from them
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_inputs_are_a_data_error_naming_split_and_row(bad):
    X = load_iris().train.X.copy()
    X[17, 2] = bad
    with pytest.raises(
        DataError, match=r"the train split holds 1 NaN or infinite input value\(s\) in 1 sample\(s\) \(first: row 17\)"
    ):
        prepare(poisoned_iris(train_X=X))
    val_X = load_iris().val.X.copy()
    val_X[[3, 4]] = bad
    with pytest.raises(DataError, match=r"the val split holds 8 NaN .* in 2 sample\(s\) \(first: row 3\)"):
        prepare(poisoned_iris(val_X=val_X))


@pytest.mark.parametrize("label", [-1, 3, 7])
def test_labels_out_of_range_are_a_data_error(label):
    y = load_iris().train.y.copy()
    y[0] = label
    with pytest.raises(DataError, match=r"the train split has labels outside 0\.\.2"):
        prepare(poisoned_iris(train_y=y))


@pytest.mark.parametrize("empty", ["train", "val"])
def test_an_empty_train_or_val_split_is_a_data_error(empty):
    splits = load_iris()
    nothing = Split(np.zeros((0, 4)), np.zeros(0, dtype=np.int64))
    parts = {"train": splits.train, "val": splits.val} | {empty: nothing}
    broken = DatasetSplits("iris", parts["train"], parts["val"], None, splits.class_names)
    with pytest.raises(DataError, match=f"the {empty} split is empty"):
        prepare(broken)


def test_split_with_mismatched_lengths_is_refused():
    with pytest.raises(ValueError, match="3 inputs but 2 labels"):
        Split(np.zeros((3, 2)), [0, 1])


def test_training_on_poisoned_data_stops_before_any_record(tmp_path, monkeypatch):
    """The registry resolves ``corenn.data.iris:load_iris`` when the run is built."""
    X = load_iris().train.X.copy()
    X[0, 0] = np.nan
    monkeypatch.setattr(corenn.data.iris, "load_iris", lambda data_dir=None: poisoned_iris(train_X=X))
    config = {
        "name": "poisoned",
        "epochs": 1,
        "dataset": {"name": "iris"},
        "layers": [{"name": "fully_connected", "n_out": "auto", "activation": "softmax"}],
    }
    with pytest.raises(DataError, match="the train split holds 1 NaN"):
        train(config, out_dir=tmp_path, verbose=False)
    assert not (tmp_path / "poisoned").exists()
