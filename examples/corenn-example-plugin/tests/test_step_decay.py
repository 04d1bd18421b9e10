"""The step_decay schedule."""

import pytest

from corenn.errors import ConfigError
from corenn.testing import check_scheduler_conformance

from corenn_example.step_decay import StepDecay


def test_halves_every_stage():
    schedule = StepDecay(0.1, gamma=0.5, step_size=3)
    assert [schedule(step) for step in range(7)] == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]


def test_conforms():
    rates = check_scheduler_conformance(lambda initial_lr: StepDecay(initial_lr, step_size=10))
    assert rates[0] == 0.1 and rates[10] == 0.05


@pytest.mark.parametrize("options", [{"gamma": 0}, {"gamma": 1.5}, {"step_size": 0}, {"step_size": 2.5}], ids=repr)
def test_options_are_checked(options):
    with pytest.raises(ConfigError):
        StepDecay(0.1, **options)
