"""MNIST and Fashion-MNIST: 28x28 grey images of 10 classes, read from gzipped IDX files.

Files are torchvision's: ``<root>/MNIST/raw/`` and ``<root>/FashionMNIST/raw/``, each holding
``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``
and ``t10k-labels-idx1-ubyte.gz`` (the root is chosen as :mod:`corenn.data.download` says;
missing files are downloaded and MD5-checked). Files already there are read with bounded memory
and checked in the order that gives the most telling message: the IDX header (magic number and
dimensions) before anything else is decompressed, so a small file claiming billions of images is
refused after 16 bytes; then the length of what follows, read into an array of the expected size
and never further than one byte past it; then the label values; then the MD5 of each ``.gz``
against the official one (about 30 ms), which catches what the structure cannot, such as one
changed pixel in an otherwise valid file.

Splits: the official training set's **last** ``val_size`` images (default 5,000: indices
55,000-59,999) validate and the others train (``val_size = 0``: all 60,000 train, no
validation split); the official 10,000 test images are the test split. The
split is fixed, with no random draw, so every run and every tool sees the same validation set.
Images come as uint8 ``(m, 28, 28, 1)`` (NHWC, one channel); the loader divides by 255 and
standardises per channel with the training split's statistics.

Decoded arrays are kept in memory (read-only) for the life of the process, so loading a data
set twice costs one decompression; nothing is ever written beside the raw files.
"""

import gzip
import zlib
from pathlib import Path

import numpy as np

from corenn.data.download import RemoteFile, ensure_files, md5_of, resolve_data_dir
from corenn.data.loader import check_val_size, split_off_validation
from corenn.data.splits import DatasetSplits, Split
from corenn.errors import DataError

IMAGE_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABEL_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
IMAGE_SIZE = (28, 28)
N_TRAIN_OFFICIAL = 60_000
N_TEST = 10_000
N_VALIDATION = 5_000
N_CLASSES = 10

MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
FASHION_MNIST_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

MNIST_FILES = {
    "train_images": RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
    "train_labels": RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
    "test_images": RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
    "test_labels": RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
}
FASHION_MNIST_FILES = {
    "train_images": RemoteFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    "train_labels": RemoteFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
    "test_images": RemoteFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
    "test_labels": RemoteFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
}
MNIST_CLASSES = tuple(str(digit) for digit in range(N_CLASSES))
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

_decoded = {}  # (path, size, mtime_ns) -> read-only array
_verified = set()  # (path, size, mtime_ns) of files whose MD5 matched
_CHUNK_BYTES = 1 << 20


def load_mnist(data_dir=None, val_size=N_VALIDATION):
    """MNIST's fixed train (60,000 - ``val_size``) / val (``val_size``, default 5,000) / test (10,000) splits."""
    return _load("mnist", "MNIST", MNIST_FILES, MNIST_MIRRORS, MNIST_CLASSES, data_dir, val_size)


def load_fashion_mnist(data_dir=None, val_size=N_VALIDATION):
    """Fashion-MNIST's fixed train (60,000 - ``val_size``) / val (``val_size``, default 5,000) / test (10,000) splits."""
    return _load(
        "fashion_mnist",
        "FashionMNIST",
        FASHION_MNIST_FILES,
        FASHION_MNIST_MIRRORS,
        FASHION_MNIST_CLASSES,
        data_dir,
        val_size,
    )


def _load(name, folder_name, files, mirrors, class_names, data_dir, val_size):
    check_val_size(val_size, N_TRAIN_OFFICIAL, name)
    folder = resolve_data_dir(data_dir) / folder_name / "raw"
    ensure_files(folder, list(files.values()), mirrors, dataset=name)
    train_images = _read_idx(folder / files["train_images"].name, IMAGE_MAGIC, (N_TRAIN_OFFICIAL, *IMAGE_SIZE))
    train_labels = _read_idx(folder / files["train_labels"].name, LABEL_MAGIC, (N_TRAIN_OFFICIAL,))
    test_images = _read_idx(folder / files["test_images"].name, IMAGE_MAGIC, (N_TEST, *IMAGE_SIZE))
    test_labels = _read_idx(folder / files["test_labels"].name, LABEL_MAGIC, (N_TEST,))
    for path, labels in ((files["train_labels"].name, train_labels), (files["test_labels"].name, test_labels)):
        if labels.max() >= N_CLASSES:
            raise DataError(f"{folder / path} holds label {int(labels.max())}; {name} labels are 0..{N_CLASSES - 1}")
    for file in files.values():
        _check_md5(folder / file.name, file.md5)
    train, val = split_off_validation(train_images[..., np.newaxis], train_labels, val_size, name)  # NHWC, one channel
    return DatasetSplits(
        name=name,
        train=train,
        val=val,
        test=Split(test_images[..., np.newaxis], test_labels),
        class_names=class_names,
        standardize="channel",
        scale=255.0,
        inputs={"kind": "image", "size": list(IMAGE_SIZE), "grayscale": True},
    )


def _file_key(path):
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def _check_md5(path, expected_md5):
    """Refuse a file whose structure is sound but whose bytes are not the official ones."""
    key = _file_key(path)
    if key in _verified:
        return
    actual = md5_of(path)
    if actual != expected_md5:
        raise DataError(
            f"{path} is a valid IDX file but not the official one: its MD5 is {actual}, expected {expected_md5} "
            "(a changed pixel or label); delete it to download it again"
        )
    _verified.add(key)


def _read_idx(path, magic, shape):
    """The uint8 array of a gzipped IDX file, checked to have ``magic`` and exactly ``shape``.

    Memory stays bounded by the expected array whatever the file claims: the header is checked
    against ``magic`` and ``shape`` before the rest is decompressed, the rest is read into an
    array of the expected size, and at most one byte beyond it is decompressed to prove the
    file ends there (a gzip bomb is refused after at most a megabyte of output).
    """
    path = Path(path)
    key = _file_key(path)
    if key in _decoded:
        return _decoded[key]
    try:
        with gzip.open(path, "rb") as stream:
            array = _read_checked(stream, path, magic, shape)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path} is not a readable gzip file ({type(exc).__name__}: {exc}); delete it to download it again"
        ) from exc
    array.flags.writeable = False  # callers share the cache: none may change it
    _decoded[key] = array
    return array


def _read_checked(stream, path, magic, shape):
    header_bytes = 4 * (1 + len(shape))
    header = stream.read(header_bytes)
    if len(header) < header_bytes:
        raise DataError(f"{path} is too short for an IDX header: {len(header)} bytes, expected at least {header_bytes}")
    fields = np.frombuffer(header, dtype=">u4")
    if int(fields[0]) != magic:
        raise DataError(f"{path} has IDX magic number {int(fields[0])}, expected {magic}: not the file it should be")
    found_shape = tuple(int(n) for n in fields[1:])
    if found_shape != shape:
        raise DataError(f"{path} holds an IDX array of shape {found_shape}, expected {shape}")
    array = np.empty(shape, dtype=np.uint8)
    view = memoryview(array.reshape(-1))
    filled = 0
    while filled < len(view):
        got = stream.readinto(view[filled : filled + _CHUNK_BYTES])
        if not got:
            break
        filled += got
    expected_bytes = header_bytes + len(view)
    if filled < len(view):
        raise DataError(
            f"{path} has {header_bytes + filled} bytes after decompression, expected {expected_bytes} for shape {shape}: "
            f"truncated; delete it to download it again"
        )
    if stream.read(1):
        raise DataError(
            f"{path} has more than {expected_bytes} bytes after decompression, expected exactly {expected_bytes} "
            f"for shape {shape}: padded; delete it to download it again"
        )
    return array
