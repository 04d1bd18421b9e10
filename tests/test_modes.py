"""The model/trainer side of train and eval modes, buffers, composite layers' dotted names,
``total_steps`` for schedulers, data augmentation and the choice of array backend.

The layers, data set and scheduler used here are small test doubles registered by a plugin of
this file, so these tests depend on no particular component plugin.
"""

import contextlib
import json
import math
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest

import corenn
import corenn.nn.losses
import corenn.plugins
from corenn.data.iris import load_iris
from corenn.data.loader import augment_batch
from corenn.data.splits import DatasetSplits, Split
from corenn.errors import ConfigError, CorruptFileError, DataError
from corenn.files import load_arrays
from corenn.numpy_backend import NumpyBackend
from corenn.plugins import get_backend
from corenn.run.build import build
from corenn.run.config import config_from_dict, load_preset
from corenn.run.resume import resume
from corenn.run.train import train
from corenn.testing import InterruptAtEpochEnd, plugin_system_from, plugins_in_use


class Probe:
    """Flattens its input and records, at each forward, the mode and the input it saw.

    In training mode it also moves a running mean of its inputs (a buffer), as batch
    normalisation does.
    """

    name = "probe"

    def __init__(self, momentum=0.5):
        self.momentum = momentum
        self.training = True
        self.rng = None
        self.n_in = self.n_out = None
        self.activation = None
        self.parameters, self.gradients, self.cache = OrderedDict(), OrderedDict(), OrderedDict()
        self.buffers = OrderedDict()
        self.seen = []

    def forward(self, X):
        self.seen.append((self.training, np.array(X, copy=True)))
        flat = X.reshape(len(X), -1)
        if "running_mean" not in self.buffers:
            self.buffers["running_mean"] = np.zeros((1, flat.shape[1]), dtype=X.dtype)
        if self.training:
            running = self.buffers["running_mean"]
            running *= 1 - self.momentum
            running += self.momentum * flat.mean(axis=0, keepdims=True)
        self.cache["shape"] = X.shape
        return flat

    def backward(self, dLdY):
        return dLdY.reshape(self.cache["shape"])


class FlatTable(dict):
    """An inner layer's table seen under the prefix ``"0."``; writes go to the inner layer."""

    def __init__(self, table):
        super().__init__({f"0.{key}": value for key, value in table.items()})
        self.table = table

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        self.table[key.split(".", 1)[1]] = value


class Wrapper:
    """A composite layer holding one fully connected layer, named ``"0"`` inside it."""

    name = "wrapper"

    def __init__(self, n_out, activation="linear"):
        self.inner = corenn.create("layer", "fully_connected", n_out=n_out, activation=activation)
        self.n_in = self.n_out = None
        self.activation = None
        self.cache = OrderedDict()

    @property
    def rng(self):
        return self.inner.rng

    @rng.setter
    def rng(self, value):
        self.inner.rng = value

    @property
    def parameters(self):
        return FlatTable(self.inner.parameters)

    @property
    def gradients(self):
        return FlatTable(self.inner.gradients)

    def forward(self, X):
        return self.inner.forward(X)

    def backward(self, dLdY):
        return self.inner.backward(dLdY)


class StepsSchedule:
    """A constant rate that remembers the ``total_steps`` it was given."""

    made_with = []

    def __init__(self, initial_lr, total_steps=None):
        self.initial_lr = initial_lr
        StepsSchedule.made_with.append(total_steps)

    def __call__(self, step):
        return self.initial_lr


def iris_images(data_dir=None):
    """Iris with each sample's four features as a 2x2 single-channel image."""
    splits = load_iris(data_dir)
    parts = {
        name: Split(getattr(splits, name).X.reshape(-1, 2, 2, 1), getattr(splits, name).y)
        for name in ("train", "val", "test")
    }
    return DatasetSplits(name="iris_images", class_names=splits.class_names, standardize="channel", **parts)


class ModesPlugin:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("layer", "probe", Probe)
        register("layer", "wrapper", Wrapper)
        register("scheduler", "steps_schedule", StepsSchedule)
        register("dataset", "iris_images", iris_images)


@pytest.fixture(autouse=True)
def test_components(no_plots):
    with plugins_in_use(plugin_system_from(ModesPlugin)) as system:
        yield system


def config(dataset="iris_images", epochs=3, augment=None, first=None, **changes):
    data = load_preset("iris-ffnn").to_dict()
    data["epochs"] = epochs
    data["dataset"]["name"] = dataset
    if augment is not None:
        data["dataset"]["augment"] = augment
    data["layers"] = [first or {"name": "probe"}, {"name": "fully_connected", "n_out": 8, "activation": "relu"}] + data[
        "layers"
    ][1:]
    data.update(changes)
    return data


def probe_of(model):
    return next(layer for layer in model.layers if isinstance(layer, Probe))


def built_model(**changes):
    return build(config_from_dict(config(**changes)))[1]


# Train and eval modes


def test_train_and_eval_set_training_only_on_layers_that_have_it():
    model = built_model()
    probe, dense = model.layers[0], model.layers[1]
    assert model.eval() is model and model.training is False and probe.training is False
    assert not hasattr(dense, "training")
    model.train()
    assert model.training is True and probe.training is True


def test_initialising_the_model_runs_in_eval_mode_and_leaves_buffers_untouched():
    model = built_model()
    probe = model.layers[0]
    assert [mode for mode, _ in probe.seen] == [False]
    assert np.array_equal(probe.buffers["running_mean"], np.zeros((1, 4)))
    assert model.training is True


def test_the_trainer_trains_in_training_mode_and_evaluates_in_eval_mode():
    captured = {}

    class Keep:
        @corenn.hookimpl
        def corenn_train_end(self, run, metrics):
            captured["model"] = run.model

    train(config(epochs=2), record=False, verbose=False, callbacks=[Keep()])
    model = captured["model"]
    seen = probe_of(model).seen[1:]  # after the initialising sample
    batch_size = 25
    trained = [X for mode, X in seen if mode]
    evaluated = [X for mode, X in seen if not mode]
    assert trained and all(len(X) <= batch_size for X in trained)
    n_train, n_val = 105, 22  # iris' splits: 70% / 15% / 15% of 150
    assert sum(len(X) for X in trained) == 2 * n_train
    assert sum(len(X) for X in evaluated) >= 2 * n_val  # val each epoch, then test
    assert model.training is True  # evaluation restores the training mode


def test_predict_runs_in_eval_mode_and_restores_the_mode():
    model = built_model()
    probe = model.layers[0]
    model.predict(np.zeros((3, 2, 2, 1)))
    assert probe.seen[-1][0] is False and model.training is True


# Buffers


def test_buffers_are_named_like_parameters_and_saved_under_the_buffer_prefix(tmp_path):
    model = built_model()
    model.layers[0].buffers["running_mean"][...] = [[1.0, 2.0, 3.0, 4.0]]
    assert list(model.named_buffers()) == ["0.running_mean"]
    model.save_parameters(tmp_path / "p.npz")
    saved = load_arrays(tmp_path / "p.npz")
    assert set(saved) == set(model.named_parameters()) | {"buffer/0.running_mean"}
    fresh = built_model(seed=5)
    fresh.load_parameters(tmp_path / "p.npz")
    assert np.array_equal(fresh.named_buffers()["0.running_mean"], [[1.0, 2.0, 3.0, 4.0]])
    for name, value in model.named_parameters().items():
        assert np.array_equal(fresh.named_parameters()[name], value)


def test_a_buffer_of_the_wrong_shape_is_rejected_naming_it(tmp_path):
    model = built_model()
    arrays = model.parameter_arrays()
    arrays["buffer/0.running_mean"] = np.zeros((1, 5))
    with pytest.raises(
        CorruptFileError,
        match=r"buffer 0\.running_mean of layers\[0\] \(probe\) has shape \(1, 5\), the model expects \(1, 4\)",
    ):
        model.load_parameters(arrays)


def test_a_file_without_the_models_buffers_is_rejected(tmp_path):
    model = built_model()
    with pytest.raises(CorruptFileError, match=r"missing \['buffer/0.running_mean'\]"):
        model.load_parameters(model.named_parameters())


# Composite layers: dotted names


def test_a_composite_layers_inner_names_are_split_on_the_first_dot_only(tmp_path):
    data = config()
    data["layers"] = [{"name": "probe"}, {"name": "wrapper", "n_out": 6, "activation": "relu"}, data["layers"][-1]]
    model = build(config_from_dict(data))[1]
    assert {"1.0.W", "1.0.b", "2.W", "2.b"} == set(model.named_parameters())
    replacement = np.full((4, 6), 0.25)
    model.set_parameter("1.0.W", replacement)
    assert model.layers[1].inner.parameters["W"] is replacement
    model.save_parameters(tmp_path / "p.npz")
    other = build(config_from_dict(data | {"seed": 9}))[1]
    other.load_parameters(tmp_path / "p.npz")
    assert np.array_equal(other.layers[1].inner.parameters["W"], replacement)
    captured = {}

    class Keep:
        @corenn.hookimpl
        def corenn_train_end(self, run, metrics):
            captured["W"] = run.model.layers[1].inner.parameters["W"]

    initial = build(config_from_dict(data))[1].named_parameters()["1.0.W"]
    train(data | {"epochs": 2}, record=False, verbose=False, callbacks=[Keep()])
    assert captured["W"].shape == initial.shape and not np.array_equal(captured["W"], initial)  # the updates reached it


# Schedulers that take total_steps


def test_a_scheduler_that_takes_total_steps_gets_the_runs_number_of_updates():
    StepsSchedule.made_with.clear()
    build(config_from_dict(config(epochs=3, scheduler={"name": "steps_schedule"})))
    assert StepsSchedule.made_with == [3 * math.ceil(105 / 25)]


def test_total_steps_set_in_the_config_is_kept():
    StepsSchedule.made_with.clear()
    build(config_from_dict(config(scheduler={"name": "steps_schedule", "total_steps": 7})))
    assert StepsSchedule.made_with == [7]


# Augmentation


@pytest.mark.parametrize(
    "augment, message",
    [
        ({"crop_padding": -1}, r"dataset\.augment\.crop_padding must be a non-negative integer"),
        ({"crop_padding": 1.5}, r"dataset\.augment\.crop_padding must be"),
        ({"flip": "yes"}, r"dataset\.augment\.flip must be true or false"),
        ({"rotate": 10}, r"unknown key dataset\.augment\.rotate; allowed: crop_padding, flip"),
        ("flip", r"dataset\.augment must be a table"),
    ],
)
def test_bad_augmentation_settings_name_the_key(augment, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(config(augment=augment))


def test_augmentation_is_kept_in_the_config_and_never_given_to_the_data_set():
    parsed = config_from_dict(config(augment={"crop_padding": 1, "flip": True}))
    assert parsed.dataset.augment == {"crop_padding": 1, "flip": True}
    assert "augment" not in parsed.dataset.options
    assert config_from_dict(parsed.to_dict()).dataset.augment == parsed.dataset.augment
    build(parsed)  # iris_images takes no 'augment' option: it was not passed


def test_augmenting_tabular_data_is_an_error():
    with pytest.raises(
        DataError, match=r"dataset\.augment needs image batches of shape \(m, height, width, channels\)"
    ):
        train(
            config(
                dataset="iris",
                augment={"flip": True},
                layers=[{"name": "fully_connected", "n_out": "auto", "activation": "softmax"}],
            ),
            record=False,
            verbose=False,
        )


def reference_crops(X, padding, offsets, mirrored):
    """Crop and flip one sample at a time (the slow, obvious way)."""
    height, width = X.shape[1:3]
    padded = np.pad(X, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    out = []
    for sample, (dy, dx), flip in zip(padded, offsets, mirrored, strict=True):
        crop = sample[dy : dy + height, dx : dx + width]
        out.append(crop[:, ::-1] if flip else crop)
    return np.stack(out)


def test_augment_batch_crops_and_flips_each_sample_with_its_own_draws():
    X = np.random.default_rng(0).normal(size=(16, 5, 6, 3))
    out = augment_batch(X, np.random.default_rng(7), NumpyBackend(), crop_padding=2, flip=True)
    replay = np.random.default_rng(7)
    offsets = replay.integers(0, 5, size=(16, 2))
    mirrored = replay.random(16) < 0.5
    assert out.shape == X.shape and 0 < mirrored.sum() < 16 and len({tuple(o) for o in offsets}) > 1
    assert np.array_equal(out, reference_crops(X, 2, offsets, mirrored))


def test_augment_batch_without_crop_or_flip_is_the_identity_and_keeps_the_dtype():
    X = np.random.default_rng(0).normal(size=(4, 3, 3, 2)).astype(np.float32)
    rng = np.random.default_rng(1)
    state = rng.bit_generator.state
    out = augment_batch(X, rng, NumpyBackend())
    assert np.array_equal(out, X) and out.dtype == np.float32
    assert rng.bit_generator.state == state  # nothing drawn


def test_the_trainer_augments_training_batches_only():
    captured = {}

    class Keep:
        @corenn.hookimpl
        def corenn_train_end(self, run, metrics):
            captured["model"] = run.model

    train(config(epochs=1, augment={"flip": True}), record=False, verbose=False, callbacks=[Keep()])
    data = build(config_from_dict(config()))[0]
    train_images = {data.train.X[i].tobytes() for i in range(len(data.train))}
    mirrored_images = {data.train.X[i][:, ::-1].tobytes() for i in range(len(data.train))}
    seen = probe_of(captured["model"]).seen[1:]
    trained = np.concatenate([X for mode, X in seen if mode])
    as_is = sum(x.tobytes() in train_images for x in trained)
    flipped = sum(x.tobytes() in mirrored_images and x.tobytes() not in train_images for x in trained)
    assert as_is + flipped == len(trained) and flipped > 10 and as_is > 10
    evaluated = [X for mode, X in seen if not mode]
    assert np.array_equal(evaluated[0], data.val.X)  # validation sees the images unchanged


# Resume stays exact with buffers and augmentation


RESUME_EPOCHS = 4


def assert_same_records(run_dir, reference_dir):
    first, second = load_arrays(run_dir / "parameters.npz"), load_arrays(reference_dir / "parameters.npz")
    assert list(first) == list(second) and "buffer/0.running_mean" in first
    for name in first:
        assert np.array_equal(first[name], second[name]), name

    def metrics_without_seconds(folder):
        return [
            {k: v for k, v in row.items() if k != "seconds"}
            for row in json.loads((folder / "metrics.json").read_text())
        ]

    assert metrics_without_seconds(run_dir) == metrics_without_seconds(reference_dir)


@pytest.fixture(scope="module")
def augmented():
    return config(epochs=RESUME_EPOCHS, augment={"crop_padding": 1, "flip": True})


@pytest.mark.parametrize("how", ["epoch_end", "inside_epoch"])
def test_a_resumed_run_with_buffers_and_augmentation_equals_an_uninterrupted_one(
    tmp_path, interrupt_on_call, augmented, how
):
    train(augmented, out_dir=tmp_path / "whole", verbose=False)
    out = tmp_path / "interrupted"
    if how == "epoch_end":
        callbacks, interrupting = [InterruptAtEpochEnd(2)], contextlib.nullcontext()
    else:
        # call 11: inside the second epoch (5 batches and 2 evaluations per epoch)
        callbacks, interrupting = [], interrupt_on_call(corenn.nn.losses.CrossEntropy, "forward", 11)
    with interrupting:
        with pytest.raises(KeyboardInterrupt):
            train(augmented, out_dir=out, verbose=False, callbacks=callbacks)
    state = json.loads(load_arrays(out / "iris-ffnn" / "checkpoint.npz")["state"].tobytes())
    assert "augment_rng" in state
    resume(out / "iris-ffnn", verbose=False)
    assert_same_records(out / "iris-ffnn", tmp_path / "whole" / "iris-ffnn")


# Array backends and devices


def test_numpy_runs_on_the_cpu_only():
    with pytest.raises(ConfigError, match=r"device 'cuda' needs a backend that has devices \(--backend torch\)"):
        build(config_from_dict(config(device="cuda")))
    build(config_from_dict(config(device="auto")))


def test_an_unknown_device_is_a_config_error():
    with pytest.raises(ConfigError, match=r"device must be one of cpu, cuda, auto \(or cuda:<n>\), got 'tpu'"):
        config_from_dict(config(device="tpu"))


class _BackendWithoutItsLibrary:
    """Stands for a backend plugin whose array library cannot be imported."""

    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("backend", "missing", "no_such_array_library_here.backend:Backend")


def test_a_backend_whose_library_cannot_be_imported_says_so_in_one_line():
    with plugins_in_use(plugin_system_from(_BackendWithoutItsLibrary)):
        with pytest.raises(
            ConfigError,
            match=r"^backend 'missing' needs a library that cannot be imported \(No module named "
            r"'no_such_array_library_here'\); install it$",
        ):
            get_backend("missing").on("cpu")


def test_a_backend_no_plugin_provides_is_named_with_the_installed_ones():
    with pytest.raises(ConfigError, match=r"unknown backend 'jax'; installed backends: numpy"):
        get_backend("jax").on("cpu")


def test_training_on_numpy_never_imports_torch(tmp_path):
    script = (
        "import sys\n"
        "from corenn.run.config import load_preset, with_overrides\n"
        "from corenn.run.train import train\n"
        f"train(with_overrides(load_preset('iris-ffnn'), epochs=2), out_dir={str(tmp_path)!r}, verbose=False)\n"
        "assert 'torch' not in sys.modules, 'numpy training imported torch'\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr
