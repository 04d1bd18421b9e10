"""Array helpers the components of this package share, for any backend's arrays.

Both keep the hot paths free of per-call lookups: an array's namespace depends on its type
alone, so it is looked up once per type, and a cast to the dtype an array already has costs a
comparison.
"""

from corenn.nn.kernels import array_namespace

_namespaces = {}  # array type -> its array API namespace


def namespace(array):
    """The array API namespace of ``array`` (``corenn.nn.kernels.array_namespace``), kept per type."""
    xp = _namespaces.get(type(array))
    if xp is None:
        xp = _namespaces[type(array)] = array_namespace(array)
    return xp


def as_dtype(array, dtype):
    """``array`` in ``dtype``: itself when it has it, else a cast copy."""
    return array if array.dtype == dtype else namespace(array).astype(array, dtype)
