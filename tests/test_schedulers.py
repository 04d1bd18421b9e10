"""The built-in learning-rate schedules."""

import pytest
from hypothesis import given, strategies as st

import corenn
from corenn.errors import ConfigError
from corenn.nn.schedulers import Constant, Exponential
from corenn.protocols import Scheduler


def test_constant_gives_the_initial_rate_at_every_step():
    schedule = Constant(0.05)
    assert [schedule(step) for step in (0, 1, 999, 10**9)] == [0.05] * 4


def test_exponential_smooth_values():
    schedule = Exponential(1.0, decay=0.5, stage_length=10)
    assert schedule(0) == 1.0
    assert schedule(10) == pytest.approx(0.5, rel=1e-15)
    assert schedule(20) == pytest.approx(0.25, rel=1e-15)
    assert schedule(5) == pytest.approx(2**-0.5, rel=1e-15)
    assert schedule(15) == pytest.approx(2**-1.5, rel=1e-15)


def test_exponential_defaults_divide_by_ten_every_500_steps():
    schedule = Exponential(0.1)
    assert schedule(500) == pytest.approx(0.01, rel=1e-12)
    assert schedule(1000) == pytest.approx(0.001, rel=1e-12)


def test_staircase_holds_the_rate_inside_a_stage_and_drops_at_the_boundary():
    schedule = Exponential(0.8, decay=0.5, stage_length=4, staircase=True)
    rates = [schedule(step) for step in range(12)]
    assert rates == [0.8] * 4 + [0.4] * 4 + [0.2] * 4
    smooth = Exponential(0.8, decay=0.5, stage_length=4)
    assert smooth(3) < smooth(0)  # without staircase the rate already falls inside the stage
    assert smooth(4) == pytest.approx(schedule(4), rel=1e-15)  # and both agree on boundaries


@given(step=st.integers(0, 10**6), stage_length=st.integers(1, 1000), decay=st.floats(0.01, 1.0))
def test_staircase_never_exceeds_nor_falls_below_the_smooth_schedule_by_more_than_one_stage(step, stage_length, decay):
    stairs = Exponential(1.0, decay=decay, stage_length=stage_length, staircase=True)
    smooth = Exponential(1.0, decay=decay, stage_length=stage_length)
    assert stairs(step) >= smooth(step) * (1 - 1e-12)
    assert stairs(step) * decay <= smooth(step) * (1 + 1e-12)
    assert stairs(step + 1) <= stairs(step)


def test_decay_of_one_keeps_the_rate():
    assert Exponential(0.3, decay=1.0, stage_length=2)(1234) == 0.3


@pytest.mark.parametrize(
    ("options", "option", "allowed"),
    [
        ({"decay": 0.0}, "decay", "> 0"),
        ({"decay": 1.5}, "decay", "(0, 1]"),
        ({"stage_length": 0}, "stage_length", "positive int"),
        ({"stage_length": 2.5}, "stage_length", "positive int"),
        ({"stage_length": True}, "stage_length", "positive int"),
        ({"staircase": "yes"}, "staircase", "true or false"),
        ({"initial_lr": -1.0}, "initial_lr", "> 0"),
    ],
)
def test_bad_options_name_the_option_and_the_allowed_range(options, option, allowed):
    with pytest.raises(ConfigError) as excinfo:
        Exponential(**({"initial_lr": 0.1} | options))
    assert repr(option) in str(excinfo.value) and allowed in str(excinfo.value)


def test_constant_rejects_a_non_positive_rate():
    with pytest.raises(ConfigError, match="'initial_lr'"):
        Constant(0.0)


@pytest.mark.parametrize("step", [-1, 1.5])
def test_steps_are_non_negative_ints(step):
    with pytest.raises(ValueError, match="step"):
        Exponential(0.1)(step)


def test_created_through_the_registry():
    constant = corenn.create("scheduler", "constant", initial_lr=0.2)
    exponential = corenn.create("scheduler", "exponential", initial_lr=0.2, decay=0.5, stage_length=3, staircase=True)
    assert isinstance(constant, Scheduler) and isinstance(exponential, Scheduler)
    assert constant(7) == 0.2
    assert [exponential(step) for step in (2, 3)] == [0.2, 0.1]
    with pytest.raises(ConfigError, match="scheduler 'exponential' has no option 'gamma'"):
        corenn.create("scheduler", "exponential", initial_lr=0.2, gamma=0.5)
