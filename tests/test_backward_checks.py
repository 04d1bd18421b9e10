"""The check after each layer's backward: the layer that makes a wrong gradient is blamed,
by the model, inside a residual block, and by corenn.testing's gradient checks."""

from collections import OrderedDict

import numpy as np
import pytest

import corenn
from corenn.errors import ShapeError
from corenn.nn.backward_checks import check_backward
from corenn.nn.model import Sequential
from corenn.testing import check_layer_gradients, gradcheck, perturb_parameters


class Scale:
    """``Y = X * gamma``, gamma (n,) starting at 1; ``mistake`` picks what backward gets wrong."""

    name = "scale_by_gamma"

    def __init__(self, mistake=None):
        self.mistake = mistake
        self.parameters, self.gradients, self.cache = OrderedDict(), OrderedDict(), OrderedDict()
        self.n_in = self.n_out = None

    def forward(self, X):
        if "gamma" not in self.parameters:
            self.n_in = self.n_out = X.shape[1]
            self.parameters["gamma"] = np.ones(X.shape[1], dtype=X.dtype)
        self.cache["X"] = X
        return X * self.parameters["gamma"]

    def backward(self, dLdY):
        X, gamma = self.cache["X"], self.parameters["gamma"]
        grad = (dLdY * X).sum(axis=0)
        self.gradients["gamma"] = {
            "row": grad[None, :],
            "float32": grad.astype(np.float32),
            "missing": None,
        }.get(self.mistake, grad)
        if self.gradients["gamma"] is None:
            del self.gradients["gamma"]
        if self.mistake == "short_dX":
            return (dLdY * gamma)[:, :-1]
        if self.mistake == "ignores_gamma":
            return dLdY
        return dLdY * gamma


def model_of(*layers):
    return Sequential([corenn.create("layer", "fully_connected", n_out=4, activation="tanh"), *layers])


def backward_error(model, X=None):
    Y = model.forward(np.ones((3, 5)) if X is None else X)
    with pytest.raises(ShapeError) as error:
        model.backward(np.ones_like(Y))
    return str(error.value)


@pytest.mark.parametrize(
    "mistake, message",
    [
        ("short_dX", "backward returned dL/dX of shape (3, 3); it must have the shape of the layer's input, (3, 4)"),
        (
            "row",
            "backward made gradients['gamma'] of shape (1, 4); it must have the shape of parameters['gamma'], (4,)",
        ),
        (
            "float32",
            "backward made gradients['gamma'] of dtype float32; it must have the dtype of parameters['gamma'], float64",
        ),
        ("missing", "backward left gradients['gamma'] unset; it must fill one gradient per parameter"),
    ],
)
def test_the_model_blames_the_layer_that_made_the_gradient(mistake, message):
    assert backward_error(model_of(Scale(mistake))) == f"layers[1] (Scale): {message}"


def test_the_first_layer_is_checked_too():
    model = Sequential([Scale("short_dX")])
    assert backward_error(model, np.ones((3, 4))).startswith(
        "layers[0] (Scale): backward returned dL/dX of shape (3, 3)"
    )


def test_a_registered_layer_is_named_with_its_plugin():
    model = Sequential.from_config([corenn.run.config.ComponentConfig("fully_connected", {"n_out": 2})], n_classes=2)
    model.forward(np.ones((3, 5)))
    model.layers[0].backward = lambda dLdY: np.ones((3, 4))
    with pytest.raises(
        ShapeError, match=r"^layers\[0\] \(fully_connected, from corenn-fc\): backward returned dL/dX of shape \(3, 4\)"
    ):
        model.backward(np.ones((3, 2)))


class SkipsInputGradient(Scale):
    """Returns no dL/dX when told it is not needed, as the torch layers do for the first layer."""

    needs_input_gradient = True

    def backward(self, dLdY):
        dX = super().backward(dLdY)
        return dX if self.needs_input_gradient else None


def test_a_first_layer_told_to_skip_its_input_gradient_may_return_none():
    model = Sequential([SkipsInputGradient()]).skip_input_gradient()
    model.forward(np.ones((3, 2)))
    assert model.backward(np.ones((3, 2))) is None
    model.layers[0].needs_input_gradient = True
    model.layers[0].backward = lambda dLdY: None
    with pytest.raises(
        ShapeError, match=r"backward returned None; it must return dL/dX, of the input's shape \(3, 2\)"
    ):
        model.backward(np.ones((3, 2)))


def test_inside_a_residual_block_the_inner_layer_is_blamed():
    residual = corenn.create("layer", "residual", layers=[Scale("short_dX")], activation="linear")
    message = backward_error(model_of(residual))
    assert message == (
        "layers[1] (Residual): residual layers[0] (scale_by_gamma): backward returned dL/dX of shape (3, 3); "
        "it must have the shape of the layer's input, (3, 4)"
    )


def test_check_backward_passes_a_right_backward():
    layer = Scale()
    X = np.ones((2, 3))
    layer.forward(X)
    check_backward(layer, X.shape, layer.backward(np.ones((2, 3))), "here")


def test_gradient_checks_report_a_wrong_shape_as_an_assertion():
    with pytest.raises(
        AssertionError, match=r"^layer scale_by_gamma: backward made gradients\['gamma'\] of shape \(1, 4\)"
    ):
        check_layer_gradients(Scale("row"), np.ones((3, 4)))


def test_gradient_checks_perturb_the_parameters_first():
    X = np.random.default_rng(0).normal(size=(3, 4))
    assert max(check_layer_gradients(Scale(), X).values()) < 1e-6
    assert check_layer_gradients(Scale("ignores_gamma"), X)["X"] > 1e-2
    assert check_layer_gradients(Scale("ignores_gamma"), X, perturb=False)["X"] < 1e-6  # gamma = 1 hides it


def test_perturb_parameters_moves_every_parameter():
    layer = corenn.create("layer", "fully_connected", n_out=3)
    layer.forward(np.ones((2, 4)))
    before = {key: value.copy() for key, value in layer.parameters.items()}
    perturb_parameters(layer, seed=1)
    for key, value in layer.parameters.items():
        assert np.all(value != before[key]), key
    assert np.abs(layer.parameters["b"]).max() < 1.0  # zeros move by about 0.1, not by their (zero) size


def test_gradcheck_says_whether_it_perturbed():
    assert gradcheck("layer", "fully_connected", {"n_out": 2}).perturbed is True
    assert gradcheck("layer", "fully_connected", {"n_out": 2}, perturb=False).perturbed is False
    assert gradcheck("activation", "tanh").perturbed is False  # an activation has no parameters
