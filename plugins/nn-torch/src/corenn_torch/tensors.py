"""Turning what a component is given into torch tensors, and tensors back into numpy arrays.

Components accept torch tensors and, for convenience (tests, the numpy-built model's first
zero batch), anything numpy accepts. Floating tensors keep their dtype and device; integer or
boolean inputs become float64, as on the numpy backend.
"""

import numpy as np
import torch

from corenn.errors import CorennError


def as_float_tensor(value, *, device=None):
    """``value`` as a floating tensor.

    A tensor stays on its device (integer tensors become float64 there); anything else becomes
    a tensor on ``device`` (the CPU when ``None``), sharing memory with a CPU numpy array when
    it can.
    """
    if not torch.is_tensor(value):
        array = np.asarray(value)
        if not np.issubdtype(array.dtype, np.floating):
            array = array.astype(np.float64)
        value = torch.as_tensor(array, device=device)
    if not value.is_floating_point():
        value = value.to(torch.float64)
    return value


def like(value, reference):
    """``value`` as a tensor of ``reference``'s dtype on ``reference``'s device."""
    if torch.is_tensor(value):
        return value.to(device=reference.device, dtype=reference.dtype)
    return torch.as_tensor(np.asarray(value), dtype=reference.dtype, device=reference.device)


def to_numpy(value):
    """A numpy copy of a tensor (from any device), or of anything numpy accepts."""
    if torch.is_tensor(value):
        return value.detach().cpu().numpy().copy()
    return np.array(value, copy=True)


def check_same_device(component, tensor, expected_device):
    """Raise when an input is on another device than the component's parameters (or than
    the forward pass that ``backward`` follows).

    Moving it silently would hide a host-to-device copy in every step; the caller moves its
    batches (or the component, with ``.to(device)``) once instead.
    """
    if tensor.device != expected_device:
        raise CorennError(
            f"{component}: the input is on {tensor.device} but the layer works on "
            f"{expected_device}; move the batch with .to({str(expected_device)!r}) or the layer "
            f"with layer.to({str(tensor.device)!r})"
        )
