"""Per-parameter learning-rate factors: a layer's ``lr_scale`` table in the config, the model's
``named_lr_scales`` and its check against the layer's parameters, and the trainer passing the
factors to the optimizer (and refusing optimizers that cannot take them).

The optimizers' arithmetic with ``lr_scale`` is tested in test_optimizer_options.py.
"""

from collections import OrderedDict

import numpy as np
import pytest

import corenn
from corenn.errors import ConfigError
from corenn.nn.model import Sequential
from corenn.nn.optimizers import SGD
from corenn.run.build import build
from corenn.run.config import config_from_dict, load_preset, parse_toml
from corenn.run.resume import resume
from corenn.run.train import train
from corenn.testing import plugin_system_from, plugins_in_use

from suite_helpers import trainer_for


class RecordingSGD(SGD):
    """SGD that remembers, per parameter, the lr_scale keyword it was given (if any)."""

    def __init__(self, **options):
        super().__init__(**options)
        self.calls = []

    def update(self, param_name, param, param_grad, **keywords):
        self.calls.append((param_name, keywords.get("lr_scale")))
        return super().update(param_name, param, param_grad, **keywords)


class LegacySGD:
    """A third-party optimizer written before lr_scale existed: no such keyword."""

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, param_name, param, param_grad):
        return param - self.lr * param_grad

    def state_dict(self):
        return {"lr": self.lr}

    def load_state_dict(self, state):
        self.lr = float(state["lr"])


class LrScalePlugin:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("optimizer", "recording_sgd", RecordingSGD)
        register("optimizer", "legacy_sgd", LegacySGD)


@pytest.fixture(autouse=True)
def test_components(no_plots):
    with plugins_in_use(plugin_system_from(LrScalePlugin)) as system:
        yield system


def iris(first_layer_scale=None, last_layer_scale=None, epochs=2, **changes):
    """The iris-ffnn preset, short, with ``lr_scale`` tables on its two layers when given."""
    data = load_preset("iris-ffnn").to_dict()
    data["epochs"] = epochs
    data["layers"][0]["n_out"] = 8
    if first_layer_scale is not None:
        data["layers"][0]["lr_scale"] = first_layer_scale
    if last_layer_scale is not None:
        data["layers"][1]["lr_scale"] = last_layer_scale
    data.update(changes)
    return data


def built(config):
    """The model and optimizer of a config, initialised as for a run."""
    _, model, _, optimizer, _ = build(config_from_dict(config))
    return model, optimizer


# The model


def test_named_lr_scales_use_the_parameter_names():
    model, _ = built(iris(first_layer_scale={"b": 64.0}, last_layer_scale={"W": 0.5, "b": 2}))
    assert model.named_lr_scales() == {"0.b": 64.0, "1.W": 0.5, "1.b": 2.0}
    assert set(model.named_lr_scales()) <= set(model.named_parameters())
    assert all(type(factor) is float for factor in model.named_lr_scales().values())


def test_a_model_without_lr_scale_tables_scales_nothing():
    model, _ = built(iris())
    assert model.named_lr_scales() == {}


def test_lr_scale_is_kept_by_the_model_not_given_to_the_layer_nor_taken_from_the_config():
    config = config_from_dict(iris(first_layer_scale={"b": 64.0}))
    model = Sequential.from_config(config.layers, n_classes=3, seed=0)
    assert not hasattr(model.layers[0], "lr_scale")
    assert config.layers[0].options["lr_scale"] == {"b": 64.0}  # the config still says it


def test_lr_scale_survives_the_config_round_trip_through_toml():
    config = config_from_dict(iris(first_layer_scale={"b": 64.0}))
    assert parse_toml(config.to_toml()).layers[0].options["lr_scale"] == {"b": 64.0}


@pytest.mark.parametrize(
    "table, message",
    [
        (
            {"c": 2.0},
            r"layers\[0\] \(fully_connected\)\.lr_scale: 'c' is not a parameter of this layer; its parameters are 'W', 'b'",
        ),
        (
            {"W": 2.0, "bias": 2.0, "w": 1.0},
            r"'bias', 'w' are not parameters of this layer; its parameters are 'W', 'b'",
        ),
    ],
)
def test_an_unknown_key_names_the_layer_and_its_parameters(table, message):
    with pytest.raises(ConfigError, match=message):
        built(iris(first_layer_scale=table))


def test_unknown_keys_are_found_when_the_model_is_initialised():
    """Parameters are made at the first forward, so building the layers cannot judge the keys."""
    config = config_from_dict(iris(last_layer_scale={"gamma": 2.0}))
    model = Sequential.from_config(config.layers, n_classes=3, seed=0)
    with pytest.raises(ConfigError, match=r"layers\[1\] \(fully_connected\)\.lr_scale: 'gamma'"):
        model.initialize((4,))


class Reshape:
    """A layer without parameters."""

    def __init__(self):
        self.parameters, self.gradients, self.cache = OrderedDict(), OrderedDict(), OrderedDict()

    def forward(self, X):
        return X.reshape(len(X), -1)

    def backward(self, dLdY):
        return dLdY


def test_a_layer_without_parameters_says_so():
    model = Sequential([Reshape()], ["reshape"], lr_scales={0: {"W": 2.0}})
    with pytest.raises(
        ConfigError,
        match=r"layers\[0\] \(reshape\)\.lr_scale: 'W' is not a parameter of this layer; it has no parameters",
    ):
        model.initialize((2, 2))


@pytest.mark.parametrize(
    "table, message",
    [
        (64.0, r"layers\[0\] \(fully_connected\)\.lr_scale must be a table from parameter keys to factors"),
        ([64.0], r"lr_scale must be a table"),
        ({"b": 0}, r"layers\[0\] \(fully_connected\)\.lr_scale\.b must be a finite number > 0"),
        ({"b": -64.0}, r"lr_scale\.b must be a finite number > 0"),
        ({"b": float("inf")}, r"lr_scale\.b must be a finite number > 0"),
        ({"b": float("nan")}, r"lr_scale\.b must be a finite number > 0"),
        ({"b": True}, r"lr_scale\.b must be a finite number > 0"),
        ({"b": "64"}, r"lr_scale\.b must be a finite number > 0"),
    ],
)
def test_bad_lr_scale_tables_are_config_errors_naming_the_key(table, message):
    config = config_from_dict(iris(first_layer_scale=table))
    with pytest.raises(ConfigError, match=message):
        Sequential.from_config(config.layers, n_classes=3, seed=0)


def test_a_bad_table_in_a_toml_file_fails_before_training(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(
        'name = "bad-scale"\n[dataset]\nname = "iris"\n'
        '[[layers]]\nname = "fully_connected"\nn_out = 8\nactivation = "relu"\nlr_scale = { b = -1.0 }\n'
        '[[layers]]\nname = "fully_connected"\nn_out = "auto"\nactivation = "softmax"\n'
    )
    with pytest.raises(
        ConfigError, match=r"layers\[0\] \(fully_connected\)\.lr_scale\.b must be a finite number > 0 .*, got -1\.0"
    ):
        train(path, record=True, out_dir=tmp_path / "runs", verbose=False)
    assert not (tmp_path / "runs").exists()


def test_the_constructor_checks_layer_indices():
    with pytest.raises(ConfigError, match=r"lr_scales: 3 is not a layer index \(0 to 0\)"):
        Sequential([Reshape()], lr_scales={3: {"W": 2.0}})


# The trainer


def test_the_trainer_passes_lr_scale_only_where_it_is_not_one():
    model_config = iris(
        first_layer_scale={"b": 64.0, "W": 1.0}, epochs=1, optimizer={"name": "recording_sgd", "lr": 0.01}
    )
    trainer = trainer_for(config_from_dict(model_config))
    trainer.fit()
    calls = trainer.optimizer.calls
    steps = trainer.run.step
    assert steps > 1 and len(calls) == 4 * steps
    assert set(calls) == {("0.W", None), ("0.b", 64.0), ("1.W", None), ("1.b", None)}


def trained_parameters(config):
    trainer = trainer_for(config_from_dict(config))
    trainer.fit()
    return {name: np.array(value) for name, value in trainer.run.model.named_parameters().items()}


def test_scaling_every_parameter_by_two_is_twice_the_learning_rate():
    """Doubling is exact in floating point, so the two runs agree bit for bit: the trainer
    passes each parameter's factor, and the optimizer applies it to the step."""
    everything = {"W": 2.0, "b": 2.0}
    scaled = trained_parameters(iris(everything, everything))
    doubled = trained_parameters(iris(optimizer={"name": "sgd", "lr": 0.04, "momentum": 0.9}))
    plain = trained_parameters(iris())
    assert list(scaled) == list(doubled)
    for name in scaled:
        np.testing.assert_array_equal(scaled[name], doubled[name], err_msg=name)
        assert not np.allclose(scaled[name], plain[name]), name


def test_scaling_only_the_biases_of_one_layer_changes_how_they_train():
    plain = trained_parameters(iris(epochs=1))
    scaled = trained_parameters(iris(first_layer_scale={"b": 64.0}, epochs=1))
    assert not np.allclose(plain["0.b"], scaled["0.b"])
    # the first update (and so all later ones) differ only through the scaled bias
    assert np.abs(scaled["0.b"] - plain["0.b"]).max() > np.abs(scaled["1.b"] - plain["1.b"]).max()


def test_an_optimizer_without_lr_scale_is_a_config_error_naming_it():
    config = config_from_dict(iris(first_layer_scale={"b": 64.0}, optimizer={"name": "legacy_sgd", "lr": 0.01}))
    trainer = trainer_for(config)
    before = {name: np.array(value) for name, value in trainer.run.model.named_parameters().items()}
    with pytest.raises(
        ConfigError, match=r"optimizer 'legacy_sgd' \(test_lr_scale\.LegacySGD\) takes no lr_scale.*0\.b"
    ):
        trainer.fit()
    for name, value in trainer.run.model.named_parameters().items():
        np.testing.assert_array_equal(value, before[name], err_msg=f"{name} changed before the error")


def test_an_optimizer_without_lr_scale_still_runs_configs_that_scale_nothing():
    for scale in (None, {"b": 1.0}):
        result = train(
            iris(first_layer_scale=scale, optimizer={"name": "legacy_sgd", "lr": 0.05}), record=False, verbose=False
        )
        assert result["epochs"] == 2


def test_a_run_with_lr_scale_resumes_to_the_same_parameters(tmp_path):
    config = iris(first_layer_scale={"b": 64.0}, epochs=3)
    train(config, record=True, verbose=False, out_dir=tmp_path / "full")
    train(iris(first_layer_scale={"b": 64.0}, epochs=2), record=True, verbose=False, out_dir=tmp_path / "short")
    resume(tmp_path / "short" / "iris-ffnn", verbose=False, epochs=3)
    full = np.load(tmp_path / "full" / "iris-ffnn" / "parameters.npz")
    resumed = np.load(tmp_path / "short" / "iris-ffnn" / "parameters.npz")
    assert sorted(full.files) == sorted(resumed.files)
    for name in full.files:
        np.testing.assert_array_equal(full[name], resumed[name], err_msg=name)
