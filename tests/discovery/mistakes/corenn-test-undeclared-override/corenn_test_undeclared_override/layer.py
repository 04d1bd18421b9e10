"""``Y = factor * X``: a layer whose math is the declared kernel ``scaled``."""

from corenn.kernels import kernel
from corenn.nn.layers import Layer


@kernel
def scaled(X, factor):
    """``factor * X``."""
    return X * factor


class Scaled(Layer):
    name = "scaled"
    example_input_shape = (4, 5)

    def __init__(self, factor=2.0):
        super().__init__()
        self.factor = factor

    def forward(self, X):
        self.n_in = self.n_out = X.shape[-1]
        return scaled(X, self.factor)

    def backward(self, dLdY):
        return scaled(dLdY, self.factor)
