"""The facade's activations, losses and weights are corenn's registered components."""

import numpy as np
import pytest

from corenn.course import activations, losses, weights
from corenn.errors import ConfigError
from corenn.plugins import get_registry

COURSE_ACTIVATIONS = {
    "Linear": "linear",
    "Sigmoid": "sigmoid",
    "TanH": "tanh",
    "ArcTan": "arctan",
    "ReLU": "relu",
    "SoftMax": "softmax",
}


def test_the_package_has_the_courses_modules():
    import corenn.course as neural_networks

    for module in (
        "activations",
        "datasets",
        "layers",
        "logs",
        "losses",
        "models",
        "optimizers",
        "schedulers",
        "utils",
        "weights",
    ):
        assert getattr(neural_networks, module).__name__ == f"corenn.course.{module}"
    assert callable(neural_networks.models.initialize_model) and neural_networks.utils.AttrDict(a=1).a == 1


def registered(kind, name):
    return get_registry().get(kind, name).load()


@pytest.mark.parametrize("course_name, name", COURSE_ACTIVATIONS.items())
def test_each_activation_is_the_registered_one(course_name, name):
    activation = getattr(activations, course_name)()
    assert isinstance(activation, registered("activation", name))
    assert isinstance(activations.initialize_activation(name), registered("activation", name))
    Z = np.random.default_rng(0).normal(size=(4, 3))
    assert activation.forward(Z).shape == (4, 3)
    assert activation.backward(Z, np.ones((4, 3))).shape == (4, 3)


def test_unknown_activation_names_the_course_ones():
    with pytest.raises(ConfigError, match="the course's activations are: linear, sigmoid, tanh"):
        activations.initialize_activation("swish")


def test_activations_and_losses_are_callable():
    Z = np.array([[1.0, -2.0]])
    relu = activations.ReLU()
    np.testing.assert_array_equal(relu(Z), relu.forward(Z))
    loss = losses.CrossEntropy()
    Y = np.array([[1.0, 0.0]])
    value = loss(Y, np.array([[0.5, 0.5]]))
    assert type(value) is np.float64 and value == loss.forward(Y, np.array([[0.5, 0.5]]))


def test_losses_are_the_registered_ones_with_the_course_values():
    cross_entropy = losses.initialize_loss("cross_entropy")
    assert isinstance(cross_entropy, registered("loss", "cross_entropy"))
    assert isinstance(losses.L2(), registered("loss", "l2"))
    assert cross_entropy.name == "cross_entropy"
    Y = np.array([[0.0, 1.0], [1.0, 0.0]])
    Y_hat = np.array([[0.5, 0.5], [0.8, 0.2]])
    # mean over the batch of -log(probability of the true class)
    assert cross_entropy.forward(Y, Y_hat) == pytest.approx(-(np.log(0.5) + np.log(0.8)) / 2)
    # mean over the batch of half the squared error
    assert losses.L2("l2").forward(Y, Y_hat) == pytest.approx((0.25 + 0.25 + 0.04 + 0.04) / 2 / 2)


def test_loss_errors():
    with pytest.raises(ConfigError, match="the course's losses are: cross_entropy, l2"):
        losses.initialize_loss("hinge")
    with pytest.raises(ConfigError, match="named 'l2'"):
        losses.L2("cross_entropy")


def test_weights_draw_from_numpys_global_state():
    init = weights.initialize_weights("xavier_uniform", activation="relu")
    np.random.seed(0)
    first = init((4, 3))
    second = init((4, 3))
    np.random.seed(0)
    np.testing.assert_array_equal(init((4, 3)), first)
    assert not np.array_equal(first, second)
    bound = np.sqrt(2.0) * np.sqrt(6.0 / 7)  # relu's gain times Glorot's bound
    assert first.shape == (4, 3) and np.all(np.abs(first) <= bound)


def test_weights_call_the_registered_initializer():
    np.random.seed(1)
    assert np.all(weights.initialize_weights("ones")((2, 2)) == 1.0)
    assert np.all(weights.initialize_weights("zeros")((3,)) == 0.0)


def test_weights_mode_errors():
    with pytest.raises(ConfigError, match="mode must be one of 'fan_in', 'fan_out'"):
        weights.initialize_weights("he_normal", mode="fan_avg")
    with pytest.raises(ConfigError, match="applies to he_uniform and he_normal only"):
        weights.initialize_weights("xavier_normal", mode="fan_out")
    with pytest.raises(ConfigError, match="unknown initializer 'glorot'"):
        weights.initialize_weights("glorot")


def test_he_fan_out_and_the_course_defaults():
    np.random.seed(0)
    fan_out = weights.initialize_weights("he_uniform", activation="relu", mode="fan_out")((1000, 2))
    assert np.abs(fan_out).max() > np.sqrt(2.0) * np.sqrt(3.0 / 1000)  # bound from fan_out = 2 is wider
    uniform = weights.initialize_weights("uniform")((200, 50))
    assert -1.0 <= uniform.min() < -0.9 and 0.9 < uniform.max() <= 1.0
    assert np.all(weights.initialize_weights("constant")((2, 2)) == 0.5)
    assert np.std(weights.initialize_weights("normal")((200, 50))) == pytest.approx(1.0, rel=0.05)
