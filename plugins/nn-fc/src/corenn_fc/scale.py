"""A fixed scale: the input multiplied by a constant, such as a softmax temperature."""

from corenn.errors import ShapeError
from corenn.nn.layers import Layer, build_activation, checked_factor


class Scale(Layer):
    """``Y = activation(factor * X)`` for a batch ``X`` of any shape; ``factor`` is fixed.

    airbench multiplies its logits by ``1/9`` before the softmax: a softmax temperature of 9,
    which makes the predicted probabilities softer for the same logits. As a layer: ``scale``
    with ``factor = 1/9`` and ``activation = "softmax"`` after a linear ``fully_connected``,
    and cross-entropy takes the probabilities as usual.

    ``factor`` (required) is a finite number other than 0 (0 would cut every gradient). It is
    a constant, not a parameter, so the layer has no parameters, and ``backward`` is
    ``factor * activation.backward(Z, dL/dY)`` (``factor * dL/dY`` with the default
    ``"linear"``). ``n_in`` and ``n_out`` are the size of the last axis of the latest input.
    The output keeps the input's dtype and device.
    """

    name = "scale"
    example_input_shape = (4, 5)
    example_options = {"factor": 2.0}  # what corenn plugins --check and describe build

    def __init__(self, factor=None, activation="linear"):
        super().__init__()
        self.factor = checked_factor(factor)
        self.activation = build_activation(activation)

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return f"Scale(factor={self.factor!r}, activation={activation!r})"

    def forward(self, X):
        X = self.as_input(X)
        if X.ndim < 1:
            raise ShapeError(f"scale expects a batch (m, ...), got a scalar of shape {tuple(X.shape)}")
        self.n_in = self.n_out = X.shape[-1] if X.ndim > 1 else 1
        Z = X * self.factor
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        return self.activation_gradient(dLdY) * self.factor
