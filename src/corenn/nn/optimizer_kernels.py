"""The numpy backend's kernels of the core's optimizers (:mod:`corenn.nn.optimizers`).

Two routines are kernels. Clipping by norm, because the backends decide differently whether
to scale: numpy on the host, a GPU backend on the device. And Adam's step, because the
backends run its formula (:func:`corenn.nn.optimizer_formulas.adam_step`, written once)
differently: on numpy, whole-array expressions over a large parameter make a dozen passes
over memory and allocate a parameter-sized temporary for each intermediate (on the
``fmnist-mlp`` preset's 784-1024-512-10 network that was half of a training step), so
:func:`optimizer_adam_step` runs the same operations block by block over flat views of the
arrays, with two preallocated block-sized scratch arrays: each block stays in the CPU's cache
across the formula's operations, and nothing is allocated per step. The results are the
same bits (see :mod:`corenn.nn.optimizer_formulas`); ``bench/optimizer_step.py`` measures the
gain.
"""

import threading

import numpy as np

from corenn.nn.optimizer_formulas import adam_step

# Elements per block: the six arrays a block touches (parameter, gradient, two moments, two
# scratch) take 768 KiB in float32 and 1.5 MiB in float64, within a core's L2 cache, while the
# formula's 15 numpy calls per block stay cheap against their work. On fmnist-mlp's shapes
# 16K-element blocks were slower in both dtypes, and 64K ones no faster in float32 and slower
# in float64.
BLOCK_ELEMENTS = 32768

# Block-sized scratch arrays by dtype, one set per thread (two threads updating at once
# must not share them).
_scratch = threading.local()


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


def _block_scratch(dtype):
    """Two arrays of :data:`BLOCK_ELEMENTS` elements of ``dtype``, made once per thread."""
    arrays = getattr(_scratch, "arrays", None)
    if arrays is None:
        arrays = _scratch.arrays = {}
    pair = arrays.get(dtype)
    if pair is None:
        pair = arrays[dtype] = (np.empty(BLOCK_ELEMENTS, dtype), np.empty(BLOCK_ELEMENTS, dtype))
    return pair


def _blockable(param, *others):
    """Whether the arrays can be walked together as flat views: C-contiguous numpy arrays of one
    shape and one dtype (the scratch then holds every intermediate exactly)."""
    return all(
        type(array) is np.ndarray
        and array.flags.c_contiguous
        and array.shape == param.shape
        and array.dtype == param.dtype
        for array in (param, *others)
    )


def optimizer_adam_step(param, grad, m, v, scalars):
    """One Adam step (an :class:`~corenn.nn.optimizer_formulas.AdamStep`'s ``scalars``) of
    ``param``, in place on ``param``, ``m`` and ``v``.

    Block by block over flat views when all four arrays are C-contiguous with one shape and
    dtype (a parameter, its gradient and the moments made like it always are); otherwise (a
    non-contiguous view, a gradient of another dtype) on the whole arrays, with scratch made
    for the call.
    """
    if not _blockable(param, grad, m, v):
        numerator = np.empty_like(param)
        adam_step(np, scalars, param, grad, m, v, np.empty_like(grad), numerator, np.empty_like(param))
        return param
    flat = [array.reshape(-1) for array in (param, grad, m, v)]
    first, second = _block_scratch(param.dtype)
    size = param.size
    for start in range(0, size, BLOCK_ELEMENTS):
        stop = min(start + BLOCK_ELEMENTS, size)
        scratch, numerator = first[: stop - start], second[: stop - start]
        param_block, grad_block, m_block, v_block = (array[start:stop] for array in flat)
        adam_step(np, scalars, param_block, grad_block, m_block, v_block, scratch, numerator, scratch)
    return param
