"""numpy's overrides of the optimizers' step kernels (declared in :mod:`corenn.nn.optimizers`).

On numpy, the references' whole-array formulas over a large parameter make a pass over memory
and often allocate a parameter-sized temporary per operation (Adam's was half of a float32
training step of the ``fmnist-mlp`` preset's 784-1024-512-10 network). So these run the same
operations (:mod:`corenn.nn.optimizer_formulas`) block by block over flat views of the arrays,
with two preallocated block-sized scratch arrays: each block stays in the CPU's cache across the
formula's operations, and nothing is allocated per step. They write the new values into the
parameter and state arrays they are given and return those very arrays, with the reference's
bits (``tests/test_optimizer_kernels.py`` checks it; ``bench/optimizer_step.py`` measures the
gain). Registered for numpy by :mod:`corenn.builtins`.
"""

import threading

import numpy as np

from corenn.kernels import override
from corenn.nn.optimizer_formulas import adam_step_in_place, sgd_step_in_place
from corenn.nn.optimizers import adam_step, sgd_step

# Elements per block: the six arrays a block touches (parameter, gradient, two moments, two
# scratch) take 768 KiB in float32 and 1.5 MiB in float64, within a core's L2 cache, while the
# formula's 15 numpy calls per block stay cheap against their work. On fmnist-mlp's shapes
# 16K-element blocks were slower in both dtypes, and 64K ones no faster in float32 and slower
# in float64.
BLOCK_ELEMENTS = 32768

# Block-sized scratch arrays by dtype, one set per thread (two threads updating at once
# must not share them).
_scratch = threading.local()


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


@override(adam_step)
def adam_step_blocked(param, grad, m, v, scalars):
    """One Adam step, written into ``param``, ``m`` and ``v``, which it returns.

    Block by block over flat views when all four arrays are C-contiguous with one shape and
    dtype (a parameter, its gradient and the moments made like it always are); otherwise (a
    non-contiguous view, a gradient of another dtype) on the whole arrays, with scratch made
    for the call.
    """
    if not _blockable(param, grad, m, v):
        gradient_term = np.empty(param.shape, grad.dtype)
        adam_step_in_place(np, scalars, param, grad, m, v, gradient_term, np.empty_like(param), np.empty_like(param))
        return param, m, v
    for scratch, numerator, param_block, grad_block, m_block, v_block in _blocks(param, grad, m, v):
        adam_step_in_place(np, scalars, param_block, grad_block, m_block, v_block, scratch, numerator, scratch)
    return param, m, v


@override(sgd_step)
def sgd_step_blocked(param, grad, velocity, scalars):
    """One SGD step, written into ``param`` and ``velocity``, which it returns: block by block
    like :func:`adam_step_blocked`, or on the whole arrays when they are not alike."""
    if not _blockable(param, grad, velocity):
        gradient_dtype = np.result_type(grad, param) if scalars.weight_decay else grad.dtype
        gradient, step_term = np.empty(param.shape, gradient_dtype), np.empty(param.shape, gradient_dtype)
        lookahead = np.empty(param.shape, np.result_type(param, gradient_dtype))
        sgd_step_in_place(np, scalars, param, grad, velocity, gradient, step_term, lookahead)
        return param, velocity
    for gradient, step_term, param_block, grad_block, velocity_block in _blocks(param, grad, velocity):
        sgd_step_in_place(np, scalars, param_block, grad_block, velocity_block, gradient, step_term, gradient)
    return param, velocity
