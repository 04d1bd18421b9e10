"""``threads``: the BLAS runs the training on at most that many threads, and is restored after."""

import numpy as np
import pytest
import threadpoolctl

from corenn.errors import ConfigError
from corenn.hookspecs import hookimpl
from corenn.run.config import load_config, load_preset, with_overrides
from corenn.run.train import train


def blas_threads():
    return [pool["num_threads"] for pool in threadpoolctl.threadpool_info() if pool["user_api"] == "blas"]


class ThreadSpy:
    """Reads the BLAS thread counts at each epoch's end, while the trainer runs."""

    def __init__(self):
        self.seen = []

    @hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        self.seen.append(blas_threads())


def test_threads_caps_the_blas_while_training_and_restores_it():
    np.ones((2, 2)) @ np.ones((2, 2))  # the BLAS is loaded
    before = blas_threads()
    assert before, "no BLAS found by threadpoolctl"
    spy = ThreadSpy()
    config = with_overrides(load_preset("iris-ffnn"), epochs=2, threads=1)
    train(config, record=False, verbose=False, callbacks=[spy])
    assert spy.seen == [[1] * len(before)] * 2
    assert blas_threads() == before


def test_without_threads_the_blas_is_left_alone():
    before = blas_threads()
    spy = ThreadSpy()
    train(with_overrides(load_preset("iris-ffnn"), epochs=1), record=False, verbose=False, callbacks=[spy])
    assert spy.seen == [before]


def test_threads_is_a_config_key_written_back_only_when_set():
    config = with_overrides(load_preset("iris-ffnn"), threads=3)
    assert config.threads == 3 and config.to_dict()["threads"] == 3
    assert "threads" not in load_preset("iris-ffnn").to_dict()


@pytest.mark.parametrize("value", [0, -2, 1.5, True, "2"])
def test_threads_must_be_a_positive_integer(value):
    data = load_preset("iris-ffnn").to_dict() | {"threads": value}
    with pytest.raises(ConfigError, match="threads must be"):
        load_config(data)
