"""A second backend with numpy's arrays, so that ``check_across_backends`` runs without torch."""

from corenn.numpy_backend import NumpyBackend


class NumpyTwin(NumpyBackend):
    name = "numpy_twin"
    array_module = None  # numpy's arrays stay numpy's
