"""Markers shared by the course facade's tests."""

import pytest

from corenn.data.download import resolve_data_dir
from corenn.data.mnist import MNIST_FILES


def has_mnist():
    folder = resolve_data_dir() / "MNIST" / "raw"
    return all((folder / file.name).is_file() for file in MNIST_FILES.values())


needs_mnist = pytest.mark.skipif(
    not has_mnist(), reason="MNIST is not in the data root (set CORENN_DATA_DIR to a folder holding MNIST/raw)"
)
