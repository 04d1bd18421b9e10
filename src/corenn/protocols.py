"""The shapes of corenn's components, as runtime-checkable protocols.

They follow the course package's API so that course code and tests port over unchanged.
``isinstance(obj, Layer)`` checks only that the attributes exist; ``corenn.testing`` checks
that they behave.
"""

from typing import Protocol, runtime_checkable


@runtime_checkable
class Activation(Protocol):
    """An elementwise (or row-wise, like softmax) function of a layer's pre-activation ``Z``."""

    def forward(self, Z):
        """``Y = f(Z)``."""

    def backward(self, Z, dY):
        """``dL/dZ`` given ``Z`` and ``dY = dL/dY``."""


@runtime_checkable
class Layer(Protocol):
    """A layer: ``parameters``, ``gradients`` and ``cache`` are OrderedDicts (weights under
    ``"W"``, bias under ``"b"``); parameters are made lazily at the first forward, from the
    input's shape, which also sets ``n_in``."""

    parameters: dict
    gradients: dict
    cache: dict
    n_in: object
    n_out: object

    def forward(self, X):
        """The layer's output; fills ``cache`` with what ``backward`` needs."""

    def backward(self, dLdY):
        """Fills ``gradients`` (same keys and shapes as ``parameters``) and returns ``dL/dX``."""


@runtime_checkable
class Loss(Protocol):
    """A loss over a mini-batch of targets ``Y`` and predictions ``Y_hat`` (same shape)."""

    def forward(self, Y, Y_hat):
        """The mean loss over the batch, a float."""

    def backward(self, Y, Y_hat):
        """``dL/dY_hat`` for the mean loss."""


@runtime_checkable
class Optimizer(Protocol):
    """Updates parameters from their gradients; ``lr`` is set by the scheduler each step."""

    lr: float

    def update(self, param_name, param, param_grad):
        """Returns the updated parameter (numpy optimizers update ``param`` in place).

        ``param_name`` is unique per parameter in the model (``"0.W"``) and keys any state,
        like momentum.
        """

    def state_dict(self):
        """The optimizer's state as a dict of arrays and floats (for checkpoints)."""

    def load_state_dict(self, state):
        """Restore what ``state_dict`` returned."""


@runtime_checkable
class Scheduler(Protocol):
    """The learning rate as a function of the number of optimizer steps taken."""

    def __call__(self, step):
        """The learning rate for update number ``step`` (counting from 0)."""


@runtime_checkable
class Initializer(Protocol):
    """Makes a parameter array of a given shape."""

    def __call__(self, shape, rng):
        """A new array of ``shape`` drawn from ``rng`` (a ``numpy.random.Generator``)."""
