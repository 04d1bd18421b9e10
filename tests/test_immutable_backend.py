"""A backend whose arrays cannot be written runs corenn through the kernels' references.

Issue 19's proof that nothing but a backend's own fast kernels relies on writing into arrays:
``read_only`` is numpy with every array it hands out (inputs, parameters, batches, restored
optimizer state) marked read-only, as a stand-in for a library of immutable arrays (JAX). It
claims no array type, so its arrays are numpy's; inside :func:`corenn.kernels.reference_kernels`
every kernel runs its reference, and the references, the components, the optimizers and the
checks of :mod:`corenn.testing` must then never write into an array. Outside it numpy's
overrides run, and those do write in place (the last test shows it, so the others can fail).
"""

import attrs
import numpy as np
import pytest

import corenn
from corenn.kernels import reference_kernels
from corenn.numpy_backend import NumpyBackend
from corenn.plugins import get_registry
from corenn.run.config import load_preset, with_overrides
from corenn.run.train import train
from corenn.testing import gradcheck, plugin_system_from, plugins_in_use

BACKEND = "read_only"


def read_only(array):
    """A view of ``array`` that cannot be written (the array itself is left writable)."""
    view = array.view()
    view.flags.writeable = False
    return view


class ReadOnlyBackend(NumpyBackend):
    """numpy, but every array it makes or hands on is read-only."""

    name = BACKEND
    array_module = None  # numpy's arrays stay numpy's: its overrides run outside reference_kernels()

    def asarray(self, value, *, dtype=None, device=None):
        return read_only(super().asarray(value, dtype=dtype, device=device))

    def as_float_array(self, value, *, device=None):
        return read_only(super().as_float_array(value, device=device))

    def move(self, value, *, device=None, dtype=None):
        return read_only(super().move(value, device=device, dtype=dtype))

    def to_device(self, array):
        return read_only(super().to_device(array))

    def split(self, split):
        return attrs.evolve(split, X=read_only(split.X), Y=read_only(split.Y), labels=read_only(split.labels))


class ReadOnlyBackendPlugin:
    @corenn.hookimpl
    def corenn_register_components(self, register):
        register("backend", BACKEND, ReadOnlyBackend)


@pytest.fixture
def read_only_backend():
    with plugins_in_use(plugin_system_from(ReadOnlyBackendPlugin)) as system:
        yield system


def test_its_arrays_cannot_be_written(read_only_backend):
    layer = corenn.create("layer", "fully_connected", BACKEND, n_out=3)
    layer.forward(np.ones((2, 4)))
    for value in (*layer.parameters.values(), layer.cache["X"]):
        with pytest.raises(ValueError, match="read-only"):
            value[...] = 0.0


def test_the_iris_preset_trains_on_it_through_the_references_as_on_numpy(read_only_backend):
    config = load_preset("iris-ffnn")
    on_numpy = train(config, record=False, verbose=False)
    with reference_kernels():
        on_read_only = train(with_overrides(config, backend=BACKEND), record=False, verbose=False)
    assert on_read_only["backend"] == BACKEND and on_read_only["epochs"] == config.epochs
    for metric in ("train_accuracy", "val_accuracy", "test_accuracy"):
        assert on_read_only[metric] == on_numpy[metric], metric
    assert on_read_only["train_loss"] == pytest.approx(on_numpy["train_loss"], rel=1e-9)


# Options of the layers that need some (as bench/gradcheck_report.py gives them); a layer not
# listed is checked with n_out=3 when it takes that option, else with its defaults.
LAYER_OPTIONS = {
    "fully_connected": {"n_out": 3, "activation": "tanh"},
    "conv2d": {"n_out": 3, "kernel_shape": [3, 3], "stride": 2, "activation": "tanh"},
    "pool2d": {"kernel_shape": [2, 2], "stride": 1},
    "conv1d": {"n_out": 2, "kernel_size": 2, "stride": 2},  # the example plugin's, where it is installed
    "dropout": {"rate": 0.5},
    "scale": {"factor": 1 / 9},
    "patch_whitening": {"kernel_size": 2},
    "residual": {
        "layers": [
            {"name": "fully_connected", "n_out": 5, "activation": "tanh"},
            {"name": "batch_norm"},
            {"name": "dropout", "rate": 0.3},
        ]
    },
}


def layer_options(name):
    """The options above, else none: gradcheck then builds the layer from its example_options."""
    return LAYER_OPTIONS.get(name, {})


@pytest.mark.parametrize("kind", ["layer", "activation", "loss"])
def test_every_registered_component_is_checked(kind):
    assert NAMES[kind], f"no {kind} is registered"


NAMES = {kind: get_registry().names(kind) for kind in ("layer", "activation", "loss")}


@pytest.mark.parametrize("name", NAMES["layer"])
def test_every_layer_passes_its_gradient_check_through_the_references(read_only_backend, name):
    with reference_kernels():
        report = gradcheck("layer", name, layer_options(name), backend=BACKEND)
    assert report.backend == BACKEND and report.perturbed
    assert report.passed, report


@pytest.mark.parametrize("name", NAMES["activation"])
def test_every_activation_passes_its_gradient_check_through_the_references(read_only_backend, name):
    with reference_kernels():
        report = gradcheck("activation", name, backend=BACKEND)
    assert report.passed, report


@pytest.mark.parametrize("name", NAMES["loss"])
def test_every_loss_passes_its_gradient_check_through_the_references(read_only_backend, name):
    with reference_kernels():
        report = gradcheck("loss", name, backend=BACKEND, input_shape=(4, 3))
    assert report.passed, report


def test_numpy_overrides_write_in_place_so_they_fail_on_it(read_only_backend):
    """Why the references matter: numpy's fast optimizer step writes into the parameter.
    (The trainer's ``update_all`` steps small parameters in flat copies of its own, which it
    can write, so this takes one parameter's ``update``.)"""
    optimizer = corenn.create("optimizer", "sgd", BACKEND, lr=0.1)
    with pytest.raises(ValueError, match="read-only"):
        optimizer.update("0.W", read_only(np.ones((3, 2))), np.ones((3, 2)))
