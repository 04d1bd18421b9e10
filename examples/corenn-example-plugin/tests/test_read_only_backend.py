"""The read_only backend: registered in memory, it trains Iris through the kernels' references
as numpy does, and catches a component that writes into its input."""

import numpy as np
import pytest

import corenn
from corenn.kernels import reference_kernels
from corenn.run.config import load_preset, with_overrides
from corenn.run.train import train
from corenn.testing import plugin_system_from, plugins_in_use

from corenn_example.read_only import ReadOnlyPlugin


@pytest.fixture
def read_only_backend():
    with plugins_in_use(plugin_system_from(ReadOnlyPlugin)) as system:
        yield system


def test_it_is_listed_as_a_backend(read_only_backend):
    assert "read_only" in read_only_backend.registry.backends()


def test_iris_trains_on_it_as_on_numpy(read_only_backend):
    config = with_overrides(load_preset("iris-ffnn"), epochs=5)
    on_numpy = train(config, record=False, verbose=False)
    with reference_kernels():
        on_read_only = train(with_overrides(config, backend="read_only"), record=False, verbose=False)
    assert on_read_only["test_loss"] == pytest.approx(on_numpy["test_loss"], rel=1e-9)


def test_a_component_writing_into_its_input_fails_on_it(read_only_backend):
    swish = corenn.create("activation", "swish", "read_only")
    Z = swish.backend.asarray(np.ones((2, 3)))
    with pytest.raises(ValueError, match="read-only"):
        Z += 1.0  # what a careless forward would do to the layer's input
