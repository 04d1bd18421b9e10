"""The base of every component written once: the backend it was built for.

A component (a layer, an activation, a loss, an optimizer) is written once, for every backend:
its bookkeeping works on any backend's arrays, and its math calls declared kernels
(:mod:`corenn.kernels`), which run each backend's overrides on that backend's arrays. What it
needs of a backend beyond that (making arrays, moving them, the dtypes its products may run in)
is the backend object, ``self.backend`` (:class:`corenn.backend.Backend`).
"""

from corenn.backend import current_backend
from corenn.plugins import get_backend


class Component:
    """Records, as the object is made, the backend it is built for: ``self.backend``.

    ``corenn.create(kind, name, backend)`` builds a component inside
    :func:`corenn.backend.building_for`; one made directly (``FullyConnected(10)``) is numpy's.
    The backend is set in ``__new__``, so a subclass's ``__init__`` need not pass anything on
    (nor even call ``super().__init__()``) for its object to know it.
    """

    def __new__(cls, *args, **kwargs):
        component = super().__new__(cls)
        component.backend = get_backend(current_backend())
        return component

    def as_float_on(self, value, device):
        """``value`` as a floating array of this component's backend: an array of the backend's
        own library stays where it is (the caller checks its device), anything else (a numpy
        batch for a torch component, a list) is made on ``device``."""
        return self.backend.as_float_array(value, device=None if self.backend.owns(value) else device)
