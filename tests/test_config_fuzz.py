"""Config fuzzing: any config either trains or fails with a CorennError naming the key at fault.

Hypothesis mutates the Iris preset: keys set to values of the right and the wrong type,
unknown keys, deleted keys, unknown component names and options, empty layer stacks, ``"auto"``
in the middle. Whatever comes out, training must never raise anything but a
:class:`~corenn.errors.CorennError`, and a config error must say where it is.
"""

import math
import os

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from corenn.builtins import INITIALIZERS as BUILTIN_INITIALIZERS
from corenn.errors import CorennError, TrainingDiverged
from corenn.run.config import config_from_dict, load_preset, parse_toml
from corenn.run.train import train

ACTIVATIONS = ["linear", "sigmoid", "tanh", "arctan", "relu", "softmax"]
INITIALIZERS = list(BUILTIN_INITIALIZERS)
TOP_LEVEL = [
    "name",
    "seed",
    "epochs",
    "dtype",
    "backend",
    "device",
    "loss",
    "dataset",
    "optimizer",
    "scheduler",
    "layers",
]
TABLE_KEYS = {
    "dataset": ["name", "batch_size"],
    "optimizer": ["name", "lr", "momentum", "clip_norm", "beta1", "beta2", "epsilon"],
    "scheduler": ["name", "decay", "stage_length", "staircase"],
}
LAYER_KEYS = ["name", "n_out", "activation", "weight_init"]

# Names no plugin registers: a mutated data set or backend must never be a real one (a real
# data set could start a download; another backend could start torch).
unregistered = st.from_regex(r"no_such_[a-z]{1,6}", fullmatch=True)
unknown_keys = st.from_regex(r"[a-z][a-z_]{0,9}", fullmatch=True).filter(
    lambda key: key not in TOP_LEVEL + LAYER_KEYS + [k for keys in TABLE_KEYS.values() for k in keys]
)
scalars = st.one_of(
    st.integers(-5, 5),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6).filter(
        lambda text: text not in ("iris", "mnist", "fashion_mnist", "torch")
    ),
    unregistered,
)
junk = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.from_regex(r"[a-z]{1,5}", fullmatch=True), scalars, max_size=2),
)

PLAUSIBLE = {
    "name": st.sampled_from(["run", "fuzz-1", "a.b"]),
    "seed": st.integers(0, 2**40),
    "epochs": st.integers(1, 2),
    "dtype": st.sampled_from(["float64", "float32"]),
    "backend": st.just("numpy"),
    "device": st.just("cpu"),
    "loss": st.sampled_from(["cross_entropy", "l2", {"name": "l2"}, {"name": "cross_entropy"}]),
    "dataset.name": st.just("iris"),
    "dataset.batch_size": st.integers(1, 120),
    "optimizer.name": st.sampled_from(["sgd", "adam"]),
    "optimizer.lr": st.floats(1e-4, 0.1),
    "optimizer.momentum": st.floats(0.0, 0.95),
    "optimizer.clip_norm": st.floats(0.1, 10.0),
    "optimizer.beta1": st.floats(0.0, 0.99),
    "optimizer.beta2": st.floats(0.0, 0.999),
    "optimizer.epsilon": st.floats(1e-10, 1e-3),
    "scheduler.name": st.sampled_from(["constant", "exponential"]),
    "scheduler.decay": st.floats(0.05, 1.0),
    "scheduler.stage_length": st.integers(1, 20),
    "scheduler.staircase": st.booleans(),
    "layer.name": st.just("fully_connected"),
    "layer.n_out": st.one_of(st.integers(1, 24), st.just("auto")),
    "layer.activation": st.sampled_from(ACTIVATIONS),
    "layer.weight_init": st.sampled_from(INITIALIZERS),
}


P = PLAUSIBLE
VALID_TABLES = {
    "dataset": st.fixed_dictionaries({"name": P["dataset.name"]}, optional={"batch_size": P["dataset.batch_size"]}),
    "optimizer": st.one_of(
        st.fixed_dictionaries(
            {"name": st.just("sgd")},
            optional={
                "lr": P["optimizer.lr"],
                "momentum": P["optimizer.momentum"],
                "clip_norm": P["optimizer.clip_norm"],
            },
        ),
        st.fixed_dictionaries(
            {"name": st.just("adam")},
            optional={key: P[f"optimizer.{key}"] for key in ("lr", "beta1", "beta2", "epsilon", "clip_norm")},
        ),
    ),
    "scheduler": st.one_of(
        st.just({"name": "constant"}),
        st.fixed_dictionaries(
            {"name": st.just("exponential")},
            optional={key: P[f"scheduler.{key}"] for key in ("decay", "stage_length", "staircase")},
        ),
    ),
}


# Sizes that are valid but would make one fuzzed run train for minutes or hours: a junk
# positive integer in these slots is kept only when it is a small, cheap size or one so large
# that corenn refuses it (n_out over the weight cap of 2**28 values); never, say,
# n_out = 30,000,000 (under the cap, so it trains) or epochs = 2**40 (epochs have no cap).
# Slot: (largest cheap value, smallest refused value or None).
COSTLY_WHEN_LARGE = {"epochs": (2, None), "layer.n_out": (24, 2**28)}


def _affordable(slot, value):
    if slot not in COSTLY_WHEN_LARGE or isinstance(value, bool) or not isinstance(value, int):
        return True
    cheap, refused = COSTLY_WHEN_LARGE[slot]
    return value <= cheap or (refused is not None and value >= refused)


def value_for(slot, *, valid_only):
    """A plausible value for ``slot`` or, unless ``valid_only``, anything at all (but nothing
    valid that would train for long, see ``COSTLY_WHEN_LARGE``)."""
    plausible = PLAUSIBLE[slot]
    if valid_only:
        return plausible
    if slot in ("dataset.name", "backend", "layer.name"):
        return st.one_of(plausible, unregistered, st.integers(-1, 1), st.lists(unregistered, max_size=1))
    return st.one_of(plausible, plausible, junk.filter(lambda value: _affordable(slot, value)))


def base_config():
    data = load_preset("iris-ffnn").to_dict()
    data["epochs"] = 1
    data["layers"][0]["n_out"] = 8
    return data


@st.composite
def mutated_configs(draw, *, valid_only=False):
    """``(config mapping, [places it was changed])``: the places are what an error must name."""
    data = base_config()
    places = []
    for _ in range(draw(st.integers(1, 3))):
        kinds = ["top", "table", "layer"] + (
            [] if valid_only else ["unknown_top", "delete_top", "delete_table", "delete_layer", "layers"]
        )
        kind = draw(st.sampled_from(kinds))
        if kind == "top":
            key = draw(
                st.sampled_from([k for k in TOP_LEVEL if k not in ("dataset", "optimizer", "scheduler", "layers")])
            )
            data[key] = draw(value_for(key, valid_only=valid_only))
            places.append(key)
        elif kind == "unknown_top":
            key = draw(unknown_keys)
            data[key] = draw(junk)
            places.append(key)
        elif kind == "delete_top":
            key = draw(st.sampled_from(TOP_LEVEL))
            data.pop(key, None)
            places.append(key)
        elif kind in ("table", "delete_table"):
            table = draw(st.sampled_from(sorted(TABLE_KEYS)))
            if not isinstance(data.get(table), dict):
                continue
            if valid_only:
                data[table] = draw(VALID_TABLES[table])
            elif kind == "delete_table":
                data[table].pop(draw(st.sampled_from(TABLE_KEYS[table])), None)
            elif draw(st.booleans()):
                data[table][draw(unknown_keys)] = draw(junk)
            else:
                key = draw(st.sampled_from(TABLE_KEYS[table]))
                data[table][key] = draw(value_for(f"{table}.{key}", valid_only=valid_only))
            places.append(table)
        elif kind in ("layer", "delete_layer"):
            layers = data.get("layers")
            if not isinstance(layers, list) or not layers or not all(isinstance(layer, dict) for layer in layers):
                continue
            index = draw(st.integers(0, len(layers) - 1))
            if kind == "delete_layer":
                layers[index].pop(draw(st.sampled_from(LAYER_KEYS)), None)
            elif not valid_only and draw(st.booleans()):
                layers[index][draw(unknown_keys)] = draw(junk)
            else:
                key = draw(st.sampled_from(LAYER_KEYS))
                value = draw(value_for(f"layer.{key}", valid_only=valid_only))
                if valid_only and key == "n_out":
                    value = "auto" if index == len(layers) - 1 else draw(st.integers(1, 24))
                if valid_only and key == "activation" and index == len(layers) - 1:
                    value = "softmax"  # a distribution over the classes, for cross-entropy
                layers[index][key] = value
            places.append(f"layers[{index}]")
        else:  # replace the whole stack
            data["layers"] = draw(
                st.sampled_from(
                    [
                        [],
                        [{"name": "fully_connected", "n_out": "auto", "activation": "softmax"}],
                        [
                            {"name": "fully_connected", "n_out": "auto", "activation": "relu"},
                            {"name": "fully_connected", "n_out": 4, "activation": "softmax"},
                        ],
                        ["fully_connected"],
                        [{"name": "fully_connected", "n_out": 5}, {"name": "fully_connected", "n_out": 3}],
                    ]
                )
            )
            places.append("layers")
    return data, places


def train_or_error(data):
    """Train one small run; the CorennError if it failed (anything else fails the test)."""
    try:
        train(data, record=False, verbose=False)
    except CorennError as error:
        return error
    return None


def check_outcome(data, places, error):
    if error is None:
        return
    message = str(error)
    assert message and "\n" not in message, f"an error is one line: {message!r}"
    if isinstance(error, TrainingDiverged):
        assert f"at epoch {error.epoch}, step {error.step}" in message
        return
    assert any(place in message for place in places), f"{message!r} names none of {places} (config {data!r})"


FUZZ = settings(
    max_examples=int(os.environ.get("CORENN_FUZZ_EXAMPLES", 60)),  # raise it for a deeper search
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


@FUZZ
@given(mutated_configs())
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_any_config_trains_or_fails_with_an_error_naming_the_key(case):
    data, places = case
    check_outcome(data, places, train_or_error(data))


@FUZZ
@given(mutated_configs(valid_only=True))
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_plausible_configs_train_and_round_trip_through_toml(case):
    data, places = case
    error = train_or_error(data)
    assert error is None or isinstance(error, TrainingDiverged), f"{places}: {error}"
    config = config_from_dict(data)
    assert parse_toml(config.to_toml()) == config


@settings(max_examples=40, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2**63), 2**63 - 1))
def test_numeric_extremes_in_optimizer_and_batch_size_are_named(lr, batch_size):
    data = base_config()
    data["optimizer"]["lr"] = lr
    data["dataset"]["batch_size"] = batch_size
    error = train_or_error(data)
    lr_ok = math.isfinite(lr) and lr > 0
    if batch_size <= 0:
        assert error is not None and "dataset.batch_size" in str(error)
    elif not lr_ok:
        assert error is not None and "optimizer" in str(error) and "'lr'" in str(error)
    else:
        assert error is None or isinstance(error, TrainingDiverged)
