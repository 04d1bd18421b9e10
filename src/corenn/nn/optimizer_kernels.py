"""The numpy backend's kernels of the core's optimizers (:mod:`corenn.nn.optimizers`).

Three routines are kernels. Clipping by norm, because the backends decide differently whether
to scale: numpy on the host, a GPU backend on the device. And the SGD and Adam steps, because
the backends run their formulas (:mod:`corenn.nn.optimizer_formulas`, written once)
differently: on numpy, whole-array expressions over a large parameter make a pass over memory
and often allocate a parameter-sized temporary per operation (Adam's was half of a float32
training step of the ``fmnist-mlp`` preset's 784-1024-512-10 network), so
:func:`optimizer_sgd_step` and :func:`optimizer_adam_step` run the same operations block by
block over flat views of the arrays, with two preallocated block-sized scratch arrays: each
block stays in the CPU's cache across the formula's operations, and nothing is allocated per
step. The results are the same bits (see :mod:`corenn.nn.optimizer_formulas`);
``bench/optimizer_step.py`` measures the gain.
"""

import threading

import numpy as np

from corenn.nn.optimizer_formulas import adam_step, sgd_step

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
    shape and one dtype (the scratch then holds every intermediate exactly). Written as a plain
    loop: it runs for every parameter at every step, small ones included."""
    if type(param) is not np.ndarray or not param.flags.c_contiguous:
        return False
    shape, dtype = param.shape, param.dtype
    for array in others:
        if type(array) is not np.ndarray or array.shape != shape or array.dtype != dtype:
            return False
        if not array.flags.c_contiguous:
            return False
    return True


def _blocks(param, *others):
    """The arrays cut into blocks of at most :data:`BLOCK_ELEMENTS` elements, with the two
    scratch arrays cut to each block's size: ``(scratch, other_scratch, param_block,
    *other_blocks)``. A parameter that fits in one block is one block of its own shape (no flat
    views to make); a larger one is cut from flat views."""
    first, second = _block_scratch(param.dtype)
    size = param.size
    if size <= BLOCK_ELEMENTS:
        yield (first[:size].reshape(param.shape), second[:size].reshape(param.shape), param, *others)
        return
    flat = [array.reshape(-1) for array in (param, *others)]
    for start in range(0, size, BLOCK_ELEMENTS):
        stop = min(start + BLOCK_ELEMENTS, size)
        yield (first[: stop - start], second[: stop - start], *(array[start:stop] for array in flat))


def optimizer_adam_step(param, grad, m, v, scalars):
    """One Adam step (an :class:`~corenn.nn.optimizer_formulas.AdamStep`'s ``scalars``) of
    ``param``, in place on ``param``, ``m`` and ``v``.

    Block by block over flat views when all four arrays are C-contiguous with one shape and
    dtype (a parameter, its gradient and the moments made like it always are); otherwise (a
    non-contiguous view, a gradient of another dtype) on the whole arrays, with scratch made
    for the call.
    """
    if not _blockable(param, grad, m, v):
        gradient_term = np.empty(param.shape, grad.dtype)
        adam_step(np, scalars, param, grad, m, v, gradient_term, np.empty_like(param), np.empty_like(param))
        return param
    for scratch, numerator, param_block, grad_block, m_block, v_block in _blocks(param, grad, m, v):
        adam_step(np, scalars, param_block, grad_block, m_block, v_block, scratch, numerator, scratch)
    return param


def optimizer_sgd_step(param, grad, velocity, scalars):
    """One SGD step (an :class:`~corenn.nn.optimizer_formulas.SGDStep`'s ``scalars``) of
    ``param``, in place on ``param`` and ``velocity``: block by block like
    :func:`optimizer_adam_step`, or on the whole arrays when they are not alike."""
    if not _blockable(param, grad, velocity):
        gradient_dtype = np.result_type(grad, param) if scalars.weight_decay else grad.dtype
        gradient, step_term = np.empty(param.shape, gradient_dtype), np.empty(param.shape, gradient_dtype)
        lookahead = np.empty(param.shape, np.result_type(param, gradient_dtype))
        sgd_step(np, scalars, param, grad, velocity, gradient, step_term, lookahead)
        return param
    for gradient, step_term, param_block, grad_block, velocity_block in _blocks(param, grad, velocity):
        sgd_step(np, scalars, param_block, grad_block, velocity_block, gradient, step_term, gradient)
    return param
