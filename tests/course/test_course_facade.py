"""The course's own unit tests run on ``corenn.course`` (issue 20, item 7): its names are classes
whose instances are corenn's registered components, usable as class attributes
(``LayerCls = ReLU``, then ``self.LayerCls(**config)``); the base classes the course's tests
check against exist, and ``isinstance`` holds for every facade object; the course's
notebook-style gradient checks pass on every layer built that way."""

import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from corenn.course import activations, layers, losses, optimizers, schedulers
from corenn.course.utils import check_gradients
from corenn.nn.layers import Activation as CorennActivation, Layer as CorennLayer
from corenn.nn.losses import Loss as CorennLoss
from corenn.plugins import get_registry

# Each facade class, the arguments the course's tests give it, its registered kind and name, and
# the course's base class its objects must be instances of.
FACADE = [
    (activations.Linear, {}, "activation", "linear", activations.Activation),
    (activations.Sigmoid, {}, "activation", "sigmoid", activations.Activation),
    (activations.TanH, {}, "activation", "tanh", activations.Activation),
    (activations.ArcTan, {}, "activation", "arctan", activations.Activation),
    (activations.ReLU, {}, "activation", "relu", activations.Activation),
    (activations.SoftMax, {}, "activation", "softmax", activations.Activation),
    (losses.CrossEntropy, {}, "loss", "cross_entropy", losses.Loss),
    (losses.L2, {"name": "l2"}, "loss", "l2", losses.Loss),
    (layers.FullyConnected, {"n_out": 3, "activation": "tanh"}, "layer", "fully_connected", layers.Layer),
    (
        layers.Conv2D,
        {"n_out": 2, "kernel_shape": (3, 3), "activation": "relu", "stride": 2, "pad": "same"},
        "layer",
        "conv2d",
        layers.Layer,
    ),
    (layers.Pool2D, {"kernel_shape": (2, 2), "mode": "average", "stride": 2}, "layer", "pool2d", layers.Layer),
    (layers.Flatten, {"keep_dim": "first"}, "layer", "flatten", layers.Layer),
    (schedulers.Constant, {"lr": 0.1}, "scheduler", "constant", object),
    (
        schedulers.Exponential,
        {"lr": 0.1, "decay": 0.5, "stage_length": 2, "staircase": True},
        "scheduler",
        "exponential",
        object,
    ),
]
IDS = [cls.__name__ for cls, *_ in FACADE]


def test_the_base_classes_are_corenns():
    assert activations.Activation is CorennActivation
    assert losses.Loss is CorennLoss
    assert layers.Layer is CorennLayer


@pytest.mark.parametrize("module", [activations, layers, losses, optimizers, schedulers])
def test_every_public_name_that_builds_something_is_a_class(module):
    names = [name for name in module.__all__ if not name.startswith("initialize_")]
    assert names and all(inspect.isclass(getattr(module, name)) for name in names)
    assert {cls for cls, *_ in FACADE} | {optimizers.SGD} >= {
        getattr(module, name) for name in names if name not in ("Activation", "Layer", "Loss")
    }


@pytest.mark.parametrize(("facade", "config", "kind", "name", "base"), FACADE, ids=IDS)
def test_a_facade_class_kept_as_a_class_attribute_builds_the_registered_component(facade, config, kind, name, base):
    class CourseTest:  # as the course's tests keep it
        ComponentCls = facade

    built = CourseTest().ComponentCls(**config)
    assert isinstance(built, get_registry().get(kind, name).load())  # corenn's registered component itself
    assert isinstance(built, facade) and isinstance(built, base)
    assert not isinstance(object(), facade)
    others = [other for other, _, other_kind, _, _ in FACADE if other_kind == kind and other is not facade]
    assert not any(isinstance(built, other) for other in others)


def test_the_facade_recognises_components_however_they_were_built():
    import corenn

    assert isinstance(corenn.create("activation", "relu"), activations.ReLU)
    assert not isinstance(corenn.create("activation", "gelu"), activations.ReLU)


def test_the_course_optimizer_is_a_class_attribute_too():
    class CourseTest:
        OptimizerCls = optimizers.SGD

    sgd = CourseTest().OptimizerCls(lr=0.1, lr_scheduler="constant", momentum=0.9)
    step = sgd.update("W", np.ones((2, 2)), np.full((2, 2), 2.0), epoch=0)
    np.testing.assert_allclose(step, np.full((2, 2), 0.2))


LAYER_INPUTS = {
    layers.FullyConnected: (4, 5),
    layers.Conv2D: (2, 6, 5, 3),
    layers.Pool2D: (2, 4, 6, 2),
    layers.Flatten: (2, 3, 3, 2),
}


@pytest.mark.parametrize(
    ("facade", "config"),
    [(facade, config) for facade, config, kind, *_ in FACADE if kind == "layer"],
    ids=[cls.__name__ for cls, _, kind, *_ in FACADE if kind == "layer"],
)
def test_the_courses_gradient_checks_pass_on_every_facade_layer(facade, config):
    class TestLayer:
        LayerCls = facade

        def test_gradients(self):
            layer = self.LayerCls(**config)
            rng = np.random.default_rng(0)
            X = rng.normal(size=LAYER_INPUTS[facade])
            Y = layer.forward(X)
            dLdY = rng.normal(size=Y.shape)
            dX = layer.backward(dLdY)
            assert check_gradients(layer.forward, dX, X, dLdY) < 1e-6
            for param_name, gradient in list(layer.gradients.items()):
                value = layer.parameters[param_name].copy()
                assert check_gradients(layer.forward_with_param(param_name, X), gradient, value, dLdY) < 1e-6

    TestLayer().test_gradients()


@pytest.mark.parametrize(
    "facade", [facade for facade, _, kind, *_ in FACADE if kind == "activation"], ids=lambda cls: cls.__name__
)
def test_the_courses_gradient_checks_pass_on_every_facade_activation(facade):
    class TestActivation:
        ActivationCls = facade

        def test_gradients(self):
            activation = self.ActivationCls()
            rng = np.random.default_rng(1)
            Z = rng.normal(size=(3, 4))
            dY = rng.normal(size=(3, 4))
            assert check_gradients(activation.forward, activation.backward(Z, dY), Z, dY) < 1e-6

    TestActivation().test_gradients()


def test_the_readmes_course_test_example_runs():
    page = (Path(__file__).resolve().parents[2] / "docs" / "course.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- course-tests example[^\n]*\n```python[^\n]*\n(.*?)```", page, re.DOTALL).group(1)
    namespace = {}
    exec(compile(block, "docs/course.md (course tests)", "exec"), namespace)
    ran = 0
    for value in list(namespace.values()):
        if inspect.isclass(value) and value.__name__.startswith("Test"):
            for method in [name for name in vars(value) if name.startswith("test_")]:
                getattr(value(), method)()
                ran += 1
    assert ran == 2
