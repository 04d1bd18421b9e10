"""Turning a data set's raw splits into standardised arrays, shuffled mini-batches, augmented
training batches and averaged test-time views.

Standardisation is fitted on the training split only (the validation and test splits are
transformed with the training mean and standard deviation), so no information leaks from the
held-out data into training.

Image operations (padding, crops, flips, shifts) go through an *array backend*
(:class:`corenn.numpy_backend.NumpyBackend`, ``corenn_torch.backend.TorchBackend``), so the same code
augments numpy arrays on the host and torch tensors on their device.
"""

import attrs
import numpy as np

from corenn.data.splits import Split
from corenn.errors import ConfigError, DataError

PADDING_MODES = ("zeros", "reflect")  # what a crop's padding holds: see augment_batch
TEST_AUGMENT_MODES = ("none", "flip", "flip_translate")  # the views evaluation_views averages over


@attrs.frozen
class Standardizer:
    """``(x / scale - mean) / std``, with statistics from the training split."""

    mean: np.ndarray
    std: np.ndarray
    scale: float = 1.0

    @classmethod
    def fit(cls, X, mode, scale=1.0):
        X = np.asarray(X, dtype=np.float64) / scale
        if mode == "none":
            return cls(np.zeros(()), np.ones(()), scale)
        axes = (0,) if mode == "feature" else tuple(range(X.ndim - 1))
        with np.errstate(over="ignore", invalid="ignore"):
            mean = X.mean(axis=axes)
            std = X.std(axis=axes)
        if not (np.isfinite(mean).all() and np.isfinite(std).all()):
            mean, std = _scaled_moments(X, axes)
        return cls(mean, np.where(std > 0, std, 1.0), scale)

    def transform(self, X, dtype):
        X = np.asarray(X, dtype=np.float64) / self.scale
        return np.ascontiguousarray(((X - self.mean) / self.std).astype(dtype, copy=False))

    def inverse(self, Z):
        """Values in their own units from standardised ones (a regression's outputs)."""
        return (np.asarray(Z, dtype=np.float64) * self.std + self.mean) * self.scale


def _scaled_moments(X, axes):
    """Mean and standard deviation of finite values too large for the plain formulas (a cell of
    1e308 overflows the sum of squares to infinity, which would silently zero its column):
    computed on the values divided by their largest magnitude, then scaled back. Used only when
    the plain ones overflow, so ordinary data keeps its bit-exact statistics."""
    largest = np.abs(X).max(axis=axes, keepdims=True)
    largest = np.where(largest > 0, largest, 1.0)
    scaled = X / largest
    largest = largest.reshape(scaled.mean(axis=axes).shape)
    return scaled.mean(axis=axes) * largest, scaled.std(axis=axes) * largest


def one_hot(labels, n_classes, dtype=np.float64):
    encoded = np.zeros((len(labels), n_classes), dtype=dtype)
    encoded[np.arange(len(labels)), labels] = 1
    return encoded


@attrs.frozen
class PreparedSplit:
    """A split ready for training: standardised inputs, one-hot targets, integer labels.

    For regression ``Y`` holds the standardised targets, ``labels`` zeros (there are no
    classes) and ``targets`` the targets in their own units, ``(samples, targets)``."""

    X: np.ndarray
    Y: np.ndarray
    labels: np.ndarray
    targets: np.ndarray | None = None

    def __len__(self):
        return len(self.labels)


@attrs.frozen
class PreparedData:
    """The prepared splits; ``val`` is ``None`` when the data set holds no validation split
    (CIFAR-10 with ``val_size = 0``), ``test`` when it holds no test split.

    ``task`` is ``"classification"`` or ``"regression"``; a regression run's targets are
    standardised with ``target_standardizer`` (fitted on the training split, like the inputs'),
    so the network learns values of unit scale whatever the targets' own units, and its outputs
    go back through it (:meth:`Standardizer.inverse`)."""

    train: PreparedSplit
    val: PreparedSplit | None
    test: PreparedSplit | None
    n_classes: int
    class_names: tuple
    standardizer: Standardizer
    input_shape: tuple = ()  # of one raw sample
    inputs: dict = attrs.Factory(dict)  # what one raw sample is: see DatasetSplits.inputs
    task: str = "classification"
    target_standardizer: Standardizer | None = None


def _check_finite(name, X, what="input"):
    """Integer inputs are always finite; float inputs must hold no NaN or infinity."""
    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        return
    bad = ~np.isfinite(X)
    if bad.any():
        rows = np.unique(np.nonzero(bad.reshape(len(bad), -1))[0])
        raise DataError(
            f"the {name} split holds {int(bad.sum())} NaN or infinite {what} value(s) in "
            f"{len(rows)} sample(s) (first: row {int(rows[0])}); clean the data before training"
        )


def _check_labels(name, split, splits):
    """Class indices within the classes; regression targets finite, one column per target."""
    if splits.task == "regression":
        _check_finite(name, split.y, "target")
        if split.y.ndim != 2 or split.y.shape[1] != splits.n_classes:
            raise DataError(
                f"the {name} split has targets of shape {split.y.shape}, expected (samples, {splits.n_classes})"
            )
        return
    if len(split) and (split.y.min() < 0 or split.y.max() >= splits.n_classes):
        raise DataError(
            f"the {name} split has labels outside 0..{splits.n_classes - 1} (found {split.y.min()}..{split.y.max()})"
        )


def fitted_standardizers(splits):
    """``(inputs' standardizer, targets' standardizer or None)`` fitted on the training split;
    the targets' only for a regression."""
    standardizer = Standardizer.fit(splits.train.X, splits.standardize, splits.scale)
    if getattr(splits, "task", "classification") != "regression":
        return standardizer, None
    return standardizer, Standardizer.fit(splits.train.y, "feature")


def prepare(splits, dtype="float64", standardizer=None, target_standardizer=None):
    """Standardise every split with the training statistics and one-hot encode the labels
    (regression: standardise the targets too).

    ``standardizer`` and ``target_standardizer`` (a trained run's own, from its
    ``preprocessing.json``) replace the statistics fitted on ``splits.train``. Every split is
    checked before the statistics are fitted, so bad values are reported as such rather than
    surfacing as NaN statistics (or numpy warnings) first.
    """
    dtype = np.dtype(dtype)
    task = getattr(splits, "task", "classification")
    named = {name: getattr(splits, name) for name in ("train", "val", "test")}
    for name, split in named.items():
        if split is None:
            continue
        if name != "test" and len(split) == 0:
            raise DataError(
                f"the {name} split is empty; training needs training samples, and a validation split "
                f"either holds samples or is left out (None)"
            )
        _check_finite(name, split.X)
        _check_labels(name, split, splits)
    needs_fit = standardizer is None or (task == "regression" and target_standardizer is None)
    fitted = fitted_standardizers(splits) if needs_fit else None
    if standardizer is None:
        standardizer = fitted[0]
    if target_standardizer is None and task == "regression":
        target_standardizer = fitted[1]

    def prepared_split(split):
        X = standardizer.transform(split.X, dtype)
        if task == "regression":
            Y = target_standardizer.transform(split.y, dtype)
            return PreparedSplit(X, Y, np.zeros(len(split), dtype=np.int64), split.y)
        return PreparedSplit(X, one_hot(split.y, splits.n_classes, dtype), split.y)

    prepared = {name: None if split is None else prepared_split(split) for name, split in named.items()}
    return PreparedData(
        prepared["train"],
        prepared["val"],
        prepared["test"],
        splits.n_classes,
        splits.class_names,
        standardizer,
        splits.input_shape,
        dict(splits.inputs),
        task,
        target_standardizer if task == "regression" else None,
    )


def batch_indices(n_samples, batch_size, rng=None):
    """Index arrays of consecutive mini-batches, shuffled by ``rng`` when one is given."""
    order = rng.permutation(n_samples) if rng is not None else np.arange(n_samples)
    return [order[start : start + batch_size] for start in range(0, n_samples, batch_size)]


def iterate_batches(split, batch_size, rng=None):
    """``(X, Y)`` mini-batches of a prepared split; the last one may be smaller."""
    for index in batch_indices(len(split), batch_size, rng):
        yield split.X[index], split.Y[index]


def split_off_validation(X, y, val_size, dataset):
    """``(train Split, val Split or None)``: the **last** ``val_size`` samples of a data set's
    official training images validate, the others train; ``val_size = 0`` keeps them all for
    training and leaves no validation split.

    The split is fixed (no random draw), so every run and every tool sees the same validation
    set. ``val_size`` comes from the config (``[dataset] val_size``); a bad value is a
    ConfigError naming it and the allowed range.
    """
    n_train = len(y) - check_val_size(val_size, len(y), dataset)
    train = Split(X[:n_train], y[:n_train])
    return train, (Split(X[n_train:], y[n_train:]) if val_size else None)


def check_val_size(val_size, n_samples, dataset):
    """``val_size`` if it is a valid validation size for ``n_samples`` training images, else a
    ConfigError (checked before any file is read, so a typo costs no download)."""
    if isinstance(val_size, bool) or not isinstance(val_size, int) or not 0 <= val_size < n_samples:
        raise ConfigError(
            f"dataset.val_size must be an integer from 0 (no validation split) to {n_samples - 1} "
            f"(how many of {dataset}'s {n_samples:,} training images validate), got {val_size!r}"
        )
    return val_size


def check_image_options(input_shape, dataset, augment=None, test_augment="none"):
    """Refuse, before training starts, augmentation settings that the data cannot take:
    augmentation of any kind needs images (samples of shape (height, width, channels)), and
    reflect padding needs fewer padded pixels than the image has rows and columns (a
    reflection repeats no pixel, so it can mirror at most size - 1 of them)."""
    input_shape = tuple(input_shape)
    is_image = len(input_shape) == 3
    if augment and not is_image:
        raise DataError(
            f"dataset.augment needs image batches of shape (m, height, width, channels); data set {dataset!r} "
            f"has samples of shape {input_shape}: remove [dataset] augment"
        )
    if test_augment != "none" and not is_image:
        raise DataError(
            f"dataset.test_augment = {test_augment!r} needs images of shape (height, width, channels); data set "
            f'{dataset!r} has samples of shape {input_shape}: use test_augment = "none"'
        )
    if augment and augment.get("padding_mode", "zeros") == "reflect":
        _check_reflect_padding(augment.get("crop_padding", 0), input_shape[:2], "dataset.augment.crop_padding")
    if test_augment == "flip_translate":
        _check_reflect_padding(
            1,
            input_shape[:2],
            "dataset.test_augment = 'flip_translate' (a 1-pixel shift)",
            remedy='use test_augment = "flip"',
        )


def _check_reflect_padding(padding, size, what, remedy='use a smaller crop_padding or padding_mode = "zeros"'):
    height, width = size
    if padding >= min(height, width):
        raise DataError(
            f"{what} reflects {padding} pixel(s) at each border, but images of {height}x{width} pixels can reflect "
            f"at most {min(height, width) - 1}: {remedy}"
        )


def alternate_flip_base(indices):
    """A fixed pseudo-random bit per training-sample index: whether the sample is mirrored in
    odd epochs under ``flip = "alternate"``.

    A hash of the index (splitmix64's finaliser, lowest bit) rather than a draw: it depends on
    no generator state, so a resumed run flips exactly as the uninterrupted one, and about half
    of any set of indices is mirrored in each epoch.
    """
    with np.errstate(over="ignore"):  # the arithmetic is modulo 2**64 on purpose
        z = np.asarray(indices, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z & np.uint64(1)).astype(bool)


def augment_batch(X, rng, arrays, crop_padding=0, flip=False, padding_mode="zeros", *, indices=None, epoch=None):
    """A randomly cropped and flipped copy of an NHWC image batch ``X``, as for CIFAR-10 training.

    Each image is padded with ``crop_padding`` pixels on every side and cropped back to its size
    at an offset drawn from ``rng``. ``padding_mode`` says what the padding holds: ``"zeros"``,
    or ``"reflect"`` (the image mirrored at its border without repeating the edge pixel, as
    ``np.pad(mode="reflect")`` and torch's ``F.pad(mode="reflect")``; airbench's choice).

    ``flip``: ``False``; ``True``, each image mirrored left-right with probability 1/2, drawn
    from ``rng``; or ``"alternate"`` (airbench), each image mirrored in every other epoch:
    sample ``i`` of the training split is mirrored in epoch ``e`` (counted from 1) iff
    ``alternate_flip_base(i) XOR (e is even)``, which needs ``indices`` (the batch's sample
    indices in the training split, a numpy array) and ``epoch``. Every image is thus seen both
    ways in any two consecutive epochs, which spreads the views more evenly than coin flips.

    The draws are made on the host from ``rng`` (a numpy Generator, part of the run's
    checkpoint; offsets first, then coin flips); the crop itself is one gather on ``arrays``'s
    device (see :meth:`corenn.numpy_backend.NumpyBackend.crop_and_flip`), vectorised over the batch.
    """
    if X.ndim != 4:
        raise DataError(
            f"dataset.augment needs image batches of shape (m, height, width, channels), got shape {tuple(X.shape)}"
        )
    if padding_mode not in PADDING_MODES:
        raise ConfigError(
            f"dataset.augment.padding_mode must be one of {', '.join(PADDING_MODES)}, got {padding_mode!r}"
        )
    if not (isinstance(flip, bool) or flip == "alternate"):
        raise ConfigError(f'dataset.augment.flip must be true, false or "alternate", got {flip!r}')
    m, height, width = X.shape[0], X.shape[1], X.shape[2]
    if padding_mode == "reflect":
        _check_reflect_padding(crop_padding, (height, width), "dataset.augment.crop_padding")
    if crop_padding:
        offsets = rng.integers(0, 2 * crop_padding + 1, size=(m, 2))
    else:
        offsets = np.zeros((m, 2), dtype=np.int64)
    rows = offsets[:, :1] + np.arange(height)
    cols = offsets[:, 1:] + np.arange(width)
    if flip == "alternate":
        if indices is None or epoch is None:
            raise ValueError('flip = "alternate" needs the batch\'s sample indices and the epoch')
        mirrored = alternate_flip_base(indices) ^ (epoch % 2 == 0)
    elif flip:
        mirrored = rng.random(m) < 0.5
    else:
        mirrored = None
    if mirrored is not None:
        cols = np.where(mirrored[:, None], cols[:, ::-1], cols)
    return arrays.crop_and_flip(X, crop_padding, rows, cols, padding_mode)


def evaluation_views(X, arrays, mode):
    """``(weight, view)`` pairs of an NHWC image batch whose weighted outputs are averaged at
    evaluation (the weights sum to 1); made lazily, one view at a time, to bound memory.

    - ``"none"``: the images themselves;
    - ``"flip"``: the images and their mirror images, 1/2 each;
    - ``"flip_translate"`` (airbench's level 2): 1/2 the flip-average of the images, plus 1/4
      the flip-average of the images shifted one pixel up-left and 1/4 of them shifted one
      pixel down-right (the border filled by reflection).
    """
    if mode not in TEST_AUGMENT_MODES:
        raise ConfigError(f"dataset.test_augment must be one of {', '.join(TEST_AUGMENT_MODES)}, got {mode!r}")
    if mode == "none":
        yield 1.0, X
        return
    if X.ndim != 4:
        raise DataError(
            f"dataset.test_augment = {mode!r} needs image batches of shape (m, height, width, channels), "
            f"got shape {tuple(X.shape)}"
        )
    if mode == "flip":
        yield 0.5, X
        yield 0.5, arrays.flip_images(X)
        return
    yield 0.25, X
    yield 0.25, arrays.flip_images(X)
    for dy, dx in ((-1, -1), (1, 1)):
        shifted = arrays.shift_images(X, dy, dx)
        yield 0.125, shifted
        yield 0.125, arrays.flip_images(shifted)


def averaged_outputs(forward, X, arrays, mode):
    """``forward``'s outputs for ``X`` averaged over the test-time views of ``mode`` (see
    :func:`evaluation_views`): what every evaluation and ``corenn predict`` report.

    Works on numpy arrays and torch tensors alike; with ``"none"`` it is ``forward(X)`` itself.
    """
    if mode == "none":
        return forward(X)
    total = None
    for weight, view in evaluation_views(X, arrays, mode):
        weighted = weight * forward(view)
        total = weighted if total is None else total + weighted
    return total
