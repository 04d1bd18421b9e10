"""The ``lenet-mnist`` preset: the course's LeNet, and one epoch of it on the real MNIST.

The training test runs one full epoch (about 15 s in float32 on two cores) and needs MNIST
under ``$CORENN_DATA_DIR``; it is skipped without the files.
"""

import os
from pathlib import Path

import pytest

from corenn.nn.model import Sequential
from corenn.run.config import load_preset

DATA_DIR = os.environ.get("CORENN_DATA_DIR")
HAS_MNIST = DATA_DIR is not None and (Path(DATA_DIR) / "MNIST" / "raw" / "t10k-labels-idx1-ubyte.gz").is_file()


def test_preset_is_the_course_lenet():
    config = load_preset("lenet-mnist")
    assert config.dataset.name == "mnist"
    assert config.dtype == "float32"
    assert [layer.name for layer in config.layers] == [
        "conv2d",
        "pool2d",
        "conv2d",
        "pool2d",
        "flatten",
        "fully_connected",
        "fully_connected",
        "fully_connected",
    ]
    model = Sequential.from_config(config.layers, n_classes=10).initialize((28, 28, 1), config.dtype)
    shapes = {name: value.shape for name, value in model.named_parameters().items()}
    assert shapes == {
        "0.W": (5, 5, 1, 6),
        "0.b": (1, 6),
        "2.W": (5, 5, 6, 16),
        "2.b": (1, 16),
        "5.W": (400, 120),
        "5.b": (1, 120),
        "6.W": (120, 84),
        "6.b": (1, 84),
        "7.W": (84, 10),
        "7.b": (1, 10),
    }
    assert model.parameter_count() == 61_706  # LeNet-5's classic count with these shapes


@pytest.mark.skipif(not HAS_MNIST, reason="MNIST files not under $CORENN_DATA_DIR")
def test_one_epoch_reaches_98_percent_test_accuracy():
    from corenn.run.train import train

    result = train(load_preset("lenet-mnist"), data_dir=DATA_DIR, record=False, verbose=False)
    assert result["epochs"] == 1
    assert result["test_accuracy"] >= 0.98, result
