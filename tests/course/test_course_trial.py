"""What a student's trial of the course facade found: subclassed names, copied AttrDicts, passes
that did not start afresh, l2 models, gradient checks, backward after clear_gradients, a model
used before train, and the Logger's numpy arguments."""

import copy
import json
import pickle
import warnings

import numpy as np
import pytest

import corenn
import corenn.course.layers as course_layers
from corenn.course.activations import Activation, ReLU
from corenn.course.datasets import initialize_dataset
from corenn.course.layers import Conv2D, FullyConnected, Pool2D
from corenn.course.logs import Logger
from corenn.course.losses import CrossEntropy
from corenn.course.models import initialize_model
from corenn.course.schedulers import Constant
from corenn.course.utils import AttrDict, check_gradients
from corenn.errors import ConfigError, CorennError, ShapeError
from corenn.nn.layers import Layer

# 1. A facade name cannot be subclassed: its subclass's methods would never run.

REFUSALS = [
    (
        ReLU,
        "class Mine cannot subclass corenn.course.activations.ReLU: calling ReLU(...) gives corenn's registered "
        "activation 'relu' itself, so Mine's methods would never run; subclass "
        "corenn.course.activations.Activation (with forward(Z) and backward(Z, dY)) instead",
    ),
    (
        FullyConnected,
        "class Mine cannot subclass corenn.course.layers.FullyConnected: calling FullyConnected(...) gives corenn's "
        "registered layer 'fully_connected' itself, so Mine's methods would never run; subclass "
        "corenn.course.layers.Layer (with forward(X) and backward(dLdY)) instead",
    ),
    (
        CrossEntropy,
        "class Mine cannot subclass corenn.course.losses.CrossEntropy: calling CrossEntropy(...) gives corenn's "
        "registered loss 'cross_entropy' itself, so Mine's methods would never run; subclass "
        "corenn.course.losses.Loss (with forward(Y, Y_hat) and backward(Y, Y_hat)) instead",
    ),
    (
        Constant,
        "class Mine cannot subclass corenn.course.schedulers.Constant: calling Constant(...) gives corenn's "
        "registered scheduler 'constant' itself, so Mine's methods would never run; write a class of your own "
        "with __call__(epoch) returning the learning rate instead",
    ),
]


@pytest.mark.parametrize(("facade_name", "message"), REFUSALS, ids=lambda value: getattr(value, "__name__", ""))
def test_subclassing_a_facade_name_is_refused(facade_name, message):
    with pytest.raises(TypeError) as refused:

        class Mine(facade_name):
            def backward(self, *arrays):
                return -arrays[-1]

    assert str(refused.value) == message


def test_the_bases_stay_subclassable_and_the_names_still_recognise_their_objects():
    class WrongReLU(Activation):
        def forward(self, Z):
            return np.maximum(Z, 0)

        def backward(self, Z, dY):
            return -dY  # wrong: a subclass of the base runs, so the check catches it

    Z = np.random.default_rng(0).normal(size=(4, 3))
    dY = np.ones_like(Z)
    assert check_gradients(WrongReLU().forward, WrongReLU().backward(Z, dY), Z, dY) > 0.5
    assert isinstance(ReLU(), Activation) and isinstance(ReLU(), ReLU)
    assert isinstance(FullyConnected(n_out=3, activation="relu"), FullyConnected)


# 2. AttrDict's copies track their own keys.


@pytest.mark.parametrize(
    "duplicate",
    [copy.copy, copy.deepcopy] + [lambda d, p=p: pickle.loads(pickle.dumps(d, protocol=p)) for p in range(6)],
    ids=["copy", "deepcopy"] + [f"pickle{p}" for p in range(6)],
)
def test_attr_dict_copies_track_their_own_keys(duplicate):
    base = AttrDict({"lr": 0.01, "n_out": 3})
    copied = duplicate(base)
    assert type(copied) is AttrDict and copied.lr == 0.01
    copied.lr = 0.1
    copied.momentum = 0.9
    del copied.n_out
    assert dict(copied) == {"lr": 0.1, "momentum": 0.9} and copied["lr"] == 0.1
    assert dict(base) == {"lr": 0.01, "n_out": 3} and base.lr == 0.01


def test_attr_dict_missing_keys_are_attribute_errors():
    args = AttrDict(lr=0.01)
    with pytest.raises(AttributeError) as missing:
        _ = args.n_out
    assert str(missing.value) == "AttrDict has no key 'n_out'; its keys are: lr"
    with pytest.raises(AttributeError, match="AttrDict has no key 'n_out'"):
        del args.n_out
    assert getattr(args, "n_out", None) is None and not hasattr(args, "__deepcopy__")


# 3, 4, 8, 9. The model: fresh passes, l2, before train, the caller's arguments.


def layer_args():
    return [
        {"name": "fully_connected", "activation": "relu", "n_out": 8},
        {"name": "fully_connected", "activation": "softmax", "n_out": None},
    ]


def test_test_is_one_whole_pass_of_the_test_split_whatever_was_sampled_before(capsys):
    model = initialize_model("ffnn", "cross_entropy", layer_args(), {"lr": 0.05}, seed=0)
    dataset = initialize_dataset("iris", batch_size=25)  # the test split: batches of 25 and 5
    model.train(dataset, epochs=1)
    Y_hat = model.forward(dataset.test.data_)
    whole_split_loss = model.loss.forward(dataset.test.labels, Y_hat)
    before = model.test(dataset)
    dataset.test.sample()  # unrelated: the next pass must not start at the second batch
    after = model.test(dataset)
    assert after["loss"] == pytest.approx(whole_split_loss, rel=1e-12)
    assert after["loss"] == pytest.approx(before["loss"], rel=1e-12) and after["error"] == before["error"]


def test_each_training_epoch_is_one_whole_pass_whatever_was_sampled_before(capsys):
    model = initialize_model("ffnn", "cross_entropy", layer_args(), {"lr": 0.05}, seed=0)
    dataset = initialize_dataset("iris", batch_size=25)
    dataset.train.sample()
    seen = []
    sample = dataset.train.sample

    def recording_sample():
        X, Y = sample()
        seen.append(X)
        return X, Y

    dataset.train.sample = recording_sample
    model.train(dataset, epochs=1)
    rows = np.concatenate(seen)
    by_rows = np.lexsort(rows.T)
    expected = dataset.train.data_[np.lexsort(dataset.train.data_.T)]
    np.testing.assert_array_equal(rows[by_rows], expected)


def test_a_model_with_the_l2_loss_trains_and_reports_the_classification_error(capsys):
    logger = Logger("ffnn", {}, {})
    model = initialize_model("ffnn", "l2", layer_args(), {"lr": 0.1}, logger=logger, seed=0)
    dataset = initialize_dataset("iris", batch_size=25)
    model.train(dataset, epochs=2)
    assert len(logger.history) == 2
    result = model.test(dataset)
    Y_hat = model.forward(dataset.test.data_)
    wrong = np.mean(Y_hat.argmax(axis=1) != dataset.test.labels.argmax(axis=1))
    assert result["error"] == pytest.approx(wrong)
    assert result["loss"] == pytest.approx(np.sum((dataset.test.labels - Y_hat) ** 2) / (2 * len(Y_hat)))


BEFORE_TRAIN = (
    "{}: the output layer is made by train(dataset), which reads its n_out from the data set (dataset.out_dim): "
    "train first"
)


def test_a_model_used_before_train_says_to_train_first():
    model = initialize_model("ffnn", "cross_entropy", layer_args(), {"lr": 0.05}, seed=0)
    X, Y = np.ones((25, 4)), np.eye(3)[np.zeros(25, dtype=int)]
    for method, call in [
        ("forward", lambda: model.forward(X)),
        ("forward", lambda: model.predict(X, Y)),
        ("backward", lambda: model.backward(Y, np.full((25, 3), 1 / 3))),
        ("test", lambda: model.test(initialize_dataset("iris", batch_size=25))),
    ]:
        with pytest.raises(ConfigError) as refused:
            call()
        assert str(refused.value) == BEFORE_TRAIN.format(method)


@pytest.mark.parametrize(
    ("method", "dataset", "message"),
    [
        (
            "train",
            None,
            "train: dataset must be a course data set, initialize_dataset(name, batch_size), with train and "
            "validate splits and out_dim; got None",
        ),
        (
            "test",
            "iris",
            "test: dataset must be a course data set, initialize_dataset(name, batch_size), with a test split; "
            "got 'iris'",
        ),
    ],
)
def test_a_dataset_that_is_not_one_is_a_clear_error(method, dataset, message):
    model = initialize_model("ffnn", "cross_entropy", layer_args(), {"lr": 0.05}, seed=0)
    with pytest.raises(ConfigError) as refused:
        getattr(model, method)(dataset, 1) if method == "train" else model.test(dataset)
    assert str(refused.value) == message


def test_train_leaves_the_callers_layer_args_alone(capsys):
    args = layer_args()
    model = initialize_model("ffnn", "cross_entropy", args, {"lr": 0.05}, seed=0)
    model.train(initialize_dataset("iris", batch_size=50), epochs=1)
    assert args == layer_args() and model.layers[-1].n_out == 3


def test_logger_writes_numpy_numbers_as_numbers(tmp_path):
    logger = Logger(
        "ffnn",
        {"lr": np.float32(0.01), "momentum": np.float64(0.9), "epochs": np.int64(3), "nesterov": np.bool_(True)},
        {"batch_size": np.int32(16), "kernel": np.array([3, 3])},
        save=True,
        save_dir=str(tmp_path),
    )
    model_args = json.loads((tmp_path / "ffnn" / "model_args.json").read_text())
    data_args = json.loads((tmp_path / "ffnn" / "data_args.json").read_text())
    assert model_args == {"lr": 0.01, "momentum": 0.9, "epochs": 3, "nesterov": True}
    assert data_args == {"batch_size": 16, "kernel": [3, 3]}
    assert logger.save_dir.endswith("ffnn/")


# 5, 6. check_gradients: float32, zero gradients, shapes.


def tanh_layer(dtype):
    np.random.seed(0)
    layer = FullyConnected(n_out=3, activation="tanh")
    X = np.random.default_rng(0).normal(size=(4, 5)).astype(dtype)
    dLdY = np.ones_like(layer.forward(X))
    return layer, X, dLdY, layer.backward(dLdY)


def test_check_gradients_passes_a_right_float32_gradient_with_its_default_step():
    layer, X, dLdY, dX = tanh_layer(np.float32)
    assert check_gradients(layer.forward, dX, X, dLdY) < 1e-4  # 0.0227 with the float64 step
    assert check_gradients(layer.forward, dX, X, dLdY, h=1e-6) > 1e-3  # a step given is the step used
    W = layer.parameters["W"].copy()
    assert check_gradients(layer.forward_with_param("W", X), layer.gradients["W"], W, dLdY) < 1e-4


def test_check_gradients_of_a_zero_gradient():
    softmax = FullyConnected(n_out=3, activation="softmax")
    X = np.random.default_rng(0).normal(size=(4, 5))
    dLdY = np.ones_like(softmax.forward(X))  # the rows of a softmax sum to 1: the true gradient is zero
    dX = softmax.backward(dLdY)
    assert check_gradients(softmax.forward, dX, X, dLdY) < 1e-6  # ~1.0 as a ratio of two noises
    assert check_gradients(softmax.forward, dX + 0.1, X, dLdY) > 0.5  # a wrong one still fails
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_gradients(lambda v: 0 * v, np.zeros(3), np.ones(3), np.ones(3)) == 0.0  # was nan


@pytest.mark.parametrize(
    ("name", "gradient_shape", "x_shape"),
    [("b", (3,), (1, 3)), ("b", (3, 1), (1, 3)), ("W", (3, 5), (5, 3))],
)
def test_check_gradients_refuses_a_gradient_of_another_shape(name, gradient_shape, x_shape):
    layer, X, dLdY, _ = tanh_layer(np.float64)
    value = layer.parameters[name].copy()
    with pytest.raises(ShapeError) as refused:
        check_gradients(layer.forward_with_param(name, X), np.zeros(gradient_shape), value, dLdY)
    assert str(refused.value) == (
        f"check_gradients: the analytic gradient has shape {gradient_shape} but x has shape {x_shape}; "
        "a gradient has the shape of what it differentiates"
    )


def test_check_gradients_refuses_a_dldf_of_another_shape():
    layer, X, _, dX = tanh_layer(np.float64)
    with pytest.raises(ShapeError) as refused:
        check_gradients(layer.forward, dX, X, np.ones((4, 5)))
    assert str(refused.value) == (
        "check_gradients: dLdf has shape (4, 5) but fn(x) has shape (4, 3); dLdf weighs each of fn's outputs"
    )


# 7. backward after clear_gradients.

AFTER_CLEAR = (
    "{}: backward was called after clear_gradients(), which empties the cache that backward reads (the course's "
    "model.update calls it after every step): backward needs a forward first"
)


@pytest.mark.parametrize(
    ("build", "input_shape", "name"),
    [
        (lambda: FullyConnected(n_out=3, activation="relu"), (4, 5), "fully_connected"),
        (lambda: Conv2D(n_out=2, kernel_shape=(3, 3), activation="relu"), (2, 5, 5, 1), "conv2d"),
        (lambda: Pool2D(kernel_shape=(2, 2)), (2, 4, 4, 1), "pool2d"),
        (lambda: corenn.create("layer", "flatten"), (2, 4, 4, 1), "flatten"),
        (
            lambda: corenn.create("layer", "residual", layers=[{"name": "fully_connected", "n_out": 5}]),
            (4, 5),
            "residual",
        ),
    ],
    ids=["fully_connected", "conv2d", "pool2d", "flatten", "residual"],
)
def test_backward_after_clear_gradients_asks_for_a_forward(build, input_shape, name):
    layer = build()
    Y = layer.forward(np.ones(input_shape))
    layer.clear_gradients()
    with pytest.raises(CorennError) as refused:
        layer.backward(np.ones_like(Y))
    assert str(refused.value) == AFTER_CLEAR.format(name)


def test_the_models_backward_after_its_update_asks_for_a_forward(capsys):
    model = initialize_model("ffnn", "cross_entropy", layer_args(), {"lr": 0.05}, seed=0)
    dataset = initialize_dataset("iris", batch_size=25)
    model.train(dataset, epochs=1)
    X, Y = dataset.train.sample()
    Y_hat = model.forward(X)
    model.backward(Y, Y_hat)
    model.update(epoch=0)
    with pytest.raises(CorennError) as refused:
        model.backward(Y, Y_hat)
    assert str(refused.value) == AFTER_CLEAR.format("fully_connected")


def test_backward_before_any_forward_says_so():
    with pytest.raises(CorennError) as refused:
        FullyConnected(n_out=3, activation="relu").backward(np.ones((4, 3)))
    assert str(refused.value) == "fully_connected: backward was called before any forward: call forward first"


# 10. The docstrings show what works.


def test_the_layer_docstrings_show_calls_that_work():
    assert 'FullyConnected(n_out=10,\n    activation="relu")' in Layer.__doc__
    assert "_init_parameters(X_shape)" in Layer.__doc__ and "_init_parameters(X_shape)" in course_layers.__doc__
    layer = FullyConnected(n_out=10, activation="relu")
    layer._init_parameters((4, 5))  # the course's call, X_shape alone
    assert layer.parameters["W"].shape == (5, 10) and layer.parameters["W"].dtype == np.float64
