"""The plugin's lifecycle hooks: [plugins.example] target_accuracy stops a run, and is checked."""

import pytest

from corenn.errors import ConfigError
from corenn.run.train import train

CONFIG = {
    "name": "target",
    "epochs": 200,
    "dataset": {"name": "iris", "batch_size": 25},
    "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
    "layers": [
        {"name": "fully_connected", "n_out": 16, "activation": "tanh"},
        {"name": "fully_connected", "n_out": "auto", "activation": "softmax"},
    ],
}


def test_the_run_stops_once_the_target_is_reached():
    result = train(CONFIG | {"plugins": {"example": {"target_accuracy": 0.9}}}, record=False, verbose=False)
    assert result["stopped_early"] == {"epoch": result["epochs"], "reason": "requested"} and result["epochs"] < 200
    assert result["val_accuracy"] >= 0.9


def test_without_the_table_the_run_goes_on():
    result = train(CONFIG | {"epochs": 3}, record=False, verbose=False)
    assert result["epochs"] == 3 and not result["stopped_early"]


@pytest.mark.parametrize(
    "table, message",
    [
        ({"target_accuracy": 1.5}, "plugins.example.target_accuracy must be a number in (0, 1], got 1.5"),
        ({"target": 0.9}, "plugins.example has no option 'target'; its options are: target_accuracy"),
    ],
)
def test_a_bad_table_stops_the_run_before_it_starts(table, message):
    with pytest.raises(ConfigError) as raised:
        train(CONFIG | {"plugins": {"example": table}}, record=False, verbose=False)
    assert str(raised.value) == message
