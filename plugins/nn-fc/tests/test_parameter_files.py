"""Parameter files of a model holding batch_norm without a scale and a scale layer: what they
hold, that they load back exactly, and that they do not load into a model that differs."""

import numpy as np
import pytest

from corenn.errors import CorruptFileError
from corenn.nn.model import Sequential
from corenn.run.config import ComponentConfig

N_FEATURES, N_CLASSES = 5, 3


def model(seed=0, batch_norm_scale=False):
    layers = [
        ComponentConfig("fully_connected", {"n_out": 6}),
        ComponentConfig("batch_norm", {"scale": batch_norm_scale, "activation": "gelu", "epsilon": 1e-12}),
        ComponentConfig("fully_connected", {"n_out": "auto"}),
        ComponentConfig("scale", {"factor": 1 / 9, "activation": "softmax"}),
    ]
    return Sequential.from_config(layers, n_classes=N_CLASSES, seed=seed).initialize((N_FEATURES,))


def trained(seed=0):
    """A model whose shift and running statistics have left their starting values."""
    network = model(seed)
    rng = np.random.default_rng(seed + 100)
    network.layers[1].parameters["b"][...] = rng.standard_normal((1, 6))
    for _ in range(3):
        network.forward(rng.standard_normal((8, N_FEATURES)) * 2 + 1)  # training mode: statistics move
    return network


def test_the_file_holds_the_shift_and_the_statistics_but_no_scale(tmp_path):
    path = tmp_path / "parameters.npz"
    trained().save_parameters(path)
    with np.load(path) as saved:
        names = set(saved.files)
    assert names == {"0.W", "0.b", "1.b", "buffer/1.running_mean", "buffer/1.running_var", "2.W", "2.b"}


def test_parameters_load_back_and_give_the_same_predictions(tmp_path):
    path = tmp_path / "parameters.npz"
    saved = trained(seed=1)
    saved.save_parameters(path)
    loaded = model(seed=2).load_parameters(path)
    for name, value in saved.parameter_arrays().items():
        np.testing.assert_array_equal(loaded.parameter_arrays()[name], value, err_msg=name)
    X = np.random.default_rng(3).standard_normal((7, N_FEATURES))
    np.testing.assert_array_equal(loaded.predict_proba(X), saved.predict_proba(X))
    assert not np.array_equal(model(seed=2).predict_proba(X), saved.predict_proba(X))


@pytest.mark.parametrize("saved_scale, loading_scale", [(True, False), (False, True)])
def test_a_file_with_or_without_the_scale_does_not_fit_the_other_model(tmp_path, saved_scale, loading_scale):
    path = tmp_path / "parameters.npz"
    model(batch_norm_scale=saved_scale).save_parameters(path)
    missing, unexpected = ("['1.W']", "nothing") if loading_scale else ("nothing", "['1.W']")
    with pytest.raises(CorruptFileError, match=rf"missing {missing}, unexpected {unexpected}".replace("[", r"\[")):
        model(batch_norm_scale=loading_scale).load_parameters(path)
