"""Run configs: the issue's TOML parses; every structural mistake names its key and what is allowed."""

import copy
import re

import numpy as np
import pytest

from corenn.errors import ConfigError, UnknownComponentError
from corenn.nn.model import Sequential
from corenn.run.build import build
from corenn.run.config import (
    ComponentConfig,
    RunConfig,
    config_from_dict,
    load_config,
    load_preset,
    parse_toml,
    preset_names,
    with_overrides,
)

ISSUE_EXAMPLE = """
name = "iris-relu"
seed = 0
epochs = 100
loss = "cross_entropy"
[dataset]
name = "iris"
batch_size = 25
[optimizer]
name = "sgd"
lr = 0.02
momentum = 0.9
[scheduler]
name = "constant"
[[layers]]
name = "fully_connected"
n_out = 32
activation = "relu"
[[layers]]
name = "fully_connected"
n_out = "auto"
activation = "softmax"
"""


def example():
    """The issue's example as a mapping, for tests that change one thing in it."""
    return parse_toml(ISSUE_EXAMPLE).to_dict()


def error_of(data):
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    return str(info.value)


def test_issue_example_parses_into_the_attrs_classes():
    config = parse_toml(ISSUE_EXAMPLE)
    assert isinstance(config, RunConfig)
    assert (config.name, config.seed, config.epochs) == ("iris-relu", 0, 100)
    assert config.loss == ComponentConfig("cross_entropy")
    assert (config.dataset.name, config.dataset.batch_size, config.dataset.options) == ("iris", 25, {})
    assert config.optimizer == ComponentConfig("sgd", {"lr": 0.02, "momentum": 0.9})
    assert config.scheduler == ComponentConfig("constant")
    assert config.layers == [
        ComponentConfig("fully_connected", {"n_out": 32, "activation": "relu"}),
        ComponentConfig("fully_connected", {"n_out": "auto", "activation": "softmax"}),
    ]
    assert (config.dtype, config.backend) == ("float64", "numpy")


def test_defaults_fill_what_a_minimal_config_leaves_out():
    config = config_from_dict(
        {
            "name": "m",
            "dataset": {"name": "iris"},
            "layers": [{"name": "fully_connected", "n_out": "auto", "activation": "softmax"}],
        }
    )
    assert config.epochs == 10 and config.seed == 0 and config.dataset.batch_size == 32
    assert (
        config.loss.name == "cross_entropy" and config.optimizer.name == "sgd" and config.scheduler.name == "constant"
    )


def test_unknown_top_level_key_names_it_and_lists_the_allowed_keys():
    data = example() | {"learning_rate": 0.1}
    message = error_of(data)
    assert "'learning_rate'" in message
    for allowed in ("name", "seed", "epochs", "dtype", "loss", "dataset", "optimizer", "scheduler", "layers"):
        assert allowed in message


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("epochs", "ten", "epochs must be an integer"),
        ("epochs", 2.5, "epochs must be an integer"),
        ("epochs", True, "epochs must be an integer"),
        ("seed", "zero", "seed must be an integer"),
        ("name", 7, "name must be a string"),
        ("dataset", "iris", "dataset must be a table"),
        ("optimizer", ["sgd"], "optimizer must be a table"),
        ("layers", {"name": "fully_connected"}, "layers must be an array of tables"),
        ("loss", 3, "loss must be a string or a table"),
        ("dtype", 64, "dtype must be a string"),
    ],
)
def test_wrong_types_name_the_key_and_the_expected_type(key, value, expected):
    data = example()
    data[key] = value
    message = error_of(data)
    assert expected in message
    assert repr(value) in message


def test_a_python_none_is_a_wrong_type_not_a_missing_key():
    data = example()
    data["name"] = None
    assert "name must be a string, got None" in error_of(data)


@pytest.mark.parametrize("key", ["name", "dataset", "layers"])
def test_missing_required_key_is_named(key):
    data = example()
    del data[key]
    assert f"config key {key!r} is required" in error_of(data)


def test_missing_dataset_name_and_layer_name_are_named():
    data = example()
    del data["dataset"]["name"]
    assert "dataset.name is required" in error_of(data)
    data = example()
    del data["layers"][1]["name"]
    assert "layers[1].name is required" in error_of(data)
    data = example()
    data["layers"][0]["name"] = 5
    assert "layers[0].name must be the registered name of a component" in error_of(data)


def test_empty_layers_is_an_error():
    data = example()
    data["layers"] = []
    assert "layers must hold at least one" in error_of(data)


def test_layers_entry_that_is_not_a_table_names_its_index():
    data = example()
    data["layers"].insert(1, 42)
    assert "layers[1] must be a table" in error_of(data)


def test_auto_n_out_is_only_allowed_on_the_last_layer():
    data = example()
    data["layers"][0]["n_out"] = "auto"
    assert "layers[0].n_out = 'auto' is only allowed on the last layer" in error_of(data)


def test_a_string_n_out_other_than_auto_names_the_allowed_values():
    data = example()
    data["layers"][1]["n_out"] = "classes"
    message = error_of(data)
    assert "layers[1].n_out must be a positive integer or 'auto'" in message and "'classes'" in message


@pytest.mark.parametrize(
    ("activation", "shown"),
    [(None, "'linear' (fully_connected's default)"), ("relu", "'relu'"), ("linear", "'linear'")],
)
def test_cross_entropy_after_an_output_that_is_no_probability_is_named(activation, shown):
    """Otherwise the first step's log(0) shows up as a 'diverged' run that blames the learning rate."""
    data = example()
    del data["layers"][1]["activation"]
    if activation is not None:
        data["layers"][1]["activation"] = activation
    message = error_of(data)
    assert f"layers[1].activation is {shown}" in message and 'activation = "softmax"' in message


@pytest.mark.parametrize("loss", ["l2", {"name": "cross_entropy"}])
def test_outputs_that_fit_their_loss_are_accepted(loss):
    data = example() | {"loss": loss}
    data["layers"][1]["activation"] = "linear" if loss == "l2" else "softmax"
    config_from_dict(data)


def test_a_misspelt_last_activation_is_named_as_a_typo():
    """Not as a linear output chosen: the user wrote "softmax", under another key."""
    data = example()
    data["layers"][1]["activaton"] = data["layers"][1].pop("activation")
    assert error_of(data) == (
        "layers[1]: layer 'fully_connected' has no option 'activaton' (did you mean 'activation'?); its "
        "activation is therefore the default, 'linear', which loss 'cross_entropy' cannot take"
    )


@pytest.mark.parametrize("activation", ["sigmoid", "gelu"])
def test_cross_entropy_after_an_output_that_is_no_distribution_is_named(activation):
    """A sigmoid output trained with cross-entropy learns to say 1 for every class (its rows do
    not sum to 1, and only the true class's output is pushed); gelu's diverges."""
    data = example()
    data["layers"][1]["activation"] = activation
    assert error_of(data) == (
        f"layers[1].activation is {activation!r}, but loss 'cross_entropy' needs probabilities over the "
        'classes (summing to 1) from the last layer: set activation = "softmax" there (or use loss = "l2")'
    )


def test_none_leaves_an_optional_top_level_key_unset():
    assert config_from_dict(example() | {"patience": None, "threads": None}) == config_from_dict(example())


@pytest.mark.parametrize("source", [None, 3, ["run.toml"]])
def test_a_config_of_another_type_is_named(source):
    with pytest.raises(ConfigError) as info:
        load_config(source)
    assert str(info.value) == (
        f"a config is a TOML file's path, a dict or a RunConfig, got {type(source).__name__} {source!r}"
    )


def test_numpy_numbers_in_a_config_are_its_numbers():
    """A config made in Python may hold numpy scalars (np.arange, scikit-learn's grids)."""
    data = example() | {"epochs": np.int64(4), "seed": np.uint8(7)}
    data["dataset"] = dict(data["dataset"], batch_size=np.int32(16))
    data["optimizer"] = {"name": "sgd", "lr": np.float32(0.5)}
    data["layers"][0] = dict(data["layers"][0], n_out=np.int16(5))
    config = config_from_dict(data)
    assert (config.epochs, config.seed, config.dataset.batch_size) == (4, 7, 16)
    assert type(config.epochs) is int and type(config.dataset.batch_size) is int
    assert config.optimizer.options["lr"] == float(np.float32(0.5)) and type(config.optimizer.options["lr"]) is float
    assert config.layers[0].options["n_out"] == 5 and type(config.layers[0].options["n_out"]) is int
    assert "epochs must be a positive integer, got 0" in error_of(example() | {"epochs": np.int64(0)})
    assert "epochs must be" in error_of(example() | {"epochs": np.float64(2.0)})


def test_bad_dtype_lists_the_allowed_dtypes():
    data = example() | {"dtype": "float16"}
    message = error_of(data)
    assert "dtype must be one of float64, float32" in message and "'float16'" in message


@pytest.mark.parametrize("epochs", [0, -3])
def test_non_positive_epochs(epochs):
    assert f"epochs must be a positive integer, got {epochs}" in error_of(example() | {"epochs": epochs})


@pytest.mark.parametrize("batch_size", [0, -1, 2.0, "25"])
def test_non_positive_or_non_integer_batch_size(batch_size):
    data = example()
    data["dataset"]["batch_size"] = batch_size
    assert f"dataset.batch_size must be a positive integer, got {batch_size!r}" in error_of(data)


def test_negative_seed_is_a_config_error_not_a_numpy_error():
    assert "seed must be a non-negative integer, got -1" in error_of(example() | {"seed": -1})


@pytest.mark.parametrize("name", ["", "  ", ".", "..", "../elsewhere", "a/b", "a\\b"])
def test_run_name_must_be_a_plain_folder_name(name):
    """The name becomes ``<out>/<name>``; a path there could make --overwrite delete something else."""
    message = error_of(example() | {"name": name})
    assert "name" in message and repr(name) in message


@pytest.mark.parametrize(
    ("table", "key", "hint"),
    [("dataset", "data_dir", "--data-dir"), ("scheduler", "initial_lr", "optimizer.lr")],
)
def test_options_the_trainer_sets_itself_are_refused_with_the_way_to_set_them(table, key, hint):
    data = example()
    data[table][key] = 0.5
    message = error_of(data)
    assert f"{table}.{key} is not a config key" in message and hint in message


@pytest.mark.parametrize("lr", [0, -0.1, float("nan")])
def test_override_lr_must_be_positive(lr):
    config = parse_toml(ISSUE_EXAMPLE)
    with pytest.raises(ConfigError, match=r"--lr \(optimizer\.lr\) must be positive"):
        with_overrides(config, lr=lr)


def test_overrides_are_applied_and_validated():
    config = parse_toml(ISSUE_EXAMPLE)
    changed = with_overrides(config, name="other", epochs=3, lr=0.5, batch_size=7, seed=4, dtype="float32")
    assert (changed.name, changed.epochs, changed.seed, changed.dtype) == ("other", 3, 4, "float32")
    assert changed.optimizer.options["lr"] == 0.5 and changed.optimizer.options["momentum"] == 0.9
    assert changed.dataset.batch_size == 7
    assert config.optimizer.options["lr"] == 0.02, "the original config must not change"
    with pytest.raises(ConfigError, match="epochs must be a positive integer, got 0"):
        with_overrides(config, epochs=0)
    with pytest.raises(ConfigError, match="dataset.batch_size must be a positive integer, got -1"):
        with_overrides(config, batch_size=-1)
    with pytest.raises(ConfigError, match="dtype must be one of"):
        with_overrides(config, dtype="int8")


# Component names and options are checked when the run is built, against the registry.


def causes(error):
    while error is not None:
        yield error
        error = error.__cause__


def build_error(data):
    with pytest.raises(ConfigError) as info:
        build(config_from_dict(data))
    return info.value


@pytest.mark.parametrize(
    ("mutate", "prefix", "kind", "known"),
    [
        (lambda d: d["layers"][0].update(name="no_such_layer"), "layers[0]", "layer", ["fully_connected"]),
        (lambda d: d["optimizer"].update(name="no_such_optimizer"), "optimizer", "optimizer", ["adam", "sgd"]),
        (
            lambda d: d["scheduler"].update(name="no_such_scheduler"),
            "scheduler",
            "scheduler",
            ["constant", "exponential"],
        ),
        (lambda d: d.update(loss="no_such_loss"), "loss", "loss", ["cross_entropy", "l2"]),
        (lambda d: d["dataset"].update(name="no_such_dataset"), "dataset", "dataset", ["iris"]),
        (
            lambda d: d["layers"][1].update(activation="no_such_activation"),
            "layers[1]",
            "activation",
            ["relu", "softmax", "tanh"],
        ),
    ],
)
def test_unknown_component_lists_the_known_names_of_its_kind(mutate, prefix, kind, known):
    data = example()
    mutate(data)
    error = build_error(data)
    message = str(error)
    assert any(isinstance(e, UnknownComponentError) for e in causes(error))
    assert message.startswith(f"{prefix}:")
    assert f"known {kind}" in message  # "known layers:", "known losses:"
    for name in known:
        assert name in message


@pytest.mark.parametrize(
    ("mutate", "prefix", "option", "allowed"),
    [
        (lambda d: d["layers"][1].update(units=3), "layers[1]", "units", ["n_out", "activation", "weight_init"]),
        (
            lambda d: d["optimizer"].update(dampening=0.1),
            "optimizer",
            "dampening",
            ["lr", "momentum", "clip_norm", "nesterov"],
        ),
        (lambda d: d["scheduler"].update(gamma=0.5), "scheduler", "gamma", ["initial_lr"]),
        (lambda d: d["dataset"].update(shuffle=False), "dataset", "shuffle", ["data_dir"]),
    ],
)
def test_unknown_component_option_names_it_and_the_allowed_options(mutate, prefix, option, allowed):
    data = example()
    mutate(data)
    message = str(build_error(data))
    assert message.startswith(f"{prefix}:")
    assert f"no option {option!r}" in message
    for name in allowed:
        assert name in message


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["layers"][0].update(n_out=0), r"layers\[0\]: .*n_out must be a positive integer"),
        (lambda d: d["layers"][0].update(n_out=2.5), r"layers\[0\]: .*n_out must be a positive integer"),
        (lambda d: d["layers"][0].pop("n_out"), r"layers\[0\]: .*n_out"),
        (lambda d: d["optimizer"].update(lr=-1.0), r"optimizer: .*'lr' must be > 0"),
        (lambda d: d["optimizer"].update(momentum=1.0), r"optimizer: .*'momentum' must be in \[0, 1\)"),
        (
            lambda d: d.update(scheduler={"name": "exponential", "decay": 2.0}),
            r"scheduler: .*'decay' must be in \(0, 1\]",
        ),
        (lambda d: d.update(backend="jax"), r"unknown backend 'jax'; installed backends: .*numpy"),
    ],
)
def test_bad_component_option_values_name_where_they_are(mutate, expected):
    data = example()
    mutate(data)
    assert re.search(expected, str(build_error(data)))


def test_every_bundled_preset_loads():
    names = preset_names()
    assert "iris-ffnn" in names
    for name in names:
        config = load_preset(name)
        assert isinstance(config, RunConfig) and config.layers


def test_unknown_preset_lists_the_presets():
    with pytest.raises(ConfigError, match=r"unknown preset 'nope'; presets: .*iris-ffnn"):
        load_preset("nope")


def test_to_toml_round_trips(tmp_path):
    config = with_overrides(parse_toml(ISSUE_EXAMPLE), dtype="float32", seed=3)
    config.scheduler = ComponentConfig("exponential", {"decay": 0.5, "stage_length": 10, "staircase": True})
    assert parse_toml(config.to_toml()) == config
    path = tmp_path / "config.toml"
    path.write_text(config.to_toml(), encoding="utf-8")
    assert load_config(path) == config
    assert load_config(str(path)) == config


def test_load_config_accepts_a_mapping_and_a_runconfig():
    config = parse_toml(ISSUE_EXAMPLE)
    assert load_config(copy.deepcopy(config.to_dict())) == config
    assert load_config(config) is config


def test_missing_and_invalid_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.toml is not valid TOML"):
        load_config(broken)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(binary)


def test_errors_from_a_file_name_the_file_and_the_key(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text(ISSUE_EXAMPLE.replace("epochs = 100", "epochs = -1"), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and "epochs must be a positive integer, got -1" in str(info.value)


@pytest.mark.parametrize("key", ["activation", "weight_init"])
def test_an_activation_or_weight_init_table_needs_a_name(key):
    data = example()
    data["layers"][0][key] = {"slope": 0.1}
    assert error_of(data).startswith(
        f"layers[0].{key}.name is required: layers[0].{key} is a component name or a table"
    )
    data["layers"][0][key] = {"name": 3}
    assert error_of(data) == f"layers[0].{key}.name must be the registered name of a component (a string), got 3"


def test_activation_and_weight_init_tables_reach_the_layer():
    data = example()
    data["layers"][0]["activation"] = {"name": "gelu"}
    data["layers"][0]["weight_init"] = {"name": "uniform", "low": 0.5, "high": 0.75}
    config = load_config(data)
    assert config.to_dict()["layers"][0]["activation"] == {"name": "gelu"}
    layer = Sequential.from_config(config.layers, n_classes=3).initialize((4,)).layers[0]
    assert layer.activation.name == "gelu"
    assert 0.5 <= layer.parameters["W"].min() and layer.parameters["W"].max() < 0.75


def test_a_table_as_the_last_activation_is_judged_by_its_name():
    data = example()
    data["layers"][-1]["activation"] = {"name": "relu"}
    assert "layers[1].activation is 'relu'" in error_of(data)


def test_an_unknown_option_of_an_activation_table_is_named():
    data = example()
    data["layers"][0]["activation"] = {"name": "relu", "slope": 0.1}
    with pytest.raises(
        ConfigError,
        match=r"^layers\[0\]: layer 'fully_connected': activation 'relu' has no option 'slope'; its options are: \(none\)$",
    ):
        Sequential.from_config(load_config(data).layers, n_classes=3)
