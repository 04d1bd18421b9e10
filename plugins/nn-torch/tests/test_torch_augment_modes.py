"""Augmentation modes and test-time views on tensors: reflect padding, alternating flips, flip and
shift views give on torch exactly what they give on numpy, and a whole float64 run using them
agrees across the backends."""

import numpy as np
import pytest
import torch

import corenn
from corenn.data.loader import augment_batch, averaged_outputs, evaluation_views
from corenn.data.splits import DatasetSplits, Split
from corenn.numpy_backend import NumpyBackend
from corenn.run.build import build
from corenn.run.config import config_from_dict
from corenn.run.train import train
from corenn.testing import plugin_system_from, plugins_in_use
from corenn.trained.predict import predict_labels

from corenn_torch.backend import TorchBackend
from torch_agreement import assert_agree

IMAGE_SHAPE = (6, 5, 2)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def on_host(value):
    return value.detach().cpu().numpy() if torch.is_tensor(value) else value


@pytest.fixture(params=DEVICES)
def arrays(request):
    return TorchBackend(request.param)


def images(n=10, seed=0):
    return np.random.default_rng(seed).normal(size=(n, *IMAGE_SHAPE))


@pytest.mark.parametrize("mode", ["zeros", "reflect"])
def test_padding_flipping_and_shifting_match_numpy_exactly(arrays, mode):
    X = images()
    tensor = arrays.to_device(X)
    assert np.array_equal(on_host(arrays.pad_images(tensor, 3, mode)), NumpyBackend().pad_images(X, 3, mode))
    assert np.array_equal(on_host(arrays.flip_images(tensor)), NumpyBackend().flip_images(X))
    for dy, dx in ((-1, -1), (1, 1), (2, -1)):
        assert np.array_equal(on_host(arrays.shift_images(tensor, dy, dx)), NumpyBackend().shift_images(X, dy, dx))


@pytest.mark.parametrize("flip", [True, "alternate"])
def test_reflect_crops_with_each_flip_mode_match_numpy_exactly(arrays, flip):
    X, indices = images(16), np.arange(30, 46)
    options = {"crop_padding": 2, "padding_mode": "reflect", "flip": flip, "indices": indices}
    for epoch in (1, 2):
        on_numpy = augment_batch(X, np.random.default_rng(epoch), NumpyBackend(), **options, epoch=epoch)
        on_torch = augment_batch(arrays.to_device(X), np.random.default_rng(epoch), arrays, **options, epoch=epoch)
        assert torch.is_tensor(on_torch) and on_torch.device.type == arrays.device.type
        assert np.array_equal(on_host(on_torch), on_numpy)


@pytest.mark.parametrize("mode", ["flip", "flip_translate"])
def test_test_time_views_and_their_average_match_numpy(arrays, mode):
    X = images(7, seed=1)
    views_numpy = list(evaluation_views(X, NumpyBackend(), mode))
    views_torch = list(evaluation_views(arrays.to_device(X), arrays, mode))
    assert [weight for weight, _ in views_torch] == [weight for weight, _ in views_numpy]
    for (_, view_torch), (_, view_numpy) in zip(views_torch, views_numpy, strict=True):
        assert np.array_equal(on_host(view_torch), view_numpy)
    W = np.random.default_rng(2).normal(size=(60, 3))
    averaged_numpy = averaged_outputs(lambda V: np.tanh(V.reshape(len(V), -1) @ W), X, NumpyBackend(), mode)
    W_torch = arrays.to_device(W)
    averaged_torch = averaged_outputs(
        lambda V: torch.tanh(V.reshape(len(V), -1) @ W_torch), arrays.to_device(X), arrays, mode
    )
    assert_agree(f"test-time views ({mode})", "averaged outputs", on_host(averaged_torch), averaged_numpy)


# A whole run on both backends


def tiny_images(data_dir=None):
    rng = np.random.default_rng(5)

    def split(n):
        labels = np.arange(n) % 3
        X = rng.normal(size=(n, *IMAGE_SHAPE))
        X[np.arange(n), :, labels, 0] += 1.5
        return Split(X, labels)

    return DatasetSplits("tiny_images", split(40), split(12), split(12), ("a", "b", "c"), standardize="channel")


class ImagesPlugin:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("dataset", "tiny_images", tiny_images)


@pytest.fixture
def with_images(no_plots):
    with plugins_in_use(plugin_system_from(ImagesPlugin)):
        yield


def config(backend, name):
    return {
        "name": name,
        "seed": 4,
        "epochs": 3,
        "backend": backend,
        "dataset": {
            "name": "tiny_images",
            "batch_size": 8,
            "augment": {"crop_padding": 2, "padding_mode": "reflect", "flip": "alternate"},
            "test_augment": "flip_translate",
        },
        "optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9},
        "layers": [{"name": "flatten"}, {"name": "fully_connected", "n_out": "auto", "activation": "softmax"}],
    }


def test_a_float64_run_with_these_options_agrees_across_backends(tmp_path, with_images):
    runs = {backend: train(config(backend, backend), out_dir=tmp_path, verbose=False) for backend in ("numpy", "torch")}
    for key in ("train_loss", "val_loss", "test_loss"):
        assert_agree(
            "training with augment modes and test-time views",
            key,
            np.array(runs["torch"][key]),
            np.array(runs["numpy"][key]),
        )
    for key in ("train_accuracy", "val_accuracy", "test_accuracy"):
        assert runs["torch"][key] == runs["numpy"][key], key
    steps = {
        backend: np.loadtxt(f"{run['run_dir']}/steps.csv", delimiter=",", skiprows=1) for backend, run in runs.items()
    }
    assert steps["numpy"].shape == (15, 4)
    assert_agree("training with augment modes and test-time views", "step losses", steps["torch"], steps["numpy"])
    torch_labels = predict_labels(runs["torch"]["run_dir"], split="val")
    numpy_labels = predict_labels(runs["numpy"]["run_dir"], split="val")
    data, model, *_ = build(config_from_dict(config("numpy", "check")))
    model.load_parameters(f"{runs['torch']['run_dir']}/parameters.npz")
    model.eval()
    averaged = averaged_outputs(model.forward, data.val.X, NumpyBackend(), "flip_translate")
    assert np.array_equal(torch_labels, averaged.argmax(axis=1)) and np.array_equal(torch_labels, numpy_labels)
