"""The initializers on the torch backend: numpy's, handed over as tensors.

Each name wraps the core's factory of the same name (same options, same checks, same
formulas) and turns the array it draws into a CPU float64 tensor with ``torch.from_numpy``.
Drawing from the numpy Generator rather than from torch's own generator is the point: a seed
gives bit-identical weights on both backends, so a run can switch backends and a
cross-backend test can start both from the same weights. Layers move the tensor to their
input's dtype and device.
"""

import functools

import torch

from corenn.nn import initializers as numpy_initializers


def _on_torch(numpy_factory):
    """A factory with ``numpy_factory``'s signature whose ``init(shape, rng)`` gives tensors."""

    @functools.wraps(numpy_factory)  # keeps the signature, so corenn.create checks its options
    def factory(*args, **kwargs):
        draw = numpy_factory(*args, **kwargs)

        def init(shape, rng=None):
            return torch.from_numpy(draw(shape, rng))

        return init

    return factory


zeros = _on_torch(numpy_initializers.zeros)
ones = _on_torch(numpy_initializers.ones)
identity = _on_torch(numpy_initializers.identity)
uniform = _on_torch(numpy_initializers.uniform)
normal = _on_torch(numpy_initializers.normal)
constant = _on_torch(numpy_initializers.constant)
sparse = _on_torch(numpy_initializers.sparse)
he_uniform = _on_torch(numpy_initializers.he_uniform)
he_normal = _on_torch(numpy_initializers.he_normal)
xavier_uniform = _on_torch(numpy_initializers.xavier_uniform)
xavier_normal = _on_torch(numpy_initializers.xavier_normal)
dirac = _on_torch(numpy_initializers.dirac)
