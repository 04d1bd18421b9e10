"""A layer seen with its randomness frozen, so that finite differences can check it.

A gradient check calls ``forward`` many times and compares the outputs; a dropout mask drawn
afresh at each call would change the function between calls. ``FixedRandomness`` hands the
layer a generator of the same seed before every forward, so every call draws the same mask.
Run one forward first when the layer makes its parameters lazily: that first call also draws
the weights, and the masks of later calls would then differ from the first one's.
"""

import numpy as np


class FixedRandomness:
    def __init__(self, layer, seed=0):
        self.layer = layer
        self.seed = seed

    def __getattr__(self, name):
        return getattr(self.layer, name)

    def forward(self, X):
        self.layer.rng = np.random.default_rng(self.seed)
        return self.layer.forward(X)

    def backward(self, dLdY):
        return self.layer.backward(dLdY)
