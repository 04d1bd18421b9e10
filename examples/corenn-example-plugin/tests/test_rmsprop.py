"""The rmsprop optimizer against its whole-array reference, through a checkpoint, and in training."""

import numpy as np
import pytest

from corenn.errors import ConfigError
from corenn.run.config import load_config
from corenn.run.train import train
from corenn.testing import check_optimizer_conformance

from corenn_example.rmsprop import RMSprop


def rmsprop_reference(param, grad, state, lr, *, alpha, epsilon):
    """One rmsprop update of one parameter, as the formula reads (Hinton's lecture 6e)."""
    state["square_avg"] = alpha * state.get("square_avg", 0.0) + (1 - alpha) * grad**2
    return param - lr * grad / (np.sqrt(state["square_avg"]) + epsilon)


@pytest.mark.parametrize("options", [{}, {"lr": 0.1, "alpha": 0.5, "epsilon": 1e-3}], ids=repr)
def test_conforms_and_steps_as_the_formula_says(options):
    optimizer = RMSprop(**options)

    def reference(param, grad, state, lr):
        return rmsprop_reference(param, grad, state, lr, alpha=optimizer.alpha, epsilon=optimizer.epsilon)

    largest = check_optimizer_conformance(lambda: RMSprop(**options), reference)
    assert largest["numpy"] <= 1e-12


def test_a_wrong_step_fails_the_conformance_check():
    def reference_without_the_square_root(param, grad, state, lr):
        state["square_avg"] = 0.99 * state.get("square_avg", 0.0) + 0.01 * grad**2
        return param - lr * grad / (state["square_avg"] + 1e-8)

    with pytest.raises(AssertionError, match="RMSprop on numpy: 0.W after step 1 differs from the reference"):
        check_optimizer_conformance(RMSprop, reference_without_the_square_root)


def test_its_state_is_one_slot_per_parameter_in_the_parameters_dtype():
    optimizer = RMSprop(lr=0.1)
    param = np.ones((2, 3), np.float32)
    optimizer.update("0.W", param, np.full((2, 3), 0.5, np.float32))
    state = optimizer.state_dict()
    assert set(state) == {"lr", "square_avg/0.W"}
    assert state["square_avg/0.W"].dtype == np.float32


@pytest.mark.parametrize("option, value", [("lr", 0), ("alpha", 1.0), ("epsilon", -1e-8), ("alpha", True)])
def test_options_are_checked(option, value):
    with pytest.raises(ConfigError, match=option):
        RMSprop(**{option: value})


def test_trains_iris_with_the_huber_loss_and_the_step_decay_schedule():
    config = load_config(_config_path())
    result = train(config, record=False, verbose=False)
    assert result["test_accuracy"] >= 0.9


def _config_path():
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / "iris-rmsprop.toml"
