"""corenn.testing's checks catch wrong math (issue 21, item 2): a gradient of the right shape but
the wrong values, a wrong shape that every backend shares, an optimizer that steps wrong, loses
its state in a checkpoint or writes into its inputs, and the kinds without gradients."""

from collections import OrderedDict

import numpy as np
import pytest

import corenn
from corenn.backend import array_namespace
from corenn.nn.layers import Activation, Layer
from corenn.nn.losses import L2
from corenn.nn.optimizers import SGD, Adam, Optimizer
from corenn.numpy_backend import NumpyBackend
from corenn.testing import (
    check_across_backends,
    check_activation_conformance,
    check_dataset_conformance,
    check_initializer_conformance,
    check_layer_conformance,
    check_loss_conformance,
    check_optimizer_conformance,
    check_scheduler_conformance,
    plugin_system_from,
    plugins_in_use,
)

# Layers: Y = X * W + b, W and b of shape (1, n), right and wrong


class Scale(Layer):
    name = "scale_right"
    example_input_shape = (4, 5)

    def forward(self, X):
        X = self.as_input(X)
        if "W" not in self.parameters:
            self.n_in = self.n_out = X.shape[1]
            rng = np.random.default_rng(0)
            W = self.backend.asarray(rng.normal(size=(1, X.shape[1])), dtype=X.dtype)
            self.make_parameters(W=W, b=self.backend.asarray(np.zeros((1, X.shape[1])), dtype=X.dtype))
        self.cache["X"] = X
        return X * self.parameters["W"] + self.parameters["b"]

    def backward(self, dLdY):
        xp = array_namespace(dLdY)
        self.gradients["W"] = self.weight_gradient(dLdY)
        self.gradients["b"] = self.bias_gradient(xp, dLdY)
        return self.input_gradient(xp, dLdY)

    def weight_gradient(self, dLdY):
        return array_namespace(dLdY).sum(dLdY * self.cache["X"], axis=0, keepdims=True)

    def bias_gradient(self, xp, dLdY):
        return xp.sum(dLdY, axis=0, keepdims=True)

    def input_gradient(self, xp, dLdY):
        return dLdY * self.parameters["W"]


class ForgetsTheInput(Scale):
    """WRONG: dL/dW without the input, the sum of dL/dY alone: the right shape."""

    name = "forgets_the_input"

    def weight_gradient(self, dLdY):
        return array_namespace(dLdY).sum(dLdY, axis=0, keepdims=True)


class PaddedInputGradient(Scale):
    """WRONG: dL/dX a column too wide, on every backend alike."""

    name = "padded"

    def input_gradient(self, xp, dLdY):
        return xp.concat([dLdY * self.parameters["W"], xp.zeros_like(dLdY[:, :1])], axis=1)


class FlatBiasGradient(Scale):
    """WRONG: dL/db of shape (n,) for a (1, n) bias."""

    name = "flat_bias"

    def bias_gradient(self, xp, dLdY):
        return xp.sum(dLdY, axis=0)


class Square(Activation):
    name = "square_wrong"

    def forward(self, Z):
        return self.backend.as_float_array(Z) ** 2

    def backward(self, Z, dY):
        return 3 * self.backend.as_float_array(Z) * dY  # WRONG: 3 Z instead of 2 Z


class L2WithoutTheMean(L2):
    name = "l2_without_the_mean"

    def backward(self, Y, Y_hat):
        Y, Y_hat = self.as_pair(Y, Y_hat)
        return Y_hat - Y  # WRONG: the forward is a mean over the batch, this is the sum's gradient


class MirrorBackend(NumpyBackend):
    name = "mirror"
    array_module = None


class Components:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("backend", "mirror", MirrorBackend)
        for layer in (Scale, ForgetsTheInput, PaddedInputGradient, FlatBiasGradient):
            register("layer", layer.name, layer, backend="any")
        register("activation", "square_wrong", Square, backend="any")


@pytest.fixture
def components():
    with plugins_in_use(plugin_system_from(Components)) as system:
        yield system


def test_the_right_layer_passes_on_every_backend_it_is_registered_for(components):
    check_layer_conformance(Scale)
    assert check_across_backends("layer", "scale_right", backends=("numpy", "mirror")).passed


def test_a_wrong_gradient_of_the_right_shape_fails_the_conformance_check(components):
    with pytest.raises(AssertionError) as raised:
        check_layer_conformance(ForgetsTheInput)
    assert str(raised.value).startswith(
        "ForgetsTheInput (forgets_the_input) on numpy: dL/dW differs from finite differences by a relative error of "
    )
    assert str(raised.value).endswith("its backward computes a wrong gradient (of the right shape)")


def test_the_conformance_check_runs_on_each_backend_it_is_registered_for(components):
    with pytest.raises(AssertionError, match="on mirror: dL/dW differs"):
        check_layer_conformance(ForgetsTheInput, backends=("mirror",))


def test_an_unregistered_layer_is_checked_on_numpy_only(components):
    class Unregistered(ForgetsTheInput):
        name = "nowhere"

    from corenn.testing import conformance_backends

    assert conformance_backends("layer", Unregistered()) == ("numpy",)
    assert "mirror" in conformance_backends("layer", ForgetsTheInput())


@pytest.mark.parametrize(
    "name, failure",
    [
        ("padded", "backward returned dL/dX of shape (4, 6); it must have the shape of the layer's input, (4, 5)"),
        ("flat_bias", "backward made gradients['b'] of shape (5,); it must have the shape of parameters['b'], (1, 5)"),
    ],
)
def test_a_wrong_shape_that_both_backends_share_fails_check_across_backends(components, name, failure):
    report = check_across_backends("layer", name, backends=("numpy", "mirror"))
    assert not report.passed
    assert report.failures == (f"numpy {failure}", f"mirror {failure}")
    assert f"failure: numpy {failure}" in str(report)


def test_a_wrong_activation_gradient_fails_its_conformance_check(components):
    with pytest.raises(
        AssertionError, match=r"Square \(square_wrong\) on numpy: dL/dZ differs from finite differences"
    ):
        check_activation_conformance(Square())


def test_a_wrong_loss_gradient_fails_its_conformance_check():
    check_loss_conformance(L2())
    with pytest.raises(AssertionError, match=r"L2WithoutTheMean \(l2_without_the_mean\) on numpy: dL/dY_hat differs"):
        check_loss_conformance(L2WithoutTheMean())


# Optimizers


def sgd_reference(param, grad, state, lr, *, momentum=0.9):
    state["velocity"] = momentum * state.get("velocity", 0.0) - lr * grad
    return param + state["velocity"]


def adam_reference(param, grad, state, lr, *, beta1=0.9, beta2=0.999, epsilon=1e-8):
    t = state["t"] = state.get("t", 0) + 1
    m = state["m"] = beta1 * state.get("m", 0.0) + (1 - beta1) * grad
    v = state["v"] = beta2 * state.get("v", 0.0) + (1 - beta2) * grad**2
    return param - lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + epsilon)


def test_the_built_in_optimizers_conform_to_their_formulas():
    largest = check_optimizer_conformance(lambda: SGD(lr=0.1, momentum=0.9), sgd_reference)
    assert largest["numpy"] <= 1e-14
    largest = check_optimizer_conformance(lambda: Adam(lr=0.01), adam_reference, steps=5)
    assert largest["numpy"] <= 1e-12


class CachesTheRate(Optimizer):
    """WRONG: reads lr once, so a scheduler's changes never reach it."""

    def __init__(self, lr=0.1):
        super().__init__()
        self.lr = lr
        self._rate = lr

    def update(self, param_name, param, param_grad):
        return param - self._rate * param_grad


class LosesItsState(SGD):
    """WRONG: state_dict() leaves out the velocities, so a resumed run starts them from zero."""

    def state_dict(self):
        return {"lr": self.lr}


class ClipsInPlace(SGD):
    """WRONG: scales the layer's gradient in place."""

    def update(self, param_name, param, param_grad, lr_scale=1.0):
        param_grad *= 0.5
        return super().update(param_name, param, param_grad, lr_scale)


class StepsInPlace(Optimizer):
    """WRONG: writes the step into the parameter it was given (only a backend's fast kernel may)."""

    def __init__(self, lr=0.1):
        super().__init__()
        self.lr = lr

    def update(self, param_name, param, param_grad):
        param -= self.lr * param_grad
        return param


def plain_step(param, grad, state, lr):
    return param - lr * grad


@pytest.mark.parametrize(
    "make, reference, message",
    [
        (CachesTheRate, plain_step, "CachesTheRate on numpy: 0.W after step 2 differs from the reference"),
        (
            lambda: LosesItsState(lr=0.1, momentum=0.9),
            sgd_reference,
            "LosesItsState: after a checkpoint (state_dict, saved, loaded into a new LosesItsState with "
            "load_state_dict) the next updates of 0.W differ",
        ),
        (
            lambda: ClipsInPlace(lr=0.1, momentum=0.9),
            lambda param, grad, state, lr: sgd_reference(param, 0.5 * grad, state, lr),
            "ClipsInPlace.update changed the gradient it was given (0.W)",
        ),
        (StepsInPlace, plain_step, "StepsInPlace.update wrote into an array it was given"),
    ],
    ids=["cached-lr", "lost-state", "writes-the-gradient", "writes-the-parameter"],
)
def test_an_optimizer_mistake_fails_the_optimizer_check(make, reference, message):
    with pytest.raises(AssertionError) as raised:
        check_optimizer_conformance(make, reference)
    assert str(raised.value).startswith(message), str(raised.value)


def test_check_across_backends_compares_an_optimizers_steps_and_state(components):
    report = check_across_backends("optimizer", "adam", {"lr": 0.01}, backends=("numpy", "mirror"))
    assert report.passed, report
    assert {"0.W after step 1", "0.b after step 3", "state m/0.W", "state v/0.b"} <= set(report.errors["mirror"])


# The kinds without gradients


def test_the_built_in_schedulers_initializers_and_iris_conform():
    from corenn.data.iris import load_iris
    from corenn.nn import initializers, schedulers

    check_scheduler_conformance(schedulers.Constant)
    check_scheduler_conformance(lambda lr: schedulers.OneCycle(lr, total_steps=500))
    for name in ("zeros", "uniform", "he_normal", "xavier_uniform", "sparse"):
        check_initializer_conformance(getattr(initializers, name))
    assert check_dataset_conformance(load_iris).n_classes == 3


class Stateful:
    """WRONG: counts its calls instead of reading the step."""

    def __init__(self, initial_lr):
        self.initial_lr, self.calls = initial_lr, 0

    def __call__(self, step):
        self.calls += 1
        return self.initial_lr / self.calls


def ignores_the_generator(activation=None):
    return lambda shape, rng: np.random.default_rng().normal(size=shape)


def wrong_labels(data_dir=None):
    from corenn.data.splits import DatasetSplits, Split

    X = np.zeros((4, 2))
    return DatasetSplits("wrong", Split(X, [0, 1, 2, 0]), None, None, class_names=("a", "b"))


@pytest.mark.parametrize(
    "check, argument, message",
    [
        (check_scheduler_conformance, Stateful, "Stateful(10000) changed when asked again"),
        (check_initializer_conformance, ignores_the_generator, "ignores_the_generator: two draws of shape (5, 3)"),
        (check_dataset_conformance, wrong_labels, "wrong_labels: train labels outside 0..1"),
    ],
)
def test_a_mistake_of_the_kinds_without_gradients_fails_its_check(check, argument, message):
    with pytest.raises(AssertionError) as raised:
        check(argument)
    assert str(raised.value).startswith(message), str(raised.value)


def test_a_layer_made_without_the_base_class_is_refused_by_name():
    class Bare:
        parameters = gradients = cache = OrderedDict()
        n_in = n_out = None

        def forward(self, X):
            return X

        def backward(self, dLdY):
            return dLdY

    with pytest.raises(AssertionError, match="lacks the course's Layer methods"):
        check_layer_conformance(Bare, (4, 5))
