"""Will a run fit? Its memory and disk needs, estimated from the model's sizes before training.

Linux rarely refuses an allocation: a network too wide for the machine is not a MemoryError but
the kernel's out-of-memory killer ending the process part way through an epoch, with no message.
A full disk is caught when a record fails to write (the last complete checkpoint is kept), but
only after the run has spent its time. So before the first record is written, the trainer
estimates both from what :meth:`corenn.nn.model.Sequential.initialize` measured (every layer's
output for one sample) and the parameters' size, and refuses a run that cannot fit with one
line saying what it needs, what there is, and what to make smaller. The memory estimate is
low rather than high (``bench/memory_estimate.py`` measures it: within a few percent for wide
fully connected layers, a third low for LeNet, whose convolutions' patch buffers and composite
layers' inner outputs are not counted), so a run it refuses could not have trained, and one it
lets through can still run out near the edge, or when other processes take memory meanwhile.

Where the available memory cannot be read (not Linux, or an array backend without
``available_memory``) nothing is refused.
"""

import shutil
from pathlib import Path

from corenn.errors import ConfigError

TRAINING_COPIES = 4
"""A training step holds about this many arrays the size of every layer's output for the batch:
the forward caches kept for backward (a layer's input and its activation's pre-activation),
the outputs, and the gradients backward makes. Measured: 4.0 to 4.1 on iris with a wide hidden
layer, more where layers keep buffers of their own (``bench/memory_estimate.py``)."""

EVALUATION_COPIES = 2
"""Evaluation keeps no caches: a layer's input and its output are alive at once."""

PARAMETER_COPIES = 3
"""Beyond the parameters themselves (allocated when the estimate is made): their gradients and
up to two optimizer state arrays each (Adam's moments; SGD's momentum is one)."""

RECORD_COPIES = 8
"""Disk for a run's records, in parameter sizes: ``parameters.npz`` and ``best.npz`` (one each),
``checkpoint.npz`` (the parameters and up to two optimizer state arrays: three), and the new
checkpoint being written beside the old one before it replaces it (three more)."""

EVALUATION_BATCH = 1024
"""The batch for evaluation and prediction, where memory allows (see :func:`evaluation_batch_size`)."""

GiB = 2**30


def available_memory(arrays):
    """Bytes free where ``arrays`` (an array backend) computes, or ``None`` where unknown."""
    measure = getattr(arrays, "available_memory", None)
    return measure() if callable(measure) else None


def training_memory_need(model, batch_size):
    """``(batch outputs, parameter state)``: bytes a training step at ``batch_size`` needs
    beyond the parameters and the data already in memory. A layer whose output is a view of
    its input (``flatten``) adds nothing; the gradient of the input batch counts once where
    backward makes it (a network starting with ``flatten`` cannot skip it)."""
    per_sample = TRAINING_COPIES * sum(model.output_bytes_per_sample)
    per_sample += getattr(model, "input_gradient_bytes_per_sample", 0)
    return batch_size * per_sample, PARAMETER_COPIES * model.parameter_bytes()


def parameter_memory_check(arrays):
    """The ``check_parameters`` of :meth:`corenn.nn.model.Sequential.initialize` for a model made
    on ``arrays`` (an array backend): :func:`check_parameter_memory` against the memory available
    there, measured once, now; ``None`` where it is unknown."""
    available = available_memory(arrays)
    if available is None:
        return None
    return lambda model, index: check_parameter_memory(model, index, available)


def check_parameter_memory(model, index, available):
    """Refuse, with one line, a model whose parameters up to layer ``index`` (just made) cannot
    be trained in ``available`` bytes with their gradients and optimizer state."""
    parameters = model.parameter_bytes()
    need = (1 + PARAMETER_COPIES) * parameters
    if need > available:
        raise ConfigError(
            f"the parameters up to {model.where(index)} take {_gib(parameters)}; training "
            f"them needs about {_gib(need)} with their gradients and optimizer state, but {_gib(available)} is "
            "available; make the layers narrower or fewer"
        )


def check_training_memory(model, batch_size, arrays):
    """Refuse, with one line, a run whose training step cannot fit in the memory available to
    ``arrays``; the line names the widest layer, what to make smaller, and the figures."""
    available = available_memory(arrays)
    if available is None or not model.output_bytes_per_sample:
        return
    batch_outputs, parameter_state = training_memory_need(model, batch_size)
    need = batch_outputs + parameter_state
    if need <= available:
        return
    widest = max(range(len(model.output_bytes_per_sample)), key=model.output_bytes_per_sample.__getitem__)
    raise ConfigError(
        f"training needs about {_gib(need)} of memory on {arrays.device} at batch size {batch_size} "
        f"({_gib(batch_outputs)} for the layers' outputs, kept for backward, and their gradients; "
        f"{_gib(parameter_state)} for the parameters' gradients and optimizer state), but {_gib(available)} is "
        f"available; make the layers narrower (the widest output is {model.where(widest)}'s, "
        f"{_gib(model.output_bytes_per_sample[widest] * batch_size)} per batch) or the batch smaller (--batch-size)"
    )


def evaluation_batch_size(model, arrays, preferred=EVALUATION_BATCH):
    """``preferred`` samples per evaluation batch, or as many as fit in the available memory
    (at least one) when a network's outputs are too wide for that."""
    available = available_memory(arrays)
    per_sample = EVALUATION_COPIES * sum(getattr(model, "output_bytes_per_sample", ()))
    if available is None or per_sample == 0 or preferred * per_sample <= available:
        return preferred
    return max(1, min(preferred, available // per_sample))


def check_disk_space(model, out_dir):
    """Refuse, with one line, a run whose records cannot fit on the disk holding ``out_dir``
    (the nearest existing folder above it is asked)."""
    need = RECORD_COPIES * model.parameter_bytes()
    folder = Path(out_dir).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if need > free:
        raise ConfigError(
            f"the run's records need about {_gib(need)} of disk (checkpoints of {_gib(model.parameter_bytes())} "
            f"of parameters) but the disk holding {out_dir} has {_gib(free)} free; make room, or write the run "
            "elsewhere (--out)"
        )


def _gib(size):
    """``size`` bytes in GiB, MiB or KiB, the largest that shows it as 0.1 or more, else in bytes
    (a full disk has "0 bytes free", not "0.0 MiB")."""
    if size >= GiB / 10:
        return f"{size / GiB:.2f} GiB"
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if size >= scale / 10:
            return f"{size / scale:.1f} {unit}"
    return f"{int(size)} bytes"
