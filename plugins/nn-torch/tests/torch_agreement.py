"""Cross-backend comparison for the tests, and the record of the largest difference seen.

Every comparison goes through :func:`assert_agree`, which records the norm-wise relative error
(``corenn.testing.relative_error``) under the component's name; ``conftest.py`` prints the
largest per component at the end of the run.
"""

import numpy as np
import torch

import corenn
from corenn.testing import relative_error

TOLERANCE = 1e-8
LARGEST = {}


def as_array(value):
    if torch.is_tensor(value):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def assert_agree(component, what, torch_value, numpy_value, tolerance=TOLERANCE):
    """Assert that the torch backend's ``torch_value`` matches the numpy backend's."""
    torch_array, numpy_array = as_array(torch_value), as_array(numpy_value)
    assert torch_array.shape == numpy_array.shape, (
        f"{component} {what}: shape {torch_array.shape} != {numpy_array.shape}"
    )
    error = relative_error(torch_array, numpy_array)
    LARGEST[component] = max(LARGEST.get(component, 0.0), error)
    assert error <= tolerance, f"{component} {what}: relative error {error:.3g} > {tolerance:g}"
    return error


def layer_pair(name, seed=0, **options):
    """The numpy and torch layers of ``name`` with ``options``, drawing weights from one seed."""
    numpy_layer = corenn.create("layer", name, "numpy", **options)
    torch_layer = corenn.create("layer", name, "torch", **options)
    numpy_layer.rng = np.random.default_rng(seed)
    torch_layer.rng = np.random.default_rng(seed)
    return numpy_layer, torch_layer


def compare_layer(label, numpy_layer, torch_layer, X, *, seed=0):
    """Run both layers forward and backward on ``X`` (numpy, float64) and compare everything:
    the initial parameters (bit for bit), the output, dL/dX and every gradient."""
    Y_numpy = numpy_layer.forward(X)
    Y_torch = torch_layer.forward(torch.from_numpy(X.copy()))
    assert list(torch_layer.parameters) == list(numpy_layer.parameters)
    for key, value in numpy_layer.parameters.items():
        np.testing.assert_array_equal(as_array(torch_layer.parameters[key]), value, err_msg=f"{label} initial {key}")
    assert_agree(label, "output", Y_torch, Y_numpy)
    G = np.random.default_rng(seed + 1000).standard_normal(Y_numpy.shape)
    dX_numpy = numpy_layer.backward(G)
    dX_torch = torch_layer.backward(torch.from_numpy(G))
    assert_agree(label, "dL/dX", dX_torch, dX_numpy)
    assert list(torch_layer.gradients) == list(numpy_layer.gradients)
    for key, value in numpy_layer.gradients.items():
        assert_agree(label, f"dL/d{key}", torch_layer.gradients[key], value)
    assert torch_layer.n_in == numpy_layer.n_in and torch_layer.n_out == numpy_layer.n_out
