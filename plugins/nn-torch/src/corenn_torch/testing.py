"""torch components seen through numpy arrays, so that :mod:`corenn.testing` checks them.

corenn's checks (finite-difference gradients, protocol conformance) work on numpy arrays:
they perturb parameters in place by indexing and compare dtypes with numpy's. Wrapped in
these adapters, a torch component takes and returns numpy arrays, and its ``parameters`` are
numpy arrays *sharing memory* with its tensors, so the checks' in-place perturbations reach
it. CPU tensors only (sharing memory needs them on the host)::

    from corenn.testing import check_layer_gradients
    from corenn_torch.testing import NumpyFacingLayer

    errors = check_layer_gradients(NumpyFacingLayer(my_torch_layer), X)
"""

from collections import OrderedDict

import numpy as np
import torch


def _to_torch(array):
    return array if torch.is_tensor(array) else torch.from_numpy(np.asarray(array))


def _shared_numpy(tensor):
    """The numpy array over a CPU tensor's memory (no copy)."""
    return tensor.detach().numpy()


class NumpyFacingLayer:
    """A torch layer that takes and returns numpy arrays; ``parameters`` and ``gradients``
    are numpy views of its tensors, and the course's ``Layer`` methods reach the layer."""

    def __init__(self, layer):
        self.layer = layer

    def __repr__(self):
        return f"NumpyFacingLayer({self.layer!r})"

    @property
    def parameters(self):
        return OrderedDict((key, _shared_numpy(value)) for key, value in self.layer.parameters.items())

    @property
    def gradients(self):
        return OrderedDict((key, _shared_numpy(value)) for key, value in self.layer.gradients.items())

    @property
    def cache(self):
        return self.layer.cache

    @property
    def n_in(self):
        return self.layer.n_in

    @property
    def n_out(self):
        return self.layer.n_out

    @property
    def activation(self):
        return self.layer.activation

    @property
    def rng(self):
        return self.layer.rng

    @rng.setter
    def rng(self, generator):
        self.layer.rng = generator

    def forward(self, X):
        return _shared_numpy(self.layer.forward(_to_torch(X)))

    def backward(self, dLdY):
        return _shared_numpy(self.layer.backward(_to_torch(dLdY)))

    def clear_gradients(self):
        self.layer.clear_gradients()

    def forward_with_param(self, param_name, X):
        forward_at = self.layer.forward_with_param(param_name, _to_torch(X))
        return lambda param_value: _shared_numpy(forward_at(_to_torch(param_value)))

    def _get_parameters(self):
        return list(self.parameters.values())

    def _get_cache(self):
        return self.layer._get_cache()

    def _get_gradients(self):
        return list(self.gradients.values())


class NumpyFacingActivation:
    """A torch activation that takes and returns numpy arrays."""

    def __init__(self, activation):
        self.activation = activation
        self.name = getattr(activation, "name", type(activation).__name__.lower())

    def __repr__(self):
        return f"NumpyFacingActivation({self.activation!r})"

    def __call__(self, Z):
        return self.forward(Z)

    def forward(self, Z):
        return _shared_numpy(self.activation.forward(_to_torch(Z)))

    def backward(self, Z, dY):
        return _shared_numpy(self.activation.backward(_to_torch(Z), _to_torch(dY)))


class NumpyFacingLoss:
    """A torch loss that takes and returns numpy arrays (``forward`` gives a float already)."""

    def __init__(self, loss):
        self.loss = loss

    def __repr__(self):
        return f"NumpyFacingLoss({self.loss!r})"

    def __call__(self, Y, Y_hat):
        return self.forward(Y, Y_hat)

    def forward(self, Y, Y_hat):
        return self.loss.forward(_to_torch(Y), _to_torch(Y_hat))

    def backward(self, Y, Y_hat):
        return _shared_numpy(self.loss.backward(_to_torch(Y), _to_torch(Y_hat)))
