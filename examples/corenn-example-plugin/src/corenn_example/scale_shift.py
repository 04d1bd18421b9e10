"""The scale_shift layer: a learnable scale and shift for each feature.

``Y = activation(X * W + b)`` with ``W`` and ``b`` of shape (1, n), broadcast over the batch;
the layer keeps the number of features (``n_in = n_out = n``, read from the first input). It is
the affine half of batch normalisation, without the normalisation.

Written once, for every backend: ``corenn.nn.layers.Layer`` takes inputs in as the backend's
arrays (``_input``), makes the weights from a numpy draw (``init_weights``, so a seed gives
the same weights on every backend) and checks the gradient it gets (``activation_gradient``);
the rest is arithmetic every array library has.
"""

from corenn.backend import array_namespace, device_of
from corenn.errors import ShapeError
from corenn.nn.layers import Layer, build_activation, build_initializer


class ScaleShift(Layer):
    """``Y = activation(X * W + b)`` for a batch ``X`` of shape (m, n).

    ``W`` comes from the ``weight_init`` initializer (default ``"ones"``, so the layer starts as
    the identity) drawing on ``self.rng``, ``b`` starts at zero; both are made at the first
    forward, in the input's dtype and on its device. The gradients::

        dZ = activation.backward(Z, dL/dY)
        dL/dW = sum over the batch of dZ * X
        dL/db = sum over the batch of dZ
        dL/dX = dZ * W
    """

    name = "scale_shift"
    example_input_shape = (4, 5)

    def __init__(self, activation="linear", weight_init="ones"):
        super().__init__()
        self.activation = build_activation(activation)
        self.weight_init = weight_init
        self._initializer = build_initializer(weight_init, self.activation)

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return f"ScaleShift(activation={activation!r}, weight_init={self.weight_init!r})"

    def forward(self, X):
        X = self.as_input(X)
        if X.ndim != 2:
            raise ShapeError(f"scale_shift expects a 2-d input of shape (m, n), got shape {tuple(X.shape)}")
        if "W" not in self.parameters:
            self._init_parameters(X.shape, X.dtype, device_of(X))
        # Parameters may also have been set from outside (a loaded checkpoint): W decides n.
        self.n_in = self.n_out = self.parameters["W"].shape[1]
        if X.shape[1] != self.n_in:
            raise ShapeError(f"scale_shift expects input of shape (m, {self.n_in}), got shape {tuple(X.shape)}")
        Z = X * self.parameters["W"] + self.parameters["b"]
        self.cache["X"] = X
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        dZ = self.activation_gradient(dLdY)
        xp = array_namespace(dZ)
        self.gradients["W"] = xp.sum(dZ * self.cache["X"], axis=0, keepdims=True)
        self.gradients["b"] = xp.sum(dZ, axis=0, keepdims=True)
        return dZ * self.parameters["W"]

    def _init_parameters(self, X_shape, dtype, device=None):
        """Make ``W`` (from the initializer, on ``self.rng``) and a zero ``b`` of shape (1, n) for
        inputs of shape ``X_shape`` ``(m, n)``, in ``dtype`` on ``device``; ``init_weights``
        (from ``corenn.nn.layers.Layer``) also makes their zero gradients."""
        n = X_shape[1]
        if n < 1:
            raise ShapeError(f"scale_shift needs at least one input feature, got input of shape (m, {n})")
        self.init_weights((1, n), self._initializer, self.weight_init, dtype, device)
