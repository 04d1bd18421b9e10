"""The course package's API over corenn: the same modules and names, corenn's components.

A course script or notebook runs on corenn after one changed import::

    from corenn.course import layers            # was: from neural_networks import layers
    import corenn.course as neural_networks     # or keep the name

Every name builds registered corenn components (``corenn.create``) or uses corenn's data,
trainer pieces and run records; nothing here computes a layer, loss or update of its own.
``import corenn`` does not import this package.
"""

from corenn.course import activations, datasets, layers, logs, losses, models, optimizers, schedulers, utils, weights

__all__ = [
    "activations",
    "datasets",
    "layers",
    "logs",
    "losses",
    "models",
    "optimizers",
    "schedulers",
    "utils",
    "weights",
]
