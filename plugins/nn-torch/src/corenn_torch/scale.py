"""A fixed scale on torch tensors: the input multiplied by a constant, such as a softmax temperature."""

from corenn.errors import ShapeError
from corenn.nn.layers import checked_factor

from corenn_torch.layer import TorchLayer, build_activation


class Scale(TorchLayer):
    """``Y = activation(factor * X)`` for a batch of any shape, as on numpy (see
    ``corenn_fc.scale``): ``factor`` (required) is a fixed, finite, non-zero number
    (airbench's ``1/9`` before the softmax), not a parameter, so the layer has none, and
    ``backward`` is ``factor * activation.backward(Z, dL/dY)``. The output keeps the input's
    dtype and device.
    """

    name = "scale"
    example_input_shape = (4, 5)

    def __init__(self, factor=None, activation="linear"):
        super().__init__()
        self.factor = checked_factor(factor)
        self.activation = build_activation(activation, self.name)

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return f"Scale(factor={self.factor!r}, activation={activation!r})"

    def forward(self, X):
        X = self._input(X)
        if X.ndim < 1:
            raise ShapeError(f"scale expects a batch (m, ...), got a scalar of shape {tuple(X.shape)}")
        self.n_in = self.n_out = X.shape[-1] if X.ndim > 1 else 1
        Z = X * self.factor
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        return self._activation_gradient(dLdY) * self.factor
