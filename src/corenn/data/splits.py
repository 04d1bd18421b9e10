"""What a dataset factory returns: fixed train / validation / test splits of raw arrays.

Dataset factories (registered under kind ``dataset``) take ``data_dir=None`` plus their own
options and return :class:`DatasetSplits`. Scaling, standardisation (fitted on the training
split only), one-hot labels and batching happen in :mod:`corenn.data.loader`, so every dataset
gets them the same way.

A data set is for classification (``y`` holds class indices) or for regression (``y`` holds
the values to predict, floats, one column per target): see :attr:`DatasetSplits.task`.
"""

import attrs
import numpy as np

STANDARDIZE_MODES = ("feature", "channel", "none")
TASKS = ("classification", "regression")


def _as_labels(value):
    """Class indices as int64; regression targets (floats) as float64 ``(samples, targets)``."""
    value = np.asarray(value)
    if value.dtype.kind == "f":
        value = value.astype(np.float64, copy=False)
        return value.reshape(len(value), -1)
    return value.astype(np.int64, copy=False)


@attrs.frozen
class Split:
    """Inputs ``X`` (first axis: samples) and integer class labels ``y`` (or, for regression,
    float targets ``(samples, targets)``)."""

    X: np.ndarray
    y: np.ndarray = attrs.field(converter=_as_labels)

    def __attrs_post_init__(self):
        if len(self.X) != len(self.y):
            raise ValueError(f"split has {len(self.X)} inputs but {len(self.y)} labels")

    def __len__(self):
        return len(self.y)


@attrs.frozen
class DatasetSplits:
    """A data set's fixed splits and how its inputs are standardised.

    ``standardize`` is ``"feature"`` (per column of 2-d tabular inputs), ``"channel"`` (per
    last axis of NHWC images) or ``"none"``. ``scale`` divides raw inputs first (255 for
    8-bit images).

    ``inputs`` says what one raw sample is, so that a trained run can read new samples the way
    it read its training data (``corenn predict --input``, :func:`corenn.load`); it is kept in
    the run's ``preprocessing.json``. ``{"kind": "table", "features": [names], "label": name}``
    for rows of numbers, ``{"kind": "image", "size": [h, w], "grayscale": bool, "resize": bool}`` for
    pictures (decoded to NHWC; resized to ``size`` if ``resize``, else they must have it), ``{"kind": "array"}`` for arrays of the sample
    shape; empty when unknown. A table whose columns were encoded (text one-hot, missing values
    filled) also holds ``columns``, the encoding fitted on the training split (see
    :mod:`corenn.data.columns`).

    ``task`` is ``"classification"`` (``class_names`` names the classes) or ``"regression"``
    (``class_names`` names the target columns, and every split's ``y`` holds their values).
    ``notes`` are lines worth telling the user before training (columns one-hot encoded, rows
    dropped for missing values).
    """

    name: str
    train: Split
    val: Split | None  # None when dataset.val_size = 0
    test: Split | None
    class_names: tuple = attrs.field(converter=tuple)
    standardize: str = attrs.field(default="feature", validator=attrs.validators.in_(STANDARDIZE_MODES))
    scale: float = 1.0
    inputs: dict = attrs.field(factory=dict)
    task: str = attrs.field(default="classification", validator=attrs.validators.in_(TASKS))
    notes: tuple = attrs.field(default=(), converter=tuple)

    @property
    def n_classes(self):
        """The number of classes (regression: of target columns): the network's outputs."""
        return len(self.class_names)

    @property
    def input_shape(self):
        """The shape of one sample."""
        return tuple(self.train.X.shape[1:])
