"""The torch backend's kernels of the core's losses (:mod:`corenn.nn.losses`)."""


def loss_value(mean):
    """The mean loss, a 0-d tensor, as ``forward`` returns it: a Python float (reading it
    waits for the device; the trainer reads the loss every step anyway)."""
    return float(mean)
