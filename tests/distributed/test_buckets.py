"""Gradients summed bucket by bucket while backward runs (corenn.run.distributed.GradientBuckets):
which parameters share a bucket, when each bucket's all-reduce starts, the sums and scalars it
returns (a stand-in group, no processes); and two ranks whose buckets are one per parameter, a
few parameters each, or one for all train what one process trains (torchrun on 127.0.0.1)."""

import os
import re

import numpy as np
import pytest
from conftest import corenn, environment, largest_difference, parameters, write_config

import corenn as corenn_package
from corenn.errors import ConfigError
from corenn.nn.model import Sequential
from corenn.run.config import load_preset, with_overrides
from corenn.run.distributed import BUCKET_VARIABLE, GradientBuckets, bucket_bytes

from suite_helpers import trainer_for

TOLERANCE = 1e-10


class SynchronousGroup:
    """A group of two ranks whose other rank holds gradients twice this one's: every sum is three
    times the array; it has only ``all_reduce_sum`` (the hook's contract before buckets)."""

    def __init__(self, events):
        self.events = events

    def all_reduce_sum(self, arrays, scalars=()):
        self.events.append(("all_reduce_sum", len(arrays), list(scalars)))
        for array in arrays:
            array *= 3
        return [3 * value for value in scalars]


class RecordingGroup(SynchronousGroup):
    """The same sums, started asynchronously: records each start (after the layers whose
    backward had run by then, in ``events``) and each wait."""

    def start_all_reduce_sum(self, arrays, scalars=()):
        self.events.append(("start", len(arrays), list(scalars)))
        events = self.events

        class Pending:
            def wait(self):
                events.append(("wait",))
                for array in arrays:
                    array *= 3
                return [3 * value for value in scalars]

        return Pending()


def mlp(events):
    """784 -> 64 -> 32 -> 10 in float64, each layer's backward logged in ``events``."""
    layers = [corenn_package.create("layer", "flatten")]
    layers += [corenn_package.create("layer", "fully_connected", n_out=n, activation="relu") for n in (64, 32)]
    layers += [corenn_package.create("layer", "fully_connected", n_out=10, activation="softmax")]
    for layer in layers:
        layer.rng = np.random.default_rng(0)
    model = Sequential(layers).skip_input_gradient().initialize((28, 28, 1))
    for index, layer in enumerate(model.layers):
        original = layer.backward

        def logged(dLdY, index=index, original=original):
            events.append(("backward", index))
            return original(dLdY)

        layer.backward = logged
    return model


def step(model, buckets, scalars=(1.0, 0.0, 5.0)):
    X = np.random.default_rng(1).normal(size=(8, 28, 28, 1))
    dLdY = model.forward(X) - 0.1
    return buckets.backward_and_sum(lambda after_layer: model.backward(dLdY, after_layer=after_layer), list(scalars))


def second_step(model, buckets):
    """The step after the first (whose backward gives the buckets' sizes, before one sum of all),
    its events alone."""
    events = buckets.group.events
    assert step(model, buckets) == [3.0, 0.0, 15.0]
    assert [event[0] for event in events] == ["backward"] * 4 + ["all_reduce_sum"]
    events.clear()
    return step(model, buckets)


def test_one_bucket_per_parameter_in_backward_order():
    events = []
    model = mlp(events)
    buckets = GradientBuckets(RecordingGroup(events), model, 1)
    step(model, buckets)
    expected = [[(3, "b")], [(3, "W")], [(2, "b")], [(2, "W")], [(1, "b")], [(1, "W")]]
    assert buckets.buckets == expected


def test_buckets_close_once_they_hold_their_bytes():
    """Layer 3's W (32x10 float64: 2,560 bytes) and b, then layer 2's (64x32: 16,384 bytes)..."""
    events = []
    model = mlp(events)
    buckets = GradientBuckets(RecordingGroup(events), model, 3000)
    step(model, buckets)
    assert buckets.buckets == [[(3, "b"), (3, "W"), (2, "b"), (2, "W")], [(1, "b"), (1, "W")]]


def test_each_bucket_starts_once_its_layers_are_done():
    events = []
    model = mlp(events)
    buckets = GradientBuckets(RecordingGroup(events), model, 1)
    summed = second_step(model, buckets)
    kinds = [event[0] if event[0] != "backward" else f"backward {event[1]}" for event in events]
    # flatten (layer 0) holds no parameters, so no bucket waits for it; no all-reduce waits for another
    assert kinds == [
        "backward 3",
        "start",
        "start",
        "backward 2",
        "start",
        "start",
        "backward 1",
        "start",
        "start",
        "backward 0",
        *["wait"] * 6,
    ]
    assert events[1] == ("start", 1, [1.0, 0.0, 5.0])  # the scalars travel in the first bucket
    assert all(event[2] == [] for event in events if event[0] == "start" and event is not events[1])
    assert summed == [3.0, 0.0, 15.0]


@pytest.mark.parametrize("size", [0, 1, 3000, 10**9])
def test_every_gradient_summed_once(size):
    """Whatever the buckets, each gradient is the sum (here 3 times this rank's) exactly once."""
    events = []
    model = mlp(events)
    reference = mlp([])
    X = np.random.default_rng(1).normal(size=(8, 28, 28, 1))
    reference.backward(reference.forward(X) - 0.1)
    summed = second_step(model, GradientBuckets(RecordingGroup(events), model, size))
    assert summed == [3.0, 0.0, 15.0]
    for name, value in reference.named_gradients().items():
        np.testing.assert_array_equal(model.named_gradients()[name], 3 * value, err_msg=name)


def test_size_zero_sums_once_after_backward():
    events = []
    model = mlp(events)
    step(model, GradientBuckets(RecordingGroup(events), model, 0))
    assert [event[0] for event in events] == ["backward", "backward", "backward", "backward", "all_reduce_sum"]
    assert events[-1] == ("all_reduce_sum", 6, [1.0, 0.0, 5.0])


def test_group_without_asynchronous_sums_falls_back_to_one_after_backward():
    """A process group from another plugin that has only all_reduce_sum (the hook's older contract)."""
    events = []
    model = mlp(events)
    buckets = GradientBuckets(SynchronousGroup(events), model, 1)
    assert second_step(model, buckets) == [3.0, 0.0, 15.0]
    assert [event[0] for event in events] == ["backward"] * 4 + ["all_reduce_sum"]


def test_buckets_hold_gradients_made_in_the_first_backward():
    """A layer may make its gradients only when its backward first runs: the first step sums
    after the whole backward, and the buckets are made from what it left."""
    events = []
    model = mlp(events)
    model.layers[2].gradients.clear()
    buckets = GradientBuckets(RecordingGroup(events), model, 1)
    second_step(model, buckets)
    assert [(2, "b")] in buckets.buckets and [(2, "W")] in buckets.buckets
    assert [event[0] for event in events].count("start") == 6


def test_rank_without_samples_sums_its_zeros():
    events = []
    model = mlp(events)
    buckets = GradientBuckets(RecordingGroup(events), model, 1)
    step(model, buckets)
    events.clear()
    for value in model.named_gradients().values():
        value[...] = 0
    assert buckets.backward_and_sum(None, [0.0, 1.0, 0.0]) == [0.0, 3.0, 0.0]
    assert [event[0] for event in events] == ["start"] * 6 + ["wait"] * 6


@pytest.mark.parametrize(
    "text, expected", [(None, 1_000_000), ("", 1_000_000), ("0", 0), ("2.5", 2_500_000), ("1e-9", 1)]
)
def test_bucket_size_from_the_environment(text, expected):
    environ = {} if text is None else {BUCKET_VARIABLE: text}
    assert bucket_bytes(environ) == expected


@pytest.mark.parametrize("text", ["-1", "many", "inf", "nan"])
def test_bucket_size_refused(text):
    said = f"{BUCKET_VARIABLE} must be a number of megabytes, 0 or more (0: one all-reduce after the whole backward), got {text!r}"
    with pytest.raises(ConfigError, match=f"^{re.escape(said)}$"):
        bucket_bytes({BUCKET_VARIABLE: text})


class OneRankGroup:
    """A process group of one whose sums start asynchronously: the values themselves."""

    rank = 0
    world_size = 1

    def __init__(self):
        self.started = 0

    def start_all_reduce_sum(self, arrays, scalars=()):
        self.started += 1
        summed = [float(value) for value in scalars]
        return type("Pending", (), {"wait": lambda self: summed})()

    def all_reduce_sum(self, arrays, scalars=()):
        return [float(value) for value in scalars]

    def all_reduce_max(self, values):
        return np.asarray(values)

    def broadcast(self, arrays):
        pass


def test_the_trainer_with_buckets_trains_what_one_process_trains(monkeypatch):
    """The trainer's data-parallel step through GradientBuckets, one parameter per bucket."""
    monkeypatch.setenv(BUCKET_VARIABLE, "1e-9")
    config = with_overrides(load_preset("iris-ffnn"), epochs=2)
    single = trainer_for(config)
    single.fit()
    parallel = trainer_for(config)
    parallel.group = group = OneRankGroup()
    parallel.fit()
    for name, value in single.run.model.named_parameters().items():
        assert np.array_equal(value, parallel.run.model.named_parameters()[name]), name
    assert parallel.run.step_losses == single.run.step_losses
    n_arrays = len(single.run.model.named_parameters())
    assert group.started == n_arrays * (single.run.step - 1) > 0  # the first step sums after backward


def train(launches, config, out, name, bucket_mb=None, *extra):
    env = environment()
    if bucket_mb is not None:
        env[BUCKET_VARIABLE] = bucket_mb
    args = corenn("train", "--config", str(config), "--out", str(out), "--name", name, "--quiet", *extra)
    result = launches.run(args, env=env)
    assert result.returncode == 0, result.stderr
    return parameters(os.path.join(out, name))


@pytest.mark.parametrize("backend, sizes", [("numpy", ("1e-9", "0.0004", "0")), ("torch", ("1e-9", "0.0004"))])
def test_two_ranks_equal_one_whatever_the_buckets(tmp_path, launches, backend, sizes):
    """Buckets of one parameter each (1e-9 MB), of two (the iris net's last layer's b and W, 408
    bytes in float64, then the first layer's: 0.0004 MB), and one sum after the whole backward
    (0; the other tests run the default, one bucket for this small net): the same numbers as one
    process, and as each other (2 ranks: each value is one rank's plus the other's)."""
    config = write_config(tmp_path, "net", backend=backend, epochs=2)
    one = train(launches, config, tmp_path, "one")
    runs = {size: train(launches, config, tmp_path, f"two-{size}", size, "--nproc", "2") for size in sizes}
    for size, two in runs.items():
        assert largest_difference(one, two) < TOLERANCE, size
        assert largest_difference(runs[sizes[0]], two) == 0.0, size
