"""A tiny network trains on one torch thread (issue 23, item 2).

torch parallelises even a 25 x 32 softmax over its intra-op threads; on a busy 2-core machine each
such operation then waited 0.2 to 1 ms for the other thread (10 us alone), which made the Iris
preset several times slower on torch than on numpy. Unless the config sets ``threads``, a network
under :data:`corenn.run.train.TINY_STEP_WORK` trains on one thread; a larger one keeps torch's
default, and the thread count is restored once the run ends.
"""

import torch

import corenn
from corenn.run.config import load_preset, with_overrides
from corenn.run.train import TINY_STEP_WORK, train, training_threads

from suite_helpers import trainer_for


class ThreadsSeen:
    threads = None

    @corenn.hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        self.threads = torch.get_num_threads()


def iris(**changes):
    return with_overrides(load_preset("iris-ffnn"), epochs=1, backend="torch", **changes)


def test_the_iris_network_is_tiny_on_torch_and_trains_on_one_thread(tmp_path):
    trainer = trainer_for(iris())
    assert training_threads(trainer) == 1
    before = torch.get_num_threads()
    seen = ThreadsSeen()
    train(iris(), out_dir=tmp_path, verbose=False, callbacks=[seen])
    assert seen.threads == 1 and torch.get_num_threads() == before


def test_a_config_that_sets_threads_keeps_them():
    trainer = trainer_for(iris(threads=2))
    assert training_threads(trainer) == 2


def test_a_network_past_the_bound_keeps_torchs_default():
    data = iris().to_dict()
    data["layers"][0]["n_out"] = TINY_STEP_WORK // (25 * 4)  # 4 inputs, batches of 25: past the bound
    trainer = trainer_for(corenn.run.config.config_from_dict(data))
    assert training_threads(trainer) is None


def test_numpy_runs_keep_the_blas_default():
    trainer = trainer_for(with_overrides(load_preset("iris-ffnn"), epochs=1))
    assert training_threads(trainer) is None
