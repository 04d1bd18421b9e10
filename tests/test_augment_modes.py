"""Training augmentation modes: reflect-padded random crops and airbench's alternating flips.

The images come from a small synthetic data set, and a test double flattens them for a fully
connected layer and records every batch it sees, so these tests need no conv plugin.
"""

import contextlib
import json
from collections import OrderedDict

import numpy as np
import pytest

import corenn
import corenn.run.interrupts
from corenn.data.loader import alternate_flip_base, augment_batch
from corenn.data.splits import DatasetSplits, Split
from corenn.errors import ConfigError, DataError
from corenn.files import load_arrays
from corenn.numpy_backend import NumpyBackend
from corenn.run.build import SHUFFLE_STREAM, build
from corenn.run.config import config_from_dict
from corenn.run.resume import resume
from corenn.run.train import train
from corenn.testing import InterruptAtEpochEnd, plugin_system_from, plugins_in_use

IMAGE_SHAPE = (6, 5, 2)  # not square, so rows and columns cannot be mixed up unseen


class Seen:
    """Flattens NHWC images and records each batch with the mode it came in."""

    def __init__(self):
        self.training = True
        self.rng = None
        self.n_in = self.n_out = None
        self.activation = None
        self.parameters, self.gradients, self.cache = OrderedDict(), OrderedDict(), OrderedDict()
        self.batches = []

    def forward(self, X):
        self.batches.append((self.training, np.array(X, copy=True)))
        self.cache["shape"] = X.shape
        return X.reshape(len(X), -1)

    def backward(self, dLdY):
        return dLdY.reshape(self.cache["shape"])


def tiny_images(data_dir=None):
    """Three classes of 6x5 two-channel images: noise plus a bright column for the class,
    left of centre (so a mirror image looks different)."""
    rng = np.random.default_rng(5)

    def split(n):
        labels = np.arange(n) % 3
        X = rng.normal(size=(n, *IMAGE_SHAPE))
        X[np.arange(n), :, labels, 0] += 2.0
        return Split(X, labels)

    return DatasetSplits("tiny_images", split(36), split(12), split(12), ("a", "b", "c"), standardize="channel")


class AugmentPlugin:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("layer", "seen", Seen)
        register("dataset", "tiny_images", tiny_images)


@pytest.fixture(autouse=True)
def test_components(no_plots):
    with plugins_in_use(plugin_system_from(AugmentPlugin)):
        yield


def config(epochs=2, augment=None, **changes):
    data = {
        "name": "tiny",
        "seed": 3,
        "epochs": epochs,
        "dataset": {"name": "tiny_images", "batch_size": 8},
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "layers": [{"name": "seen"}, {"name": "fully_connected", "n_out": "auto", "activation": "softmax"}],
    }
    if augment is not None:
        data["dataset"]["augment"] = augment
    data.update(changes)
    return data


class KeepModel:
    @corenn.hookimpl
    def corenn_train_end(self, run, metrics):
        self.model = run.model


# Config validation


@pytest.mark.parametrize(
    "augment, message",
    [
        ({"padding_mode": "edge"}, r'dataset\.augment\.padding_mode must be "zeros" or "reflect" .*got \'edge\''),
        ({"padding_mode": 0}, r"dataset\.augment\.padding_mode must be .*got 0"),
        ({"flip": "sometimes"}, r'dataset\.augment\.flip must be true or false .*or "alternate" .*got \'sometimes\''),
        ({"flip": 1}, r"dataset\.augment\.flip must be .*got 1"),
        ({"shift": 1}, r"unknown key dataset\.augment\.shift; allowed: crop_padding, flip, padding_mode"),
    ],
)
def test_bad_augment_values_name_the_key_and_the_allowed_values(augment, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict(config(augment=augment))


def test_new_augment_keys_survive_the_round_trip_through_the_config():
    parsed = config_from_dict(config(augment={"crop_padding": 2, "padding_mode": "reflect", "flip": "alternate"}))
    assert parsed.dataset.augment == {"crop_padding": 2, "padding_mode": "reflect", "flip": "alternate"}
    assert config_from_dict(parsed.to_dict()).dataset.augment == parsed.dataset.augment
    assert 'flip = "alternate"' in parsed.to_toml() and 'padding_mode = "reflect"' in parsed.to_toml()


def test_reflect_padding_wider_than_the_image_is_refused_before_any_record(tmp_path):
    with pytest.raises(
        DataError,
        match=r"dataset\.augment\.crop_padding reflects 5 pixel\(s\) .* images of 6x5 pixels can reflect at most 4",
    ):
        train(config(augment={"crop_padding": 5, "padding_mode": "reflect"}), out_dir=tmp_path, verbose=False)
    assert not (tmp_path / "tiny").exists()
    build(config_from_dict(config(augment={"crop_padding": 5})))  # zeros may pad more than the image


def test_augmenting_tabular_data_is_refused_at_the_start_naming_the_data_set(tmp_path):
    tabular = config(
        dataset={"name": "iris", "augment": {"flip": "alternate"}},
        layers=[{"name": "fully_connected", "n_out": "auto", "activation": "softmax"}],
    )
    with pytest.raises(
        DataError, match=r"dataset\.augment needs image batches .* data set 'iris' has samples of shape \(4,\)"
    ):
        train(tabular, out_dir=tmp_path, verbose=False)
    assert not (tmp_path / "tiny").exists()


# augment_batch


def reference_crops(X, padding, offsets, mirrored, mode):
    """Pad, crop and flip one sample at a time (the slow, obvious way)."""
    height, width = X.shape[1:3]
    out = []
    for sample, (dy, dx), flip in zip(X, offsets, mirrored, strict=True):
        padded = np.pad(sample, ((padding, padding), (padding, padding), (0, 0)), mode=mode)
        crop = padded[dy : dy + height, dx : dx + width]
        out.append(crop[:, ::-1] if flip else crop)
    return np.stack(out)


def test_reflect_padded_crops_mirror_the_border_without_repeating_the_edge():
    X = np.random.default_rng(0).normal(size=(32, *IMAGE_SHAPE))
    out = augment_batch(X, np.random.default_rng(7), NumpyBackend(), crop_padding=3, flip=True, padding_mode="reflect")
    replay = np.random.default_rng(7)
    offsets = replay.integers(0, 7, size=(32, 2))
    mirrored = replay.random(32) < 0.5
    assert np.array_equal(out, reference_crops(X, 3, offsets, mirrored, "reflect"))
    assert not np.array_equal(out, reference_crops(X, 3, offsets, mirrored, "constant"))


def test_reflect_padding_mirrors_about_the_edge_pixel():
    """Padded pixel -k is image pixel k (the edge itself is not repeated), on both axes."""
    X = np.random.default_rng(0).normal(size=(3, *IMAGE_SHAPE))
    padded = NumpyBackend().pad_images(X, 3, "reflect")
    assert padded.shape == (3, 12, 11, 2)
    rows, cols = np.abs(np.arange(-3, 3)), np.abs(np.arange(-3, 2))
    assert np.array_equal(padded[:, :6, :5], X[:, rows][:, :, cols])
    assert np.array_equal(padded[:, 3:9, 3:8], X)
    assert np.array_equal(padded[:, 9, 3:8], X[:, 4]) and np.array_equal(padded[:, 3:9, 10], X[:, :, 1])


def test_zero_padding_is_still_the_default():
    X = np.random.default_rng(1).normal(size=(16, *IMAGE_SHAPE))
    out = augment_batch(X, np.random.default_rng(2), NumpyBackend(), crop_padding=2)
    offsets = np.random.default_rng(2).integers(0, 5, size=(16, 2))
    assert np.array_equal(out, reference_crops(X, 2, offsets, [False] * 16, "constant"))


def test_the_alternate_flip_base_is_a_fixed_balanced_bit_per_index():
    indices = np.arange(10_000)
    base = alternate_flip_base(indices)
    assert base.dtype == bool and base.shape == (10_000,)
    assert 0.47 < base.mean() < 0.53
    assert np.array_equal(alternate_flip_base(indices[::-1]), base[::-1])  # a function of the index alone
    assert 0.4 < np.mean(base == (indices % 2 == 1)) < 0.6  # not the index's parity
    assert 0.4 < np.mean(base[1:] == base[:-1]) < 0.6  # neighbours are unrelated


def test_alternate_flips_mirror_each_image_in_every_other_epoch_and_draw_nothing():
    X = np.random.default_rng(3).normal(size=(40, *IMAGE_SHAPE))
    indices = np.random.default_rng(4).permutation(1000)[:40]
    rng = np.random.default_rng(9)
    state = rng.bit_generator.state
    seen = {
        epoch: augment_batch(X, rng, NumpyBackend(), flip="alternate", indices=indices, epoch=epoch)
        for epoch in (1, 2, 3, 4)
    }
    assert rng.bit_generator.state == state  # no crop, and alternate flips take no draws
    mirrored_in_odd_epochs = alternate_flip_base(indices)
    assert 5 < mirrored_in_odd_epochs.sum() < 35
    for epoch, out in seen.items():
        mirrored = mirrored_in_odd_epochs ^ (epoch % 2 == 0)
        assert np.array_equal(out[mirrored], X[mirrored][:, :, ::-1]), epoch
        assert np.array_equal(out[~mirrored], X[~mirrored]), epoch
    assert np.array_equal(seen[1], seen[3]) and np.array_equal(seen[2], seen[4])


def test_alternate_flips_with_crops_draw_only_the_offsets():
    X = np.random.default_rng(3).normal(size=(12, *IMAGE_SHAPE))
    indices = np.arange(100, 112)
    out = augment_batch(
        X,
        np.random.default_rng(5),
        NumpyBackend(),
        crop_padding=2,
        padding_mode="reflect",
        flip="alternate",
        indices=indices,
        epoch=2,
    )
    offsets = np.random.default_rng(5).integers(0, 5, size=(12, 2))
    assert np.array_equal(out, reference_crops(X, 2, offsets, ~alternate_flip_base(indices), "reflect"))


def test_alternate_flips_need_the_sample_indices_and_the_epoch():
    X = np.zeros((2, *IMAGE_SHAPE))
    with pytest.raises(ValueError, match="needs the batch's sample indices and the epoch"):
        augment_batch(X, np.random.default_rng(0), NumpyBackend(), flip="alternate")


# The trainer


def test_the_trainer_flips_each_training_image_by_its_index_and_epoch():
    """Replays the batch order from the run's shuffle stream and checks every training batch."""
    keep = KeepModel()
    parsed = config_from_dict(config(epochs=2, augment={"flip": "alternate"}))
    train(parsed, record=False, verbose=False, callbacks=[keep])
    train_X = build(parsed)[0].train.X
    shuffle = np.random.default_rng([parsed.seed, SHUFFLE_STREAM])
    expected = []
    for epoch in (1, 2):
        order = shuffle.permutation(len(train_X))
        for start in range(0, len(order), 8):
            index = order[start : start + 8]
            mirrored = alternate_flip_base(index) ^ (epoch % 2 == 0)
            expected.append(np.where(mirrored[:, None, None, None], train_X[index][:, :, ::-1], train_X[index]))
    trained = [X for mode, X in keep.model.layers[0].batches[1:] if mode]  # [0]: the shape probe at build
    assert len(trained) == len(expected) == 10
    for got, want in zip(trained, expected, strict=True):
        assert np.array_equal(got, want)
    evaluated = [X for mode, X in keep.model.layers[0].batches[1:] if not mode]
    assert np.array_equal(evaluated[0], build(parsed)[0].val.X)  # validation is never augmented


RESUME_EPOCHS = 4
RESUMED_AUGMENT = {"crop_padding": 2, "padding_mode": "reflect", "flip": "alternate"}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, plots_skipped):
    out = tmp_path_factory.mktemp("whole")
    with plugins_in_use(plugin_system_from(AugmentPlugin)), plots_skipped():
        train(config(epochs=RESUME_EPOCHS, augment=RESUMED_AUGMENT), out_dir=out, verbose=False)
    return out / "tiny"


def assert_same_records(run_dir, reference_dir):
    first, second = load_arrays(run_dir / "parameters.npz"), load_arrays(reference_dir / "parameters.npz")
    assert list(first) == list(second)
    for name in first:
        assert np.array_equal(first[name], second[name]), name

    def metrics_without_seconds(folder):
        return [
            {k: v for k, v in row.items() if k != "seconds"}
            for row in json.loads((folder / "metrics.json").read_text())
        ]

    assert metrics_without_seconds(run_dir) == metrics_without_seconds(reference_dir)
    assert (run_dir / "steps.csv").read_text() == (reference_dir / "steps.csv").read_text()


@pytest.mark.parametrize("how", ["epoch_end", "inside_second_epoch", "inside_third_epoch"])
def test_a_resumed_run_with_alternate_flips_and_reflect_crops_equals_an_uninterrupted_one(
    tmp_path, interrupt_on_call, uninterrupted, how
):
    out = tmp_path / "cut"
    if how == "epoch_end":
        callbacks, interrupting = [InterruptAtEpochEnd(1)], contextlib.nullcontext()
    else:
        # Ctrl-C is taken at a batch boundary (DeferredInterrupt.check), where the epoch so far
        # is saved. check() runs once per epoch, then before each of its 5 batches: call 10 is
        # before epoch 2's third batch, call 16 before epoch 3's (an odd epoch again).
        call_number = 10 if how == "inside_second_epoch" else 16
        callbacks, interrupting = [], interrupt_on_call(corenn.run.interrupts.DeferredInterrupt, "check", call_number)
    with interrupting:
        with pytest.raises(KeyboardInterrupt):
            train(
                config(epochs=RESUME_EPOCHS, augment=RESUMED_AUGMENT), out_dir=out, verbose=False, callbacks=callbacks
            )
    state = json.loads(load_arrays(out / "tiny" / "checkpoint.npz")["state"].tobytes())
    if how == "epoch_end":
        assert state["epoch"] == 1 and "progress" not in state
    else:
        assert state["progress"]["next_batch"] == 2 and state["epoch"] == (1 if how == "inside_second_epoch" else 2)
    resume(out / "tiny", verbose=False)
    assert_same_records(out / "tiny", uninterrupted)
