"""Small parameters stepped together: one step-kernel call over flat arrays that hold many.

An optimizer's step kernels take one parameter per call, and a call costs a fixed few
microseconds of Python and array set-up whatever the parameter's size; on a network of small
parameters (LeNet's biases and kernels) that fixed cost was most of the update. So
:meth:`corenn.nn.optimizers.Optimizer.update_all` steps the small parameters that share their
step's scalars (same dtype, same learning-rate factor, same step count) together: each such
group's parameters and state arrays are views into one flat array per slot, its gradients are
concatenated into one flat array, and one call of the very same kernel steps them all. The steps
are element-wise with the same scalars for every element, so each element gets exactly the bits
a step of its own parameter gives.
"""

import math

from corenn.backend import array_namespace

# Parameters of at most this many elements are grouped; larger ones are stepped one call each,
# their arithmetic outweighing a call's fixed cost (numpy's blocked kernels handle them).
SMALL_PARAMETER_ELEMENTS = 32768


def n_elements(array):
    """The number of elements of a numpy array or a tensor (whose ``size`` is a method)."""
    return math.prod(array.shape)


def flat_views(flat, shapes):
    """``flat`` cut into consecutive views of ``shapes``."""
    xp = array_namespace(flat)
    views, start = [], 0
    for shape in shapes:
        stop = start + math.prod(shape)
        views.append(xp.reshape(flat[start:stop], shape))
        start = stop
    return views


def concatenated(arrays):
    """The arrays flattened and concatenated into one new flat array."""
    xp = array_namespace(arrays[0])
    return xp.concat([xp.reshape(array, (-1,)) for array in arrays])


class FlatGroup:
    """Parameters stepped together: ``names`` in order, and for ``"param"`` and each state slot
    the flat array and its views (one per parameter, the arrays the model and the optimizer's
    state hold)."""

    def __init__(self, names, shapes):
        self.names = names
        self.shapes = shapes
        self.flat = {}
        self.views = {}

    def set(self, slot, flat):
        """Make ``flat`` the slot's flat array (new views only when it is a new array)."""
        if self.flat.get(slot) is not flat:
            self.flat[slot] = flat
            self.views[slot] = flat_views(flat, self.shapes)
        return self.views[slot]

    def holds(self, slot, arrays):
        """Whether ``arrays`` (one per name) are this group's views of ``slot``, the very objects:
        anything else (a checkpoint restored, a parameter set from outside) makes the group
        gather them again."""
        views = self.views.get(slot)
        return views is not None and all(array is view for array, view in zip(arrays, views, strict=True))
