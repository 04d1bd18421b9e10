"""The window geometry of the core (``corenn.nn.geometry``), plus the views of its padding that
torch's kernels take.

The kernel, stride and padding rules, "same" included, and the output sizes are the core's,
so this backend and the numpy one agree by construction; only how torch is handed the padding
lives here.
"""

import dataclasses

from corenn.nn.geometry import WindowGeometry, window_geometry as core_window_geometry


@dataclasses.dataclass(frozen=True)
class TorchWindowGeometry(WindowGeometry):
    """``WindowGeometry`` with the padding as torch's functions take it."""

    @property
    def symmetric_padding(self):
        """``(rows, cols)`` when each axis is padded equally on both sides (torch's kernels
        then pad themselves), else ``None``."""
        top, bottom, left, right = self.padding
        return (top, left) if top == bottom and left == right else None

    @property
    def torch_pad(self):
        """The padding as ``torch.nn.functional.pad`` takes it for an NCHW tensor."""
        top, bottom, left, right = self.padding
        return (left, right, top, bottom)

    def crop(self, padded_nchw):
        """The input-sized interior of a padded NCHW tensor (a view)."""
        rows, cols = self.interior()
        return padded_nchw[:, :, rows, cols]


def window_geometry(input_shape, kernel, stride, pad, layer):
    """``corenn.nn.geometry.window_geometry``, checked the same way, as a ``TorchWindowGeometry``."""
    return core_window_geometry(input_shape, kernel, stride, pad, layer, TorchWindowGeometry)
