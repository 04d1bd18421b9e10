"""What a dataset factory returns: fixed train / validation / test splits of raw arrays.

Dataset factories (registered under kind ``dataset``) take ``data_dir=None`` plus their own
options and return :class:`DatasetSplits`. Scaling, standardisation (fitted on the training
split only), one-hot labels and batching happen in :mod:`corenn.data.loader`, so every dataset
gets them the same way.
"""

import attrs
import numpy as np

STANDARDIZE_MODES = ("feature", "channel", "none")


def _as_labels(value):
    return np.asarray(value, dtype=np.int64)


@attrs.frozen
class Split:
    """Inputs ``X`` (first axis: samples) and integer class labels ``y``."""

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
    shape; empty when unknown.
    """

    name: str
    train: Split
    val: Split | None  # None when dataset.val_size = 0
    test: Split | None
    class_names: tuple = attrs.field(converter=tuple)
    standardize: str = attrs.field(default="feature", validator=attrs.validators.in_(STANDARDIZE_MODES))
    scale: float = 1.0
    inputs: dict = attrs.field(factory=dict)

    @property
    def n_classes(self):
        return len(self.class_names)

    @property
    def input_shape(self):
        """The shape of one sample."""
        return tuple(self.train.X.shape[1:])
