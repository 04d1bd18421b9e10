"""A sequential network built from registered components.

The model owns the layers and nothing else: the trainer owns the loss, optimizer and
scheduler. Parameters are addressed as ``"<layer index>.<key>"`` (``"0.W"``, ``"2.b"``), the
keys of parameter files.
"""

import numpy as np

from corenn.config import AUTO
from corenn.errors import ConfigError, CorennError, CorruptFileError, ShapeError
from corenn.io import load_arrays, save_arrays
from corenn.plugins import create


class Sequential:
    """Layers applied in order; ``backward`` runs them in reverse."""

    def __init__(self, layers, layer_names=None):
        self.layers = list(layers)
        self.layer_names = list(layer_names or [type(layer).__name__ for layer in self.layers])

    @classmethod
    def from_config(cls, layer_configs, *, n_classes, backend="numpy", seed=0):
        """Build the layers of a config; the last layer's ``n_out = "auto"`` becomes ``n_classes``.

        Each layer draws its initial weights from its own generator, spawned from ``seed``, so
        a run's weights depend on the seed alone.
        """
        last = len(layer_configs) - 1
        n_out = layer_configs[last].options.get("n_out") if layer_configs else None
        if isinstance(n_out, int) and not isinstance(n_out, bool) and n_out > 0 and n_out != n_classes:
            raise ConfigError(
                f"layers[{last}].n_out = {n_out}, but the data set has {n_classes} classes: the last "
                f"layer needs one output per class; write n_out = \"auto\" to get that"
            )
        layers = []
        generators = np.random.SeedSequence(seed).spawn(len(layer_configs))
        for index, (layer_config, seed_sequence) in enumerate(zip(layer_configs, generators)):
            options = dict(layer_config.options)
            if options.get("n_out") == AUTO:
                options["n_out"] = n_classes
            try:
                layer = create("layer", layer_config.name, backend, **options)
            except ConfigError as exc:
                raise ConfigError(f"layers[{index}]: {exc}") from exc
            layer.rng = np.random.default_rng(seed_sequence)
            layers.append(layer)
        if hasattr(layers[0], "needs_input_gradient"):
            # Nothing consumes dL/dX of the data, so a first layer that can skip it (as
            # autograd does for inputs that need no gradient) saves that product each step.
            layers[0].needs_input_gradient = False
        return cls(layers, [layer_config.name for layer_config in layer_configs])

    def initialize(self, input_shape, dtype="float64"):
        """Make every layer's parameters by passing one zero sample through the network.

        Also catches layer stacks whose shapes do not fit before any training starts.
        """
        self.forward(np.zeros((1, *input_shape), dtype=dtype))
        return self

    def _where(self, index):
        return f"layers[{index}] ({self.layer_names[index]})"

    def forward(self, X):
        for index, layer in enumerate(self.layers):
            try:
                X = layer.forward(X)
            except ShapeError as exc:
                raise ShapeError(f"{self._where(index)}: {exc}") from exc
        return X

    def backward(self, dLdY):
        """Backpropagate through every layer; returns dL/dX of the input, or ``None`` when the
        first layer was told not to compute it (``needs_input_gradient = False``)."""
        for layer in reversed(self.layers):
            dLdY = layer.backward(dLdY)
        return dLdY

    def predict_proba(self, X, batch_size=1024):
        """The network's outputs for ``X``, computed in batches to bound memory."""
        return np.concatenate([self.forward(X[start : start + batch_size]) for start in range(0, len(X), batch_size)])

    def predict(self, X, batch_size=1024):
        """Predicted class indices."""
        return self.predict_proba(X, batch_size).argmax(axis=1)

    def named_parameters(self):
        """``{"<index>.<key>": array}`` of every parameter (the arrays themselves, not copies)."""
        return {f"{index}.{key}": value for index, layer in enumerate(self.layers) for key, value in layer.parameters.items()}

    def named_gradients(self):
        return {f"{index}.{key}": value for index, layer in enumerate(self.layers) for key, value in layer.gradients.items()}

    def set_parameter(self, name, value):
        index, key = name.split(".", 1)
        self.layers[int(index)].parameters[key] = value

    def save_parameters(self, path):
        """Write every parameter to an ``.npz`` file, atomically (no pickle)."""
        save_arrays(path, self.named_parameters())

    def load_parameters(self, path_or_arrays):
        """Load parameters saved by :meth:`save_parameters`; names and shapes must match.

        The model must be initialised first (see :meth:`initialize`), so that every expected
        parameter exists and a mismatching file is rejected as a whole, before any change.
        """
        arrays = path_or_arrays if isinstance(path_or_arrays, dict) else load_arrays(path_or_arrays)
        origin = "the parameters" if isinstance(path_or_arrays, dict) else str(path_or_arrays)
        current = self.named_parameters()
        missing = sorted(set(current) - set(arrays))
        extra = sorted(set(arrays) - set(current))
        if missing or extra:
            raise CorruptFileError(
                f"{origin} does not fit this model: missing {missing or 'nothing'}, unexpected {extra or 'nothing'}"
            )
        for name, value in arrays.items():
            if value.shape != current[name].shape:
                raise CorruptFileError(
                    f"{origin}: parameter {name} of {self._where(int(name.split('.')[0]))} has shape "
                    f"{value.shape}, the model expects {current[name].shape}"
                )
            if not np.issubdtype(value.dtype, np.floating):
                raise CorruptFileError(f"{origin}: parameter {name} has dtype {value.dtype}, expected floats")
        for name, value in arrays.items():
            current[name][...] = value
        return self

    def parameter_count(self):
        return int(sum(np.size(value) for value in self.named_parameters().values()))


def check_finite_parameters(model):
    """Raise when a parameter holds NaN or infinity (the update before it diverged)."""
    for name, value in model.named_parameters().items():
        if not np.all(np.isfinite(value)):
            raise CorennError(f"parameter {name} holds NaN or infinite values")
