"""The numpy backend's kernels of the core's optimizers (:mod:`corenn.nn.optimizers`).

The updates themselves are written once with in-place operators, which every backend's arrays
have; clipping by norm differs: numpy decides on the host whether to scale, while a GPU
backend keeps that choice on the device.
"""

import numpy as np


def optimizer_clip_by_norm(grad, clip_norm):
    """``grad`` scaled so that its L2 norm is at most ``clip_norm`` (unchanged if ``None``).

    ``norm = sqrt(sum(grad**2))`` in float64; ``grad * (clip_norm / norm)`` when ``norm >
    clip_norm``. Returns a new array when it scales, never changing the layer's own gradient.
    """
    if clip_norm is None:
        return grad
    norm = float(np.sqrt(np.sum(np.square(grad, dtype=np.float64))))
    if norm > clip_norm:
        return grad * (clip_norm / norm)
    return grad
