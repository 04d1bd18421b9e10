"""Tests for what a mutation check found the suite letting through (issue 22, hole 12;
``python bench/mutation_check.py``): one-line changes to the layers, losses, optimizers,
schedulers and the training loop that every other test passed. Each test below names the
change it now catches.
"""

import threading

import numpy as np
import pytest

import corenn
from corenn.nn.losses import smallest_normal
from corenn.nn.schedulers import Cosine, OneCycle
from corenn.run.config import load_preset, with_overrides

from suite_helpers import trainer_for


def test_relu_passes_the_gradient_for_every_positive_input():
    """``Z > 0`` made ``Z > 1``: the gradient checks draw inputs away from the kink, mostly beyond 1."""
    relu = corenn.create("activation", "relu")
    Z = np.array([[-1.0, 0.0, 0.25, 0.75, 3.0]])
    np.testing.assert_array_equal(relu.backward(Z, np.ones_like(Z)), [[0.0, 0.0, 1.0, 1.0, 1.0]])


def test_pool2d_slides_one_pixel_at_a_time_by_default():
    """The default ``stride=1`` made 2: the course's Pool2D windows overlap unless told otherwise."""
    pool = corenn.create("layer", "pool2d", kernel_shape=[2, 2])
    X = np.arange(16, dtype=np.float64).reshape(1, 4, 4, 1)
    Y = pool.forward(X)
    assert Y.shape == (1, 3, 3, 1)
    np.testing.assert_array_equal(Y[0, :, :, 0], [[5, 6, 7], [9, 10, 11], [13, 14, 15]])


def test_the_smallest_normal_of_a_dtype_known_by_name_only():
    """``rpartition('.')[2]`` made ``[3]`` (an IndexError): torch's dtypes reach the losses by
    name (``torch.float32``, ``torch.bfloat16``), which numpy's ``np.dtype`` does not take."""

    class ForeignDtype:
        def __init__(self, name):
            self.name = name

        def __str__(self):
            return f"torch.{self.name}"

    assert smallest_normal(ForeignDtype("float32")) == np.finfo(np.float32).tiny
    assert smallest_normal(ForeignDtype("bfloat16")) == np.finfo(np.float32).tiny


def test_one_cycle_linear_phases_are_straight_lines():
    """``start + (end - start) * f`` made ``start - ...``: no test ran the linear anneal."""
    schedule = OneCycle(1.0, total_steps=11, pct_start=0.5, div_factor=10.0, final_div_factor=100.0, anneal="linear")
    # peak at step 0.5 * 11 - 1 = 4.5: from 0.1 up to 1.0, then down to 0.001 at step 10
    assert schedule(0) == pytest.approx(0.1)
    assert schedule(3) == pytest.approx(0.1 + 0.9 * 3 / 4.5)
    assert schedule(7) == pytest.approx(1.0 + (0.001 - 1.0) * (7 - 4.5) / (10 - 4.5))
    assert schedule(10) == pytest.approx(0.001)


def test_schedules_at_the_edges_of_what_they_allow():
    """``0 < peak_step`` made ``1 < peak_step`` and ``total_steps <= 0`` made ``<= 1``: a
    one-step cosine and a one-cycle peaking before its second step are allowed."""
    assert Cosine(0.1, total_steps=1)(0) == pytest.approx(0.1)
    assert OneCycle(1.0, total_steps=4, pct_start=0.4).peak_step == pytest.approx(0.6)


def test_evaluation_in_batches_weights_each_batch_by_its_samples():
    """``loss_sum += loss * len(Y)`` made ``/ len(Y)``: the validation loss over batches of 4
    (the last one shorter) must be the loss over the whole split."""
    trainer = trainer_for(with_overrides(load_preset("iris-ffnn"), epochs=1))
    split = trainer.data.val
    whole = trainer.evaluate(split, "val", batch_size=len(split))
    batched = trainer.evaluate(split, "val", batch_size=4)
    assert len(split) % 4 != 0
    assert batched["val_loss"] == pytest.approx(whole["val_loss"], rel=1e-12)
    assert batched["val_accuracy"] == whole["val_accuracy"]


def test_an_epochs_seconds_are_its_own():
    """``perf_counter() - started`` made ``+``: an epoch's time must lie within the run's."""
    import time

    started = time.perf_counter()
    trainer = trainer_for(with_overrides(load_preset("iris-ffnn"), epochs=2))
    trainer.fit()
    elapsed = time.perf_counter() - started
    assert all(0 < row["seconds"] <= elapsed for row in trainer.run.history)


class SharedReductions:
    """Two ranks' collectives inside one process: each rank (a thread) leaves its buffer, both
    wait, and each reads the sum (or maximum, or rank 0's) of the two."""

    def __init__(self, world_size=2):
        self.barrier = threading.Barrier(world_size, timeout=20)
        self.buffers = [None] * world_size

    def reduce(self, rank, values, combine):
        self.buffers[rank] = values
        self.barrier.wait()
        result = combine(self.buffers)
        self.barrier.wait()
        return result


class ThreadRankGroup:
    """The process group the trainer asks for, for one thread-rank of :class:`SharedReductions`."""

    def __init__(self, shared, rank):
        self.shared, self.rank, self.world_size = shared, rank, len(shared.buffers)

    def all_reduce_sum(self, arrays, scalars=()):
        flat = np.concatenate([np.ravel(array).astype(np.float64) for array in arrays] + [np.asarray(scalars, float)])
        total = self.shared.reduce(self.rank, flat, lambda buffers: sum(buffers))
        position = 0
        for array in arrays:
            np.copyto(array, total[position : position + array.size].reshape(array.shape))
            position += array.size
        return [float(value) for value in total[position:]]

    def all_reduce_max(self, values):
        return self.shared.reduce(self.rank, np.asarray(values, float), lambda buffers: np.maximum(*buffers))

    def broadcast(self, arrays):
        firsts = self.shared.reduce(self.rank, [np.array(array) for array in arrays], lambda buffers: buffers[0])
        for array, first in zip(arrays, firsts, strict=True):
            np.copyto(array, first)


def train_on_two_thread_ranks(config, before_fit=None):
    shared = SharedReductions()
    trainers = [trainer_for(config) for _ in range(2)]
    errors = []

    def run(rank):
        trainer = trainers[rank]
        trainer.group = ThreadRankGroup(shared, rank)
        if before_fit is not None:
            before_fit(trainer, rank)
        try:
            trainer.fit()
        except BaseException as exc:  # noqa: BLE001 (kept for the main thread to judge)
            errors.append((rank, exc))

    threads = [threading.Thread(target=run, args=(rank,)) for rank in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return trainers, errors


def test_two_ranks_train_what_one_process_trains():
    """Each rank's share weighs its gradient (``(high - low) / batch_size``; made ``high + low``),
    its loss (``* (high - low)``) and an empty share adds nothing (``local_correct = 0``; made 1):
    rank 1's share starts past 0, so a one-rank stand-in cannot see these. Batches of 25 on 105
    samples: the last batch of 5 is shared 3 and 2."""
    config = with_overrides(load_preset("iris-ffnn"), epochs=3, batch_size=25)
    single = trainer_for(config)
    single.fit()
    trainers, errors = train_on_two_thread_ranks(config)
    assert errors == []
    for trainer in trainers:
        for name, value in single.run.model.named_parameters().items():
            np.testing.assert_allclose(trainer.run.model.named_parameters()[name], value, rtol=0, atol=1e-10)
        for mine, theirs in zip(trainer.run.history, single.run.history, strict=True):
            assert mine["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-12)
            assert mine["train_accuracy"] == theirs["train_accuracy"]


def test_two_ranks_stop_after_the_same_step_when_one_is_interrupted():
    """A Ctrl-C that reaches rank 1 alone (as the launcher's forwarded signal may reach the ranks
    a step apart) stops both ranks after the same step: each says in the step's all-reduce
    whether it was asked to stop. Before, rank 1 stopped alone and rank 0 waited in the next
    all-reduce for a partner that had left."""
    config = with_overrides(load_preset("iris-ffnn"), epochs=3, batch_size=25)

    def interrupt_rank_one_at_step_7(trainer, rank):
        if rank == 1:
            original = trainer.update

            def update():
                original()
                if trainer.run.step == 7:
                    trainer.interrupts.requested = KeyboardInterrupt

            trainer.update = update

    trainers, errors = train_on_two_thread_ranks(config, interrupt_rank_one_at_step_7)
    assert sorted(rank for rank, _ in errors) == [0, 1]
    assert all(type(exc) is KeyboardInterrupt for _, exc in errors)
    assert [trainer.run.step for trainer in trainers] == [8, 8]  # the step after the request, on both
