"""The ``image_folder`` data set: pictures sorted into one folder per class (torchvision's
``ImageFolder`` layout), decoded with Pillow into NHWC uint8 arrays.

Layout: ``root/<class>/*.png|jpg|...``, split into train / validation / test; or
``root/train/<class>/...`` with an optional ``root/test/<class>/...`` as the test split.

Config (``[dataset]``)::

    name = "image_folder"
    root = "photos"
    size = [64, 64]        # [height, width] every image is resized to (bilinear); without it
                           # all images must have one size
    grayscale = true       # one grey channel; false: RGB; left out: grey when every image is
                           # (its mode is a grey one), else RGB, and the run says which
    val_size = 0.1         # a fraction or a number of images (0: no validation split)
    test_size = 0.2        # only without root/test
    split_seed = 20240601
    cache = true           # keep the decoded arrays (see below)

Class names are the folder names, sorted. Pixels become 8-bit intensities (0..255): 16-bit
images (PNG's and TIFF's ``I;16``) are divided by 257, float images (``F``) must hold values in
[0, 1] and are multiplied by 255, so every image means the same brightness whatever its depth;
then they are divided by 255 and standardised per channel with the training split's statistics.

**A bounded reader.** Image files are untrusted input. Each is opened only if it is a regular
file (a FIFO would hang the reader), and decoded only by the Pillow plugins of
:data:`IMAGE_FORMATS`, whatever its suffix: a PostScript file named ``photo.png`` is refused,
never handed to Ghostscript. Every image's header is read first; an image of more than
:data:`MAX_IMAGE_PIXELS` pixels, or a folder whose decoded images would not fit the memory left
(see :func:`decoded_bytes_limit`), is refused with one line before anything is decoded.
Pillow's warnings (EXIF, palettes) are counted and said once per kind, not printed raw.

**Decode cache.** Decoding is the slow part, so the decoded arrays of a folder are kept in
``$CORENN_CACHE_DIR/image_folder/`` (default ``~/.cache/corenn/image_folder/``), one ``.npz``
per folder, size and colour mode, named by a digest of the folder's path, ``size``, the colour
mode, and every image's relative path and content (a SHA-256 of its bytes: reading a file is
far cheaper than decoding it). A second run over unchanged files reads that file instead of
decoding; adding, removing, renaming or changing an image changes the digest (even a change
that keeps the file's size and modification time), so the folder is decoded again. Deleting
the folder is always safe.
"""

import contextlib
import hashlib
import os
import re
import warnings
from pathlib import Path

import attrs
import numpy as np

from corenn.data.user_splits import (
    DEFAULT_VAL_SIZE,
    SPLIT_OPTION_DEFAULTS,
    SPLIT_OPTION_VALUES,
    SPLIT_SEED,
    make_splits,
)
from corenn.errors import ConfigError, CorennError, CorruptFileError, DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
IMAGE_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")
"""The Pillow plugins that may decode an image file. Pillow otherwise picks a decoder by the
file's first bytes among all it knows, some of which run other programs (EPS and PostScript
start Ghostscript) or are rarely exercised; these six are the formats of the suffixes above."""

MAX_IMAGE_PIXELS = 178_956_970
"""The most pixels one image may have (Pillow's own decompression-bomb limit, 2**31 bytes of
4-byte pixels divided by 12): about 13,000 x 13,000. Checked from the header, before decoding."""

IMAGE_MEMORY_FACTOR = 25
"""Memory a folder's decoded images take in training, in multiples of their 8-bit size: the
8-bit arrays themselves, and standardising them into float64 (``corenn.data.loader.prepare``)
holds up to three float64 copies (8 bytes a value) at once."""

UNKNOWN_MEMORY_DECODED_BYTES = 2 * 2**30
"""Where the memory available cannot be read (not Linux), the most bytes of decoded 8-bit images."""

GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"})
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})
CACHE_ENV = "CORENN_CACHE_DIR"
DEFAULT_CACHE_DIR = Path("~/.cache/corenn")
CACHE_FORMAT = 2  # bump when the cached arrays change meaning (2: 16-bit and float images scaled)
_HASH_CHUNK_BYTES = 1 << 20


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
    if size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise ConfigError(f"dataset.size {list(size)} has more than {MAX_IMAGE_PIXELS:,} pixels")
    return tuple(size)


def is_image_file(path):
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def images_below(folder):
    """The image files anywhere below ``folder``, sorted, leaving out every hidden file or folder
    (a name starting with '.': ``.thumbnails/``, ``.ipynb_checkpoints/``, macOS's ``._photo.png``),
    which hold copies or previews rather than samples."""
    return sorted(
        path
        for path in folder.rglob("*")
        if is_image_file(path)
        and not path.is_dir()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    )


@attrs.frozen
class ImageHeader:
    """What an image file's header says: its Pillow format and mode, its size, whether its mode
    is a grey one, and the SHA-256 of its bytes (for the decode cache)."""

    path: Path
    format: str
    mode: str
    width: int
    height: int
    grey: bool
    digest: str = ""


class PillowWarnings:
    """Pillow's warnings while a folder is read, gathered per message with the images that
    gave them, and said once each (a folder of 10,000 images with a damaged EXIF block must
    not print 10,000 two-line warnings)."""

    def __init__(self):
        self.images = {}  # message -> the images that gave it, in the order read

    @contextlib.contextmanager
    def collect(self, path):
        from PIL import Image

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # corenn checks the pixel count itself (MAX_IMAGE_PIXELS), before decoding
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
        for warning in caught:
            images = self.images.setdefault(" ".join(str(warning.message).split()), {})
            images[str(path)] = None

    def say(self):
        """One warning per message (through :func:`warnings.warn`, which corenn's command line
        prints on one line)."""
        for message, images in self.images.items():
            count = "1 image" if len(images) == 1 else f"{len(images):,} images"
            warnings.warn(f"Pillow warned about {count} ({message}); the first: {next(iter(images))}", stacklevel=3)


@contextlib.contextmanager
def open_image(path, pillow_warnings=None):
    """``path`` opened by Pillow (header read, pixels not yet decoded), if it is a regular file
    in one of :data:`IMAGE_FORMATS` of at most :data:`MAX_IMAGE_PIXELS` pixels; anything else
    is a :class:`DataError` naming the file. Yields ``(image, stream)``."""
    from PIL import Image, UnidentifiedImageError

    from corenn.files import open_regular_file

    try:
        stream = open_regular_file(path, "image")
    except FileNotFoundError:
        raise DataError(f"cannot read image {path}: it does not exist (a broken link?)") from None
    except CorruptFileError as exc:
        raise DataError(f"{exc}; remove it from the folder") from None
    collected = pillow_warnings.collect(path) if pillow_warnings is not None else _ignored_bomb_warnings()
    with stream, collected:
        try:
            image = Image.open(stream, formats=IMAGE_FORMATS)
        except Image.DecompressionBombError as exc:  # Pillow's own limit, checked as it opens the file
            pixels = re.search(r"\((\d+) pixels\)", str(exc))
            what = f"has {int(pixels.group(1)):,} pixels" if pixels else "has too many pixels"
            raise DataError(
                f"image {path} {what}; corenn decodes images of at most {MAX_IMAGE_PIXELS:,} pixels: make it smaller"
            ) from None
        except UnidentifiedImageError:
            raise DataError(
                f"cannot read image {path}: it is not a {', '.join(IMAGE_FORMATS)} image (whatever its suffix); "
                "remove or replace the file"
            ) from None
        except Exception as exc:  # Pillow's parsers raise many kinds on damaged headers
            raise DataError(f"cannot read image {path}: {_reason(exc)}; remove or replace the file") from None
        with image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise DataError(
                    f"image {path} is {width}x{height} (width x height), {width * height:,} pixels; corenn decodes "
                    f"images of at most {MAX_IMAGE_PIXELS:,} pixels: make it smaller"
                )
            yield image, stream


@contextlib.contextmanager
def _ignored_bomb_warnings():
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _reason(exc):
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_grey(image):
    """Whether ``image``'s mode is a grey one, from its header alone: a palette image counts
    when every colour of the palette its header holds is grey (``getpalette`` would decode it)."""
    if image.mode in GREY_MODES:
        return True
    if image.mode in ("P", "PA"):
        palette = getattr(image, "palette", None)
        colours = bytes(getattr(palette, "palette", b"") or b"")
        if getattr(palette, "mode", None) != "RGB" or not colours:
            return False  # not known without decoding: read as colour
        return all(colours[i] == colours[i + 1] == colours[i + 2] for i in range(0, len(colours) - 2, 3))
    return False


def read_header(path, pillow_warnings=None, digest=False):
    """The :class:`ImageHeader` of ``path`` (nothing decoded); with ``digest``, its SHA-256 too."""
    with open_image(path, pillow_warnings) as (image, stream):
        try:
            grey = _is_grey(image)
        except Exception as exc:  # Pillow's parsers raise many kinds on damaged headers
            raise DataError(f"cannot read image {path}: {_reason(exc)}; remove or replace the file") from None
        header = ImageHeader(Path(path), image.format, image.mode, image.size[0], image.size[1], grey)
        if digest:
            stream.seek(0)
            sha = hashlib.sha256()
            while chunk := stream.read(_HASH_CHUNK_BYTES):
                sha.update(chunk)
            header = attrs.evolve(header, digest=sha.hexdigest())
    return header


def _eight_bit(image, path, grayscale, size):
    """The decoded pixels of ``image`` as uint8 ``(h, w)`` (grey) or ``(h, w, 3)``, resized to
    ``size`` when given; 16-bit and float modes scaled to 0..255 (Pillow's own conversion would
    clip them at 255). 8-bit modes are converted and resized by Pillow before numpy sees them,
    so a large image is held once or twice, not three times."""
    from PIL import Image

    mode = image.mode
    if mode not in SIXTEEN_BIT_MODES and mode not in ("I", "F"):
        image = image.convert("L" if grayscale else "RGB")
        if size is not None and image.size != (size[1], size[0]):
            image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)
    values = np.asarray(image)
    if mode == "F":
        if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
            raise DataError(
                f"image {path} is a float image with values outside [0, 1] (from {float(values.min()):g} to "
                f"{float(values.max()):g}); corenn reads float images as intensities in [0, 1]"
            )
        scaled = values.astype(np.float64) * 255.0
    else:
        if mode == "I" and (values.min() < 0 or values.max() > 65535):
            raise DataError(
                f"image {path} holds 32-bit integer pixels from {values.min()} to {values.max()}; corenn reads "
                "integer images of 8 or 16 bits (0..65535)"
            )
        scaled = values.astype(np.float64) / 257.0
    grey = np.rint(scaled).astype(np.uint8)
    if size is not None and grey.shape != tuple(size):
        grey = np.asarray(Image.fromarray(grey).resize((size[1], size[0]), Image.Resampling.BILINEAR), dtype=np.uint8)
    return grey if grayscale else np.repeat(grey[..., np.newaxis], 3, axis=2)


def decode_image(path, size=None, grayscale=False, pillow_warnings=None):
    """One image as a uint8 array ``(h, w, channels)``: grey (1 channel) or RGB (3), resized to
    ``size = (height, width)`` when given; read through :func:`open_image` (a regular file, an
    allowed format, bounded pixels). An unreadable file is a DataError naming it."""
    with open_image(path, pillow_warnings) as (image, _):
        try:
            image.load()
            array = _eight_bit(image, path, grayscale, size)
        except DataError:
            raise
        except Exception as exc:  # Pillow's decoders raise many kinds on damaged data (OSError, ValueError, ...)
            raise DataError(f"cannot read image {path}: {_reason(exc)}; remove or replace the file") from None
    return array[..., np.newaxis] if array.ndim == 2 else array


def decode_images(paths, size=None, grayscale=False, pillow_warnings=None):
    """NHWC uint8 array of ``paths``; without ``size`` all must share one size, or the error names two that differ."""
    if not paths:
        channels = 1 if grayscale else 3
        return np.zeros((0, *(size or (1, 1)), channels), dtype=np.uint8)
    first = decode_image(paths[0], size, grayscale, pillow_warnings)
    images = np.empty((len(paths), *first.shape), dtype=np.uint8)
    images[0] = first
    for index in range(1, len(paths)):
        image = decode_image(paths[index], size, grayscale, pillow_warnings)
        if image.shape != first.shape:
            raise DataError(
                _sizes_differ(paths[0], first.shape[1], first.shape[0], paths[index], image.shape[1], image.shape[0])
            )
        images[index] = image
    return images


def _sizes_differ(first, first_width, first_height, other, width, height):
    return (
        f"images differ in size: {first} is {first_width}x{first_height} (width x height), "
        f"{other} is {width}x{height}; set dataset.size = [height, width] to resize them all"
    )


def decoded_bytes_limit():
    """The most bytes of decoded 8-bit images a folder may hold: the memory available now
    divided by :data:`IMAGE_MEMORY_FACTOR` (training needs that many times their size), or
    :data:`UNKNOWN_MEMORY_DECODED_BYTES` where the memory available cannot be read."""
    from corenn.machine import host_memory_available

    available = host_memory_available()
    if available is None:
        return UNKNOWN_MEMORY_DECODED_BYTES, None
    return available // IMAGE_MEMORY_FACTOR, available


def check_decoded_size(folder, headers, shape):
    """Refuse, before decoding, a folder whose images decoded to ``shape`` (h, w, channels)
    would not fit (see :func:`decoded_bytes_limit`), in one line saying what to change."""
    need = len(headers) * int(np.prod(shape))
    limit, available = decoded_bytes_limit()
    if need <= limit:
        return
    what = f"{len(headers):,} images of {shape[1]}x{shape[0]} pixels, {'grey' if shape[2] == 1 else 'RGB'}"
    memory = (
        f"{_gib(available)} of memory is available, so at most {_gib(limit)} of decoded images"
        if available is not None
        else f"the memory available cannot be read here, and corenn then decodes at most {_gib(limit)}"
    )
    raise DataError(
        f"image folder {folder} holds {what}: {_gib(need)} decoded, and training makes about "
        f"{IMAGE_MEMORY_FACTOR - 1} times that in floating point; {memory}; "
        "set dataset.size = [height, width] to resize them smaller, or use fewer images"
    )


def _gib(size):
    return f"{size / 2**30:.2f} GiB" if size >= 2**30 / 10 else f"{size / 2**20:.1f} MiB"


def list_class_folders(folder, what):
    """``(class names, {class: [image paths]})`` of ``folder``'s sub-folders, sorted by name.

    Every non-folder entry with an image suffix is listed, links included: one that is not a
    regular file (a FIFO, a device) is refused by name when it is read, never skipped silently.
    Hidden files and everything in hidden sub-folders are left out (see :func:`images_below`)."""
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
        images = images_below(folder / name)
        if not images:
            raise DataError(
                f"class folder {folder / name} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                "add images or remove the folder"
            )
        files[name] = images
    return classes, files


def read_headers(paths, pillow_warnings=None, digest=True):
    """Every image's :class:`ImageHeader` (formats and pixel counts checked), nothing decoded."""
    return [read_header(path, pillow_warnings, digest=digest) for path in paths]


def infer_grayscale(headers, grayscale):
    """``grayscale`` as given, or (``None``) true when every image's mode is a grey one."""
    if grayscale is None:
        return all(header.grey for header in headers)
    return grayscale


def decoded_shape(headers, size, grayscale):
    """``(height, width, channels)`` every image decodes to; without ``size`` every image must
    have the first one's size (the error names two that differ)."""
    channels = 1 if grayscale else 3
    if size is not None:
        return (size[0], size[1], channels)
    first = headers[0]
    for header in headers[1:]:
        if (header.width, header.height) != (first.width, first.height):
            raise DataError(
                _sizes_differ(first.path, first.width, first.height, header.path, header.width, header.height)
            )
    return (first.height, first.width, channels)


def _cache_key(folder, headers, size, grayscale):
    digest = hashlib.sha256(f"{CACHE_FORMAT}|{folder.resolve()}|{size}|{grayscale}".encode())
    for header in headers:
        digest.update(f"|{header.path.relative_to(folder)}|{header.digest}".encode())
    return digest.hexdigest()[:32]


def load_images(folder, paths, size, grayscale, use_cache=True, headers=None, pillow_warnings=None):
    """:func:`decode_images` of ``paths`` (all under ``folder``), through the decode cache,
    after every header is read and the decoded size checked (:func:`check_decoded_size`)."""
    if headers is None:
        headers = read_headers(paths, pillow_warnings)
    if paths:
        check_decoded_size(folder, headers, decoded_shape(headers, size, grayscale))
    if not use_cache:
        return decode_images(paths, size, grayscale, pillow_warnings)
    from corenn.files import load_arrays, save_arrays

    target = cache_dir() / f"{_cache_key(folder, headers, size, grayscale)}.npz"
    if target.is_file():
        try:
            images = load_arrays(target)["images"]
            if len(images) == len(paths) and images.dtype == np.uint8 and images.ndim == 4:
                return images
        except (CorruptFileError, KeyError, OSError):
            pass  # a damaged cache entry is decoded again and replaced
    images = decode_images(paths, size, grayscale, pillow_warnings)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        save_arrays(target, {"images": images})
    except (OSError, CorennError):
        pass  # a read-only or full cache slows the next run down, nothing more
    return images


def load_image_folder(
    data_dir=None,
    root: str | None = None,
    size: list | None = None,
    grayscale: bool | None = None,
    val_size: float | int = DEFAULT_VAL_SIZE,
    test_size: float | int | None = None,
    split_seed: int = SPLIT_SEED,
    cache: bool = True,
):
    """Train / validation / test splits of an image folder. ``data_dir`` is unused.

    Every image's header is read first (format, pixels, mode); the colour mode is inferred from
    them when ``grayscale`` is left out, and the decoded size of the whole folder is checked,
    before any image is decoded."""
    if root is None:
        raise ConfigError('dataset "image_folder" needs root = "folder" (one sub-folder of images per class)')
    size = check_size(size)
    if grayscale is not None and not isinstance(grayscale, bool):
        raise ConfigError(
            f"dataset.grayscale must be true or false (or left out: grey when every image is), got {grayscale!r}"
        )
    if not isinstance(cache, bool):
        raise ConfigError(f"dataset.cache must be true or false, got {cache!r}")
    root = Path(root)
    train_folder, test_folder = root, None
    if (root / "train").is_dir():
        train_folder = root / "train"
        test_folder = root / "test" if (root / "test").is_dir() else None
    classes, files = list_class_folders(train_folder, "image folder")
    paths, labels = _flatten(classes, files)
    test_paths = None
    if test_folder is not None:
        test_classes, test_files = list_class_folders(test_folder, "test folder")
        only_test = [name for name in test_classes if name not in classes]
        if only_test:
            raise DataError(
                f"class folder(s) {', '.join(repr(n) for n in only_test)} appear only in the test folder {test_folder} "
                f"(training classes: {', '.join(classes)}); a model can only predict classes it was trained on"
            )
        test_paths, test_labels = _flatten(classes, test_files)
    pillow_warnings = PillowWarnings()
    headers = read_headers(paths, pillow_warnings, digest=cache)
    test_headers = read_headers(test_paths, pillow_warnings, digest=cache) if test_paths is not None else []
    inferred = grayscale is None
    grayscale = infer_grayscale(headers + test_headers, grayscale)
    shape = decoded_shape(headers, size, grayscale)
    check_decoded_size(root, headers + test_headers, shape)
    X = load_images(train_folder, paths, size, grayscale, cache, headers, pillow_warnings)
    test = None
    if test_paths is not None:
        X_test = load_images(test_folder, test_paths, size, grayscale, cache, test_headers, pillow_warnings)
        if X_test.shape[1:] != X.shape[1:]:
            raise DataError(
                f"the test images are {X_test.shape[2]}x{X_test.shape[1]} (width x height), the training images "
                f"{X.shape[2]}x{X.shape[1]}; set dataset.size = [height, width] to resize them all"
            )
        test = (X_test, test_labels)
    pillow_warnings.say()
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
            # where the colour mode came from: "images" (inferred: every image grey, or not) or "config"
            "channels_from": "images" if inferred else "config",
            "resize": size is not None,  # new images are resized to `size` too, else must have it
        },
    )


# What ``corenn describe dataset image_folder`` shows beside the signature (see corenn.cli.describe).
load_image_folder.option_values = SPLIT_OPTION_VALUES | {
    "root": "a folder of one sub-folder of images per class (or train/ and test/ holding such)",
    "size": "[height, width] in pixels: every image resized to it (unset: all images must share one size)",
    "grayscale": "unset: grey when every image is",
    "cache": "whether decoded images are cached on disk",
}
load_image_folder.option_defaults = SPLIT_OPTION_DEFAULTS


def _flatten(classes, files):
    paths, labels = [], []
    for index, name in enumerate(classes):
        for path in files.get(name, ()):
            paths.append(path)
            labels.append(index)
    return paths, np.asarray(labels, dtype=np.int64)
