"""The components; importing this module is what the discovery tests watch for."""

from collections import OrderedDict

import corenn


class Cube:
    """``Y = Z ** 3``."""

    def forward(self, Z):
        return Z**3

    def backward(self, Z, dY):
        return 3 * Z**2 * dY


class Double:
    """``Y = activation(2 X)``; no parameters."""

    def __init__(self, activation="cube"):
        self.activation = corenn.create("activation", activation)
        self.parameters = OrderedDict()
        self.gradients = OrderedDict()
        self.cache = OrderedDict()
        self.n_in = None
        self.n_out = None

    def forward(self, X):
        self.n_in = self.n_out = X.shape[1]
        self.cache["Z"] = 2 * X
        return self.activation.forward(self.cache["Z"])

    def backward(self, dLdY):
        return 2 * self.activation.backward(self.cache["Z"], dLdY)
