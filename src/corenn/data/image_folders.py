"""The ``image_folder`` data set: pictures sorted into one folder per class (torchvision's
``ImageFolder`` layout), decoded with Pillow into NHWC uint8 arrays.

Layout: ``root/<class>/*.png|jpg|...``, split into train / validation / test; or
``root/train/<class>/...`` with an optional ``root/test/<class>/...`` as the test split.

Config (``[dataset]``)::

    name = "image_folder"
    root = "photos"
    size = [64, 64]        # [height, width] every image is resized to (bilinear); without it
                           # all images must have one size
    grayscale = false      # true: one grey channel; false: RGB
    val_size = 0.1         # a fraction or a number of images (0: no validation split)
    test_size = 0.2        # only without root/test
    split_seed = 20240601
    cache = true           # keep the decoded arrays (see below)

Class names are the folder names, sorted. Pixels are divided by 255 and standardised per
channel with the training split's statistics.

**Decode cache.** Decoding is the slow part, so the decoded arrays of a folder are kept in
``$CORENN_CACHE_DIR/image_folder/`` (default ``~/.cache/corenn/image_folder/``), one ``.npz``
per folder, size and colour mode, named by a digest of the folder's path, every image's
relative path, byte size and modification time, ``size`` and ``grayscale``. A second run over
unchanged files reads that file instead of decoding; adding, removing, replacing or touching an
image changes the digest, so the folder is decoded again. Deleting the folder is always safe.
"""

import hashlib
import os
from pathlib import Path

import numpy as np

from corenn.data.user_splits import DEFAULT_VAL_SIZE, SPLIT_SEED, make_splits
from corenn.errors import ConfigError, CorennError, CorruptFileError, DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
CACHE_ENV = "CORENN_CACHE_DIR"
DEFAULT_CACHE_DIR = Path("~/.cache/corenn")
CACHE_FORMAT = 1  # bump when the cached arrays change meaning


def cache_dir():
    """Where decoded image folders are kept: ``$CORENN_CACHE_DIR/image_folder`` or ``~/.cache/corenn/image_folder``."""
    return Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR).expanduser() / "image_folder"


def check_size(size):
    """``size`` as a ``(height, width)`` tuple of positive integers, or None."""
    if size is None:
        return None
    if (
        not isinstance(size, (list, tuple))
        or len(size) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in size)
    ):
        raise ConfigError(f"dataset.size must be [height, width] in pixels, two positive integers, got {size!r}")
    return tuple(size)


def is_image_file(path):
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def decode_image(path, size=None, grayscale=False):
    """One image as a uint8 array ``(h, w, channels)``: grey (1 channel) or RGB (3), resized to
    ``size = (height, width)`` when given. An unreadable file is a DataError naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = image.convert("L" if grayscale else "RGB")
            if size is not None and image.size != (size[1], size[0]):
                image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
            array = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot read image {path}: {exc}; remove or replace the file") from None
    return array[..., np.newaxis] if array.ndim == 2 else array


def decode_images(paths, size=None, grayscale=False):
    """NHWC uint8 array of ``paths``; without ``size`` all must share one size, or the error names two that differ."""
    if not paths:
        channels = 1 if grayscale else 3
        return np.zeros((0, *(size or (1, 1)), channels), dtype=np.uint8)
    first = decode_image(paths[0], size, grayscale)
    images = np.empty((len(paths), *first.shape), dtype=np.uint8)
    images[0] = first
    for index in range(1, len(paths)):
        image = decode_image(paths[index], size, grayscale)
        if image.shape != first.shape:
            raise DataError(
                f"images differ in size: {paths[0]} is {first.shape[1]}x{first.shape[0]} (width x height), "
                f"{paths[index]} is {image.shape[1]}x{image.shape[0]}; set dataset.size = [height, width] to resize them all"
            )
        images[index] = image
    return images


def list_class_folders(folder, what):
    """``(class names, {class: [image paths]})`` of ``folder``'s sub-folders, sorted by name."""
    if not folder.is_dir():
        raise DataError(f"{what} {folder} does not exist or is not a folder")
    classes = sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if not classes:
        raise DataError(
            f"{what} {folder} has no class folders; put the images of each class in a folder of its own "
            f"({folder}/<class>/image.png)"
        )
    files = {}
    for name in classes:
        images = sorted(path for path in (folder / name).rglob("*") if path.is_file() and is_image_file(path))
        if not images:
            raise DataError(
                f"class folder {folder / name} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                "add images or remove the folder"
            )
        files[name] = images
    return classes, files


def _cache_key(folder, paths, size, grayscale):
    digest = hashlib.sha256(f"{CACHE_FORMAT}|{folder.resolve()}|{size}|{grayscale}".encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"|{path.relative_to(folder)}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


def load_images(folder, paths, size, grayscale, use_cache=True):
    """:func:`decode_images` of ``paths`` (all under ``folder``), through the decode cache."""
    if not use_cache:
        return decode_images(paths, size, grayscale)
    from corenn.files import load_arrays, save_arrays

    target = cache_dir() / f"{_cache_key(folder, paths, size, grayscale)}.npz"
    if target.is_file():
        try:
            images = load_arrays(target)["images"]
            if len(images) == len(paths) and images.dtype == np.uint8 and images.ndim == 4:
                return images
        except (CorruptFileError, KeyError, OSError):
            pass  # a damaged cache entry is decoded again and replaced
    images = decode_images(paths, size, grayscale)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        save_arrays(target, {"images": images})
    except (OSError, CorennError):
        pass  # a read-only or full cache slows the next run down, nothing more
    return images


def load_image_folder(
    data_dir=None,
    root=None,
    size=None,
    grayscale=False,
    val_size=DEFAULT_VAL_SIZE,
    test_size=None,
    split_seed=SPLIT_SEED,
    cache=True,
):
    """Train / validation / test splits of an image folder. ``data_dir`` is unused."""
    if root is None:
        raise ConfigError('dataset "image_folder" needs root = "folder" (one sub-folder of images per class)')
    size = check_size(size)
    if not isinstance(grayscale, bool):
        raise ConfigError(f"dataset.grayscale must be true or false, got {grayscale!r}")
    if not isinstance(cache, bool):
        raise ConfigError(f"dataset.cache must be true or false, got {cache!r}")
    root = Path(root)
    train_folder, test_folder = root, None
    if (root / "train").is_dir():
        train_folder = root / "train"
        test_folder = root / "test" if (root / "test").is_dir() else None
    classes, files = list_class_folders(train_folder, "image folder")
    paths, labels = _flatten(classes, files)
    X = load_images(train_folder, paths, size, grayscale, cache)
    test = None
    if test_folder is not None:
        test_classes, test_files = list_class_folders(test_folder, "test folder")
        only_test = [name for name in test_classes if name not in classes]
        if only_test:
            raise DataError(
                f"class folder(s) {', '.join(repr(n) for n in only_test)} appear only in the test folder {test_folder} "
                f"(training classes: {', '.join(classes)}); a model can only predict classes it was trained on"
            )
        test_paths, test_labels = _flatten(classes, test_files)
        X_test = load_images(test_folder, test_paths, size, grayscale, cache)
        if X_test.shape[1:] != X.shape[1:]:
            raise DataError(
                f"the test images are {X_test.shape[2]}x{X_test.shape[1]} (width x height), the training images "
                f"{X.shape[2]}x{X.shape[1]}; set dataset.size = [height, width] to resize them all"
            )
        test = (X_test, test_labels)
    return make_splits(
        "image_folder",
        X,
        labels,
        class_names=classes,
        test=test,
        val_size=val_size,
        test_size=test_size,
        split_seed=split_seed,
        standardize="channel",
        scale=255.0,
        inputs={
            "kind": "image",
            "size": [int(X.shape[1]), int(X.shape[2])],
            "grayscale": grayscale,
            "resize": size is not None,  # new images are resized to `size` too, else must have it
        },
    )


def _flatten(classes, files):
    paths, labels = [], []
    for index, name in enumerate(classes):
        for path in files.get(name, ()):
            paths.append(path)
            labels.append(index)
    return paths, np.asarray(labels, dtype=np.int64)
