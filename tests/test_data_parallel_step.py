"""The trainer's data-parallel step, in one process: with a stand-in group of one rank (its
collectives return what they are given), the data-parallel path must train exactly what the
single-process path trains, report each step to ``corenn_step_end`` and check the ranks'
checksums. The collectives themselves, over real processes, are tested in tests/distributed."""

import numpy as np

import corenn
from corenn.run.config import load_preset, with_overrides
from corenn.testing import plugin_system_from, plugins_in_use

from suite_helpers import trainer_for


class OneRankGroup:
    """A process group of one: sums and maxima over one rank are the values themselves."""

    rank = 0
    world_size = 1

    def __init__(self):
        self.reductions = 0
        self.checksum_rounds = 0

    def all_reduce_sum(self, arrays, scalars=()):
        self.reductions += 1
        return [float(value) for value in scalars]

    def all_reduce_max(self, values):
        self.checksum_rounds += 1
        return np.asarray(values)

    def broadcast(self, arrays):
        pass


class StepRecorder:
    def __init__(self):
        self.steps = []

    @corenn.hookimpl
    def corenn_step_end(self, run, step, metrics):
        self.steps.append((step, metrics["loss"], metrics["accuracy"], metrics["learning_rate"]))


def trained(config, group=None):
    recorder = StepRecorder()
    with plugins_in_use(plugin_system_from(recorder)):
        trainer = trainer_for(config)
        trainer.group = group
        trainer.fit()
    return trainer, recorder.steps


def test_the_data_parallel_step_on_one_rank_trains_what_one_process_trains():
    config = with_overrides(load_preset("iris-ffnn"), epochs=3)
    single, single_steps = trained(config)
    group = OneRankGroup()
    parallel, parallel_steps = trained(config, group)
    for name, value in single.run.model.named_parameters().items():
        assert np.array_equal(value, parallel.run.model.named_parameters()[name]), name
    assert parallel.run.step_losses == single.run.step_losses
    assert len(parallel_steps) == len(single_steps) == single.run.step > 0
    assert parallel_steps == single_steps  # (step, loss, accuracy, learning rate) of every update
    assert group.reductions >= single.run.step  # one per step, and the sharded evaluations'
    assert group.checksum_rounds == 3  # the parameters compared at each epoch's end
