"""The CIFAR-10 reader: real batches from ``$CORENN_DATA_DIR``, and batches that must be refused."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import corenn
from corenn.data import cifar10
from corenn.errors import DataError

DATA_ROOT = Path(os.environ["CORENN_DATA_DIR"]) if os.environ.get("CORENN_DATA_DIR") else None
needs_cifar = pytest.mark.skipif(
    DATA_ROOT is None or not (DATA_ROOT / cifar10.FOLDER / cifar10.TEST_BATCH).is_file(),
    reason="CIFAR-10 batches not under $CORENN_DATA_DIR",
)


pytestmark = pytest.mark.usefixtures("no_network")  # any download attempt fails, as offline


@needs_cifar
def test_real_batches_give_the_published_labels_pixels_and_splits():
    splits = corenn.create("dataset", "cifar10", data_dir=str(DATA_ROOT))
    assert splits.train.X.shape == (45_000, 32, 32, 3) and splits.train.X.dtype == np.uint8
    assert splits.val.X.shape == (5_000, 32, 32, 3) and splits.test.X.shape == (10_000, 32, 32, 3)
    # SOURCES.md: data_batch_1's first labels and row 0's first red values; test_batch's first labels.
    assert splits.train.y[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert splits.train.X[0, 0, :3, 0].tolist() == [59, 43, 50]
    assert splits.test.y[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert np.bincount(splits.test.y).tolist() == [1000] * 10
    all_train = np.concatenate([splits.train.y, splits.val.y])
    assert np.bincount(all_train).tolist() == [5000] * 10
    assert splits.n_classes == 10 and splits.standardize == "channel" and splits.scale == 255.0


class _WritesMarker:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_batch_crafted_to_run_code_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _WritesMarker(marker), b"labels": [0]}, protocol=2))
    with pytest.raises(DataError, match="not a CIFAR-10 batch.*refusing to load"):
        cifar10.read_batch(path)
    assert not marker.exists()


BAD_BATCHES = {
    "garbage": (lambda: b"\x80\x02garbage", "not a CIFAR-10 batch"),
    "no data key": (lambda: pickle.dumps({b"labels": [0]}, protocol=2), "lacks the 'data' and 'labels'"),
    "wrong shape": (
        lambda: pickle.dumps({b"data": np.zeros((3, 3), np.uint8), b"labels": [0] * 3}, protocol=2),
        "should be uint8 of shape",
    ),
    "label out of range": (
        lambda: pickle.dumps({b"data": np.zeros((10_000, 3072), np.uint8), b"labels": [12] * 10_000}, protocol=2),
        "integers in 0..9",
    ),
}


@pytest.mark.parametrize("case", BAD_BATCHES)
def test_damaged_batches_are_data_errors(tmp_path, case):
    make_content, message = BAD_BATCHES[case]
    path = tmp_path / "data_batch_1"
    path.write_bytes(make_content())
    with pytest.raises(DataError, match=message):
        cifar10.read_batch(path)


def test_missing_batches_offline_name_the_files_and_the_folder(tmp_path):
    with pytest.raises(DataError) as caught:
        cifar10.load_cifar10(tmp_path)
    message = str(caught.value)
    assert str(tmp_path / cifar10.FOLDER) in message
    assert "data_batch_1" in message and "test_batch" in message
    assert "cifar-10-python.tar.gz" in message and "CORENN_DATA_DIR" in message
