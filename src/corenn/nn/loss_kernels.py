"""The numpy backend's kernels of the core's losses (:mod:`corenn.nn.losses`).

A loss is written once with its arrays' own operations; what a backend hands back as the
loss's value is the one thing that differs, so it is a kernel.
"""


def loss_value(mean):
    """The mean loss, a 0-d result of the predictions' dtype, as ``forward`` returns it: a numpy
    scalar of that dtype (``np.float32`` for float32 predictions), as the course's losses give."""
    return mean.dtype.type(mean)
