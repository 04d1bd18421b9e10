"""The course's NeuralNetwork over corenn's layers, loss and optimizer."""

import numpy as np
import pytest

from corenn.course.datasets import initialize_dataset
from corenn.course.logs import Logger
from corenn.course.models import initialize_model
from corenn.course.optimizers import SGD
from corenn.course.utils import AttrDict
from corenn.errors import ConfigError


def iris_model(logger=None, loss="cross_entropy", seed=0):
    layer_args = [
        AttrDict({"name": "fully_connected", "activation": "relu", "weight_init": "xavier_uniform", "n_out": 8}),
        AttrDict({"name": "fully_connected", "activation": "softmax", "weight_init": "xavier_uniform", "n_out": None}),
    ]
    optimizer_args = AttrDict(
        {"name": "SGD", "lr": 0.05, "lr_scheduler": "constant", "momentum": 0.9, "clip_norm": 1.0}
    )
    return initialize_model("ffnn", loss, layer_args, optimizer_args, logger=logger, seed=seed)


def test_train_makes_the_output_layer_once_and_logs_each_epoch(capsys):
    logger = Logger("ffnn", {}, {}, save=False)
    model = iris_model(logger)
    dataset = initialize_dataset("iris", batch_size=25)
    assert len(model.layers) == 1
    model.train(dataset, epochs=2)
    assert len(model.layers) == 2 and model.layers[-1].n_out == 3
    assert len(logger.history) == 2 and set(logger.log["params"]) == {"W0", "b0", "W1", "b1"}
    model.train(dataset, epochs=1)
    assert len(model.layers) == 2 and len(logger.history) == 3
    assert "Epoch 1 Training Loss:" in capsys.readouterr().out


def test_update_subtracts_the_optimizers_delta_and_clears_gradients():
    model = iris_model()
    model._add_output_layer(3)
    X, Y = initialize_dataset("iris", batch_size=10).train.sample()
    loss = model.backward(Y, model.forward(X))
    assert loss == pytest.approx(model.loss.forward(Y, model.forward(X)))
    model.backward(Y, model.forward(X))
    before = {
        (i, name): value.copy() for i, layer in enumerate(model.layers) for name, value in layer.parameters.items()
    }
    gradients = {
        (i, name): layer.gradients[name].copy() for i, layer in enumerate(model.layers) for name in layer.parameters
    }
    reference = SGD(lr=0.05, lr_scheduler="constant", momentum=0.9, clip_norm=1.0)
    model.update(epoch=0)
    for (i, name), value in before.items():
        delta = reference.update(name + str(i), value, gradients[(i, name)], 0)
        np.testing.assert_allclose(model.layers[i].parameters[name], value - delta)
        assert not model.layers[i].gradients[name].any()


def test_seed_makes_training_reproducible():
    results = []
    for _ in range(2):
        model = iris_model(seed=4)
        model.train(initialize_dataset("iris", batch_size=25), epochs=3)
        results.append(model.layers[0].parameters["W"].copy())
    np.testing.assert_array_equal(*results)


def test_test_reports_sample_weighted_loss_and_error():
    model = iris_model()
    dataset = initialize_dataset("iris", batch_size=25)  # the test part: batches of 25 and 5
    model.train(dataset, epochs=1)
    result = model.test(dataset)
    Y_hat = model.forward(dataset.test.data_)
    wrong = np.mean(Y_hat.argmax(axis=1) != dataset.test.labels.argmax(axis=1))
    assert result["error"] == pytest.approx(wrong) and result["accuracy"] == pytest.approx(1 - wrong)
    assert result["loss"] == pytest.approx(model.loss.forward(dataset.test.labels, Y_hat))


def test_error_is_for_classification_only():
    model = iris_model(loss="l2")
    assert model.error(np.eye(2), np.eye(2)[[1, 1]]) == 0.5  # any loss: the arg-max error of one-hot targets
    with pytest.raises(ConfigError, match="classification error: it needs one-hot targets"):
        model.error(np.array([[0.5, 0.5]]), np.eye(2)[:1])


def test_save_parameters_writes_an_npz(tmp_path):
    model = iris_model(Logger("ffnn", {}, {}, save=True, save_dir=str(tmp_path)))
    model.train(initialize_dataset("iris", batch_size=50), epochs=1)
    model.save_parameters(1)
    with np.load(tmp_path / "ffnn" / "parameters_epoch1.npz") as saved:
        assert sorted(saved.files) == ["0.W", "0.b", "1.W", "1.b"]
    with pytest.raises(ConfigError, match="needs a Logger made with save=True"):
        iris_model().save_parameters(1)
