"""The torch backend's override of the dropout kernel: the keep mask, decided by the layer's
numpy generator.

The kernel and the layer are ``corenn_fc.dropout`` (the layer's docstring says where the masks
come from).
"""

import torch

from corenn.kernels import override

SEED_BOUND = 2**63  # torch generators take seeds below 2**64; numpy draws int64 below 2**63

_device_generators = {}  # device -> a torch generator there, reseeded for every mask


@override("corenn_fc.dropout:dropout_mask")
def dropout_mask(X, rate, rng):
    """A boolean keep mask of ``X``'s shape on ``X``'s device, a function of the numpy
    generator ``rng``'s state alone.

    On the CPU it is the numpy backend's mask (``rng.random(shape) >= rate``); on another
    device one seed drawn from ``rng`` reseeds a generator there, which draws the mask where it
    is used (see :func:`seeded_keep_mask`).
    """
    if X.device.type == "cpu":
        return torch.from_numpy(rng.random(tuple(X.shape)) >= rate).to(X.device)
    generator = _device_generators.get(X.device)
    if generator is None:
        generator = _device_generators[X.device] = torch.Generator(device=X.device)
    seed = int(rng.integers(SEED_BOUND))
    return seeded_keep_mask(generator, seed, X.shape, rate, X.device)


def seeded_keep_mask(generator, seed, shape, rate, device):
    """A mask drawn on ``device`` by ``generator`` reseeded with ``seed``: a function of
    ``seed`` alone, made where it is used."""
    generator.manual_seed(seed)
    return torch.rand(tuple(shape), generator=generator, device=device) >= rate
