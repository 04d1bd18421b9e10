"""CIFAR-10: 32x32 colour images of 10 classes, read from the "python version" batches.

Files are torchvision's: ``<root>/cifar-10-batches-py/data_batch_1`` ... ``data_batch_5`` and
``test_batch``. Missing batches are fetched as the official ``cifar-10-python.tar.gz`` (MD5
checked) and unpacked there. The batches are pickles, so they are read with an unpickler that
admits only the few numpy names an image array needs: a crafted batch file cannot run code.
Batch files already present are checked for their structure (keys, shapes, dtype, label
range), not for their MD5, so rebuilt batches holding the original pixels work too.

Splits: of the 50,000 training images the **last** ``val_size`` (default 5,000) validate and
the others train; ``val_size = 0`` trains on all 50,000 with no validation split (the trainer
then reports no val metrics), as airbench does. The official 10,000 test images are the test
split. Images come as uint8 ``(m, 32, 32, 3)``
(NHWC); the loader divides by 255 and standardises per channel with training statistics.
"""

import io
import pickle
import tarfile

import numpy as np

from corenn.data.download import RemoteFile, ensure_files, resolve_data_dir
from corenn.data.loader import check_val_size, split_off_validation
from corenn.data.splits import DatasetSplits, Split
from corenn.errors import DataError

FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
ARCHIVE = RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")
MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
IMAGES_PER_BATCH = 10_000
N_VALIDATION = 5_000
CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists, strings and numpy arrays, and refuses every other global."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR-10 batch holds only arrays")


def read_batch(path):
    """``(images uint8 (m, 32, 32, 3), labels int64 (m,))`` of one batch file, checked."""
    try:
        with open(path, "rb") as stream:
            batch = _ArrayOnlyUnpickler(io.BufferedReader(stream), encoding="bytes").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
    ) as exc:
        raise DataError(
            f"{path} is not a CIFAR-10 batch ({type(exc).__name__}: {exc}); delete it to download it again"
        ) from exc
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path} lacks the 'data' and 'labels' entries of a CIFAR-10 batch")
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.shape != (IMAGES_PER_BATCH, 3072):
        found = (getattr(data, "dtype", type(data).__name__), getattr(data, "shape", None))
        raise DataError(f"{path}: 'data' should be uint8 of shape ({IMAGES_PER_BATCH}, 3072), found {found}")
    if labels.shape != (IMAGES_PER_BATCH,) or labels.min() < 0 or labels.max() >= len(CLASS_NAMES):
        raise DataError(f"{path}: 'labels' should be {IMAGES_PER_BATCH} integers in 0..9")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def _ensure_batches(root):
    folder = root / FOLDER
    needed = (*TRAIN_BATCHES, TEST_BATCH)
    missing = [name for name in needed if not (folder / name).is_file()]
    if not missing:
        return folder
    try:
        (archive,) = ensure_files(root, [ARCHIVE], MIRRORS, dataset="cifar10")
    except DataError as exc:
        raise DataError(f"CIFAR-10 batches missing in {folder}: {', '.join(missing)}. {exc}") from exc
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(f"{FOLDER}/")]
            tar.extractall(root, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cannot unpack {archive} ({exc}); delete it to download it again") from exc
    return folder


def load_cifar10(data_dir=None, val_size=N_VALIDATION):
    """CIFAR-10's fixed splits: train (50,000 - ``val_size``), val (the last ``val_size`` of the
    training images; none when 0) and test (10,000)."""
    check_val_size(val_size, IMAGES_PER_BATCH * len(TRAIN_BATCHES), "cifar10")
    folder = _ensure_batches(resolve_data_dir(data_dir))
    parts = [read_batch(folder / name) for name in TRAIN_BATCHES]
    train_images = np.concatenate([images for images, _ in parts])
    train_labels = np.concatenate([labels for _, labels in parts])
    train, val = split_off_validation(train_images, train_labels, val_size, "cifar10")
    test_images, test_labels = read_batch(folder / TEST_BATCH)
    return DatasetSplits(
        name="cifar10",
        train=train,
        val=val,
        test=Split(test_images, test_labels),
        class_names=CLASS_NAMES,
        standardize="channel",
        scale=255.0,
        inputs={"kind": "image", "size": [32, 32], "grayscale": False},
    )
