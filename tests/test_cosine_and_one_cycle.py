"""The cosine and one_cycle schedules: their shape, end points, options and registration.

Agreement with torch's OneCycleLR, value by value, is checked in the torch session
(plugins/nn-torch/tests/test_torch_schedules.py).
"""

import math
from itertools import pairwise

import pytest

import corenn
from corenn.errors import ConfigError
from corenn.nn.schedulers import Cosine, OneCycle
from corenn.plugins import get_registry
from corenn.registry import option_names


def test_cosine_without_warmup_falls_from_initial_to_min_along_half_a_cosine():
    schedule = Cosine(0.4, total_steps=100, min_lr=0.1)
    assert schedule(0) == 0.4
    assert schedule(50) == pytest.approx(0.25, rel=1e-15)  # halfway: the mean of both ends
    assert schedule(25) == pytest.approx(0.1 + 0.3 * (1 + math.cos(math.pi / 4)) / 2, rel=1e-15)
    rates = [schedule(step) for step in range(100)]
    assert all(later < earlier for earlier, later in pairwise(rates))
    assert [schedule(step) for step in (100, 101, 10**6)] == [0.1] * 3


def test_cosine_warmup_rises_linearly_to_initial_lr_then_anneals():
    schedule = Cosine(1.0, total_steps=20, warmup_steps=4)
    assert [schedule(step) for step in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert schedule(4) == 1.0
    assert schedule(12) == pytest.approx(0.5, rel=1e-15)
    assert schedule(20) == 0.0


def test_one_cycle_starts_peaks_and_ends_where_torch_puts_them():
    schedule = OneCycle(0.5, total_steps=100, pct_start=0.3, div_factor=25, final_div_factor=1e4)
    assert schedule(0) == pytest.approx(0.5 / 25, rel=1e-15)
    assert schedule(29) == pytest.approx(0.5, rel=1e-15)  # peak at pct_start * total_steps - 1
    assert schedule(99) == pytest.approx(0.5 / 25 / 1e4, rel=1e-12)
    rates = [schedule(step) for step in range(100)]
    assert all(b > a for a, b in pairwise(rates[:30]))
    assert all(b < a for a, b in pairwise(rates[29:]))
    assert schedule(100) == schedule(5000) == schedule(99)  # past the end: the final rate holds


def test_one_cycle_is_a_half_cosine_in_each_phase():
    schedule = OneCycle(1.0, total_steps=41, pct_start=0.5, div_factor=10, final_div_factor=100)
    peak = 0.5 * 41 - 1  # 19.5: between two steps
    start, final = 0.1, 0.001
    for step in (0, 7, 19, 20, 33, 40):
        if step <= peak:
            expected = 1.0 + (start - 1.0) * (1 + math.cos(math.pi * step / peak)) / 2
        else:
            expected = final + (1.0 - final) * (1 + math.cos(math.pi * (step - peak) / (40 - peak))) / 2
        assert schedule(step) == pytest.approx(expected, rel=1e-14)


@pytest.mark.parametrize("name", ["cosine", "one_cycle"])
def test_registered_with_total_steps_among_the_options(name):
    """The trainer fills in ``total_steps`` for factories whose options include it."""
    schedule = corenn.create("scheduler", name, initial_lr=0.1, total_steps=50)
    assert 0 < schedule(10) <= 0.1
    assert "total_steps" in option_names(get_registry().get("scheduler", name).load())


@pytest.mark.parametrize(
    "name, options, message",
    [
        ("cosine", {"total_steps": 0}, "option 'total_steps' must be a positive int"),
        ("cosine", {"total_steps": 10.5}, "option 'total_steps' must be a positive int"),
        ("cosine", {"total_steps": 10, "min_lr": 0.5}, r"option 'min_lr' must be a number in \[0, initial_lr"),
        ("cosine", {"total_steps": 10, "min_lr": -1e-3}, r"option 'min_lr' must be a number in \[0, initial_lr"),
        (
            "cosine",
            {"total_steps": 10, "warmup_steps": 10},
            r"option 'warmup_steps' must be an int in \[0, total_steps = 10\)",
        ),
        ("cosine", {"total_steps": 10, "warmup_steps": -1}, "option 'warmup_steps'"),
        ("one_cycle", {"total_steps": 100, "pct_start": 0}, r"option 'pct_start' must be a number in \(0, 1\)"),
        ("one_cycle", {"total_steps": 100, "pct_start": 1.0}, r"option 'pct_start' must be a number in \(0, 1\)"),
        ("one_cycle", {"total_steps": 100, "div_factor": 0}, "option 'div_factor' must be > 0, got 0.0"),
        ("one_cycle", {"total_steps": 100, "final_div_factor": -2}, "option 'final_div_factor'"),
        ("one_cycle", {"total_steps": 3}, "the peak's step"),
        ("one_cycle", {"total_steps": True}, "option 'total_steps' must be a positive int"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(name, options, message):
    with pytest.raises(ConfigError, match=message):
        corenn.create("scheduler", name, initial_lr=0.1, **options)


@pytest.mark.parametrize("schedule", [Cosine(0.1, 10), OneCycle(0.1, 10)])
def test_a_negative_step_is_an_error(schedule):
    with pytest.raises(ValueError, match="step must be an int >= 0"):
        schedule(-1)
