"""Test-time augmentation: ``[dataset] test_augment`` averages the model's outputs over views of
each image at every evaluation (validation, test) and in ``corenn predict``."""

from collections import OrderedDict

import numpy as np
import pytest

import corenn
from corenn.data.loader import averaged_outputs, check_image_options, evaluation_views
from corenn.data.splits import DatasetSplits, Split
from corenn.errors import ConfigError, DataError
from corenn.nn.losses import CrossEntropy
from corenn.numpy_backend import NumpyBackend
from corenn.run.build import build
from corenn.run.config import config_from_dict
from corenn.run.train import train
from corenn.testing import plugin_system_from, plugins_in_use
from corenn.trained.predict import predict_labels

IMAGE_SHAPE = (6, 5, 2)


class Flat:
    """Flattens NHWC images for a fully connected layer."""

    def __init__(self):
        self.rng = None
        self.n_in = self.n_out = None
        self.activation = None
        self.parameters, self.gradients, self.cache = OrderedDict(), OrderedDict(), OrderedDict()

    def forward(self, X):
        self.cache["shape"] = X.shape
        return X.reshape(len(X), -1)

    def backward(self, dLdY):
        return dLdY.reshape(self.cache["shape"])


def tiny_images(data_dir=None):
    """Three classes of 6x5 two-channel images: noise plus a bright column left of centre."""
    rng = np.random.default_rng(5)

    def split(n):
        labels = np.arange(n) % 3
        X = rng.normal(size=(n, *IMAGE_SHAPE))
        X[np.arange(n), :, labels, 0] += 1.0
        return Split(X, labels)

    return DatasetSplits("tiny_images", split(36), split(12), split(24), ("a", "b", "c"), standardize="channel")


class ViewsPlugin:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("layer", "flat", Flat)
        register("dataset", "tiny_images", tiny_images)


@pytest.fixture(autouse=True)
def test_components(no_plots):
    with plugins_in_use(plugin_system_from(ViewsPlugin)):
        yield


def config(test_augment=None, epochs=2, **changes):
    data = {
        "name": "tta",
        "seed": 1,
        "epochs": epochs,
        "dataset": {"name": "tiny_images", "batch_size": 9},
        "optimizer": {"name": "sgd", "lr": 0.1},
        "layers": [{"name": "flat"}, {"name": "fully_connected", "n_out": "auto", "activation": "softmax"}],
    }
    if test_augment is not None:
        data["dataset"]["test_augment"] = test_augment
    data.update(changes)
    return data


def softmax_of_flat(W):
    """A nonlinear stand-in for a model: softmax of the flattened image times ``W``."""

    def forward(X):
        Z = X.reshape(len(X), -1) @ W
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        return E / E.sum(axis=1, keepdims=True)

    return forward


# Config


@pytest.mark.parametrize("value", ["mirror", "", True, 2, "Flip"])
def test_a_bad_test_augment_names_the_key_and_the_modes(value):
    with pytest.raises(
        ConfigError,
        match=r"dataset\.test_augment must be one of none, flip, flip_translate .*got "
        + repr(value).replace("(", r"\("),
    ):
        config_from_dict(config(test_augment=value))


def test_test_augment_is_kept_in_the_config_and_never_given_to_the_data_set():
    parsed = config_from_dict(config(test_augment="flip_translate"))
    assert parsed.dataset.test_augment == "flip_translate" and "test_augment" not in parsed.dataset.options
    assert config_from_dict(parsed.to_dict()).dataset.test_augment == "flip_translate"
    assert 'test_augment = "flip_translate"' in parsed.to_toml()
    build(parsed)  # tiny_images takes no test_augment option: it was not passed
    plain = config_from_dict(config())
    assert plain.dataset.test_augment == "none" and "test_augment" not in plain.to_dict()["dataset"]


def test_test_augment_on_tabular_data_is_refused_at_the_start(tmp_path):
    tabular = config(
        dataset={"name": "iris", "test_augment": "flip"},
        layers=[{"name": "fully_connected", "n_out": "auto", "activation": "softmax"}],
    )
    with pytest.raises(
        DataError,
        match=r"dataset\.test_augment = 'flip' needs images of shape \(height, width, channels\); data set 'iris' has samples of shape \(4,\)",
    ):
        train(tabular, out_dir=tmp_path, verbose=False)
    assert not (tmp_path / "tta").exists()


def test_flip_translate_needs_images_that_can_reflect_a_pixel():
    with pytest.raises(
        DataError, match=r"dataset\.test_augment = 'flip_translate' .* images of 1x5 pixels can reflect at most 0"
    ):
        check_image_options((1, 5, 2), "thin", test_augment="flip_translate")
    check_image_options((1, 5, 2), "thin", test_augment="flip")


# The views


def test_flip_views_are_the_images_and_their_mirror_images_half_each():
    X = np.random.default_rng(0).normal(size=(4, *IMAGE_SHAPE))
    views = list(evaluation_views(X, NumpyBackend(), "flip"))
    assert [weight for weight, _ in views] == [0.5, 0.5]
    assert np.array_equal(views[0][1], X) and np.array_equal(views[1][1], X[:, :, ::-1])


def test_flip_translate_views_are_airbenchs_level_two():
    """As airbench builds them: reflect-pad by one, take the top-left and bottom-right crops."""
    X = np.random.default_rng(1).normal(size=(4, *IMAGE_SHAPE))
    padded = np.pad(X, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    up_left, down_right = padded[:, 2:8, 2:7], padded[:, 0:6, 0:5]
    assert np.array_equal(up_left[:, :-1, :-1], X[:, 1:, 1:]) and np.array_equal(down_right[:, 1:, 1:], X[:, :-1, :-1])
    expected = [
        (0.25, X),
        (0.25, X[:, :, ::-1]),
        (0.125, up_left),
        (0.125, up_left[:, :, ::-1]),
        (0.125, down_right),
        (0.125, down_right[:, :, ::-1]),
    ]
    views = list(evaluation_views(X, NumpyBackend(), "flip_translate"))
    assert len(views) == len(expected) and sum(weight for weight, _ in views) == 1.0
    for (weight, view), (expected_weight, expected_view) in zip(views, expected, strict=True):
        assert weight == expected_weight and np.array_equal(view, expected_view)


@pytest.mark.parametrize("mode", ["flip", "flip_translate"])
def test_averaged_outputs_average_the_outputs_not_the_inputs(mode):
    X = np.random.default_rng(2).normal(size=(5, *IMAGE_SHAPE))
    forward = softmax_of_flat(np.random.default_rng(3).normal(size=(60, 4)))
    views = list(evaluation_views(X, NumpyBackend(), mode))
    expected = sum(weight * forward(view) for weight, view in views)
    averaged = averaged_outputs(forward, X, NumpyBackend(), mode)
    np.testing.assert_allclose(averaged, expected, rtol=1e-15, atol=0)
    np.testing.assert_allclose(averaged.sum(axis=1), 1.0, rtol=1e-14)
    of_average = forward(sum(weight * view for weight, view in views))
    assert np.max(np.abs(averaged - of_average)) > 1e-3
    assert np.max(np.abs(averaged - forward(X))) > 1e-3


def test_without_test_augment_the_output_is_the_forward_pass_itself():
    X = np.random.default_rng(2).normal(size=(5, *IMAGE_SHAPE))
    forward = softmax_of_flat(np.random.default_rng(3).normal(size=(60, 4)))
    assert np.array_equal(averaged_outputs(forward, X, NumpyBackend(), "none"), forward(X))


# Evaluation and predictions


class KeepModel:
    @corenn.hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        self.last_metrics = dict(metrics)

    @corenn.hookimpl
    def corenn_train_end(self, run, metrics):
        self.model = run.model


def expected_metrics(model, split, mode):
    model.eval()
    Y_hat = averaged_outputs(model.forward, split.X, NumpyBackend(), mode)
    return CrossEntropy().forward(split.Y, Y_hat), float(np.mean(Y_hat.argmax(axis=1) == split.labels)), Y_hat


@pytest.mark.parametrize("mode", ["flip", "flip_translate"])
def test_validation_and_test_metrics_are_those_of_the_averaged_outputs(mode):
    parsed = config_from_dict(config(test_augment=mode))
    keep = KeepModel()
    result = train(parsed, record=False, verbose=False, callbacks=[keep])
    data = build(parsed)[0]
    for split, prefix in ((data.val, "val"), (data.test, "test")):
        loss, accuracy, _ = expected_metrics(keep.model, split, mode)
        assert result[f"{prefix}_loss"] == pytest.approx(loss, rel=1e-12)
        assert result[f"{prefix}_accuracy"] == accuracy
        plain_loss, _, _ = expected_metrics(keep.model, split, "none")
        assert abs(result[f"{prefix}_loss"] - plain_loss) > 1e-6  # the views did change it
    assert keep.last_metrics["val_loss"] == result["val_loss"]


def test_predict_uses_the_runs_test_augment(tmp_path):
    result = train(config(test_augment="flip", epochs=1), out_dir=tmp_path, verbose=False)
    parsed = config_from_dict(config(test_augment="flip", epochs=1))
    data, model, *_ = build(parsed)
    model.load_parameters(f"{result['run_dir']}/parameters.npz")
    for split in ("train", "test"):
        labels = predict_labels(result["run_dir"], split=split, batch_size=7)
        _, _, averaged = expected_metrics(model, getattr(data, split), "flip")
        assert np.array_equal(labels, averaged.argmax(axis=1)), split
    _, _, plain = expected_metrics(model, data.train, "none")
    assert not np.array_equal(plain.argmax(axis=1), predict_labels(result["run_dir"], split="train"))
