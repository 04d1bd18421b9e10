"""A sequential network built from registered components.

The model owns the layers and nothing else: the trainer owns the loss, optimizer and
scheduler. Parameters are addressed as ``"<layer index>.<key>"`` (``"0.W"``, ``"2.b"``); a composite
layer (a residual block) names its inner parameters itself (``"0.W"``), so the model's name
becomes ``"3.0.W"``: the layer index is always what comes before the first dot.

Layers may also hold ``buffers``: arrays that are saved and restored but not trained (batch
normalisation's running mean and variance). They are addressed the same way and stored in
parameter files under ``"buffer/<name>"`` (``"buffer/1.running_mean"``).

A layer's config table may hold ``lr_scale = { b = 64.0 }``: factors on the learning rate of
some of that layer's parameters, kept by the model (:meth:`Sequential.named_lr_scales`) and
passed by the trainer to the optimizer; the layer itself never sees them.

Layers may have a ``training`` attribute: :meth:`Sequential.train` and :meth:`Sequential.eval`
set it on every layer that has one (dropout and batch normalisation behave differently).

The model works on numpy arrays or on torch tensors alike: it never imports torch, and only
uses methods both share (or, for tensors, ``copy_``/``new_tensor``/``numel``).
"""

import math
import numbers

import numpy as np

from corenn.errors import ConfigError, CorennError, CorruptFileError, ShapeError, remember_component
from corenn.files import load_arrays, save_arrays
from corenn.nn.backward_checks import check_backward, layer_origin
from corenn.plugins import create

BUFFER_PREFIX = "buffer/"
AUTO = "auto"  # the last layer's n_out = "auto": one output per class of the data set (see from_config)


class Sequential:
    """Layers applied in order; ``backward`` runs them in reverse."""

    def __init__(self, layers, layer_names=None, lr_scales=None):
        self.layers = list(layers)
        self.layer_names = list(layer_names or [type(layer).__name__ for layer in self.layers])
        self.backend = "numpy"  # the layers' backend, to name the plugin of a layer in errors
        # Each layer's input shape at the last forward: what its dL/dX must have in backward.
        self._input_shapes = {}
        # {layer index: {parameter key: factor}}; see named_lr_scales.
        self.lr_scales = {}
        # Bytes of each layer's output for one sample, measured by initialize; see
        # corenn.run.resources, which sizes a run's memory from them.
        self.output_bytes_per_sample = []
        # Bytes of dL/dX of one input sample that backward makes (0 when the first layer skips it).
        self.input_gradient_bytes_per_sample = 0
        for index, table in (lr_scales or {}).items():
            if not isinstance(index, int) or not 0 <= index < len(self.layers):
                raise ConfigError(f"lr_scales: {index!r} is not a layer index (0 to {len(self.layers) - 1})")
            self.lr_scales[index] = _checked_lr_scale_table(f"{self.where(index)}.lr_scale", table)

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
                f'layer needs one output per class; write n_out = "auto" to get that'
            )
        layers = []
        lr_scales = {}
        generators = np.random.SeedSequence(seed).spawn(len(layer_configs))
        for index, (layer_config, seed_sequence) in enumerate(zip(layer_configs, generators, strict=True)):
            options = dict(layer_config.options)
            if "lr_scale" in options:
                lr_scales[index] = options.pop("lr_scale")
            if options.get("n_out") == AUTO:
                options["n_out"] = n_classes
            try:
                layer = create("layer", layer_config.name, backend, **options)
            except ConfigError as exc:
                raise ConfigError(f"layers[{index}]: {exc}") from exc
            layer.rng = np.random.default_rng(seed_sequence)
            layers.append(layer)
        model = cls(layers, [layer_config.name for layer_config in layer_configs], lr_scales)
        model.backend = backend
        return model

    def skip_input_gradient(self):
        """Tell the first layer, if it can, not to compute dL/dX of the data.

        Training never uses that gradient, so skipping it (as autograd does for inputs that
        need none) saves a whole product per step; ``backward`` then returns ``None``.
        """
        if self.layers and hasattr(self.layers[0], "needs_input_gradient"):
            self.layers[0].needs_input_gradient = False
        return self

    def set_compute_dtype(self, dtype):
        """Set ``compute_dtype`` (the dtype a layer's heavy products run in, ``None`` for the
        input's) on every layer that has that attribute, inner layers of composites (a residual
        block's ``layers`` and ``shortcut``) included; returns the model.

        Mixed precision is ``set_compute_dtype("bfloat16")`` on a float32 model of the torch
        backend (``mixed_precision = true`` in a config): see :class:`corenn.nn.layers.ProductLayer`.
        Layers without the attribute (pooling, normalisation) keep computing in their input's
        dtype; each layer checks the value with its backend's ``compute_dtype`` kernel (numpy
        refuses bfloat16).
        """
        pending = list(self.layers)
        while pending:
            layer = pending.pop()
            if hasattr(layer, "compute_dtype"):
                layer.compute_dtype = dtype
            inner = getattr(layer, "layers", None)
            if isinstance(inner, (list, tuple)):
                pending.extend(inner)
            if getattr(layer, "shortcut", None) is not None:
                pending.append(layer.shortcut)
        return self

    def initialize(self, input_shape, dtype="float64", to_device=None, check_parameters=None):
        """Make every layer's parameters by passing one zero sample through the network.

        Also catches layer stacks whose shapes do not fit before any training starts. The
        sample goes through in eval mode, so it leaves no trace in running statistics.
        ``to_device`` moves the zero sample where the layers should make their parameters
        (a torch device); without it the sample is a numpy array.

        A layer fitted to data (it has ``allocate``, see :meth:`fit_to_data`) is not run on
        the zero sample, which has nothing to fit to: its ``allocate`` makes its arrays
        (unfitted) and gives the zeros of its output's shape the next layers are made from.

        The bytes each layer's output adds for that sample are kept in ``output_bytes_per_sample``
        (none for a view of its input, see :func:`output_bytes`), and those of the gradient of
        the input sample that backward makes in ``input_gradient_bytes_per_sample`` (none when
        the first layer can skip it, see :meth:`skip_input_gradient`; a ``flatten`` first cannot).
        ``check_parameters(model, index)``, when given, is called as soon as layer ``index`` has
        made its parameters and may refuse the model by raising: the trainer's memory check
        (:func:`corenn.run.resources.parameter_memory_check`), so that a stack too big to train
        stops at the layer that makes it so rather than filling the memory first.
        """
        sample = np.zeros((1, *input_shape), dtype=dtype)
        if to_device is not None:
            sample = to_device(sample)
        was_training = self.training
        self.eval()
        self.output_bytes_per_sample = []
        first_skips = bool(self.layers) and hasattr(self.layers[0], "needs_input_gradient")
        self.input_gradient_bytes_per_sample = 0 if first_skips else array_bytes(sample)
        try:
            for index, layer in enumerate(self.layers):
                layer_input = sample
                sample = self._apply(index, getattr(layer, "allocate", layer.forward), sample)
                self.output_bytes_per_sample.append(output_bytes(layer, layer_input, sample))
                if check_parameters is not None:
                    check_parameters(self, index)
        finally:
            self.train(was_training)
        self.check_lr_scales()
        return self

    def fit_to_data(self, X):
        """Data-dependent initialisation: fit every layer that has a ``fit`` method to the
        batch ``X`` as it reaches that layer; returns the model.

        ``X`` goes through the network layer by layer in eval mode (the mode the model was in
        is restored); before each layer with ``fit`` (patch whitening; LSUV-style inits of
        third parties), ``layer.fit(input of that layer)`` is called, so a later layer is
        fitted to what the already fitted layers before it output. The trainer calls this
        once, on the first 5,000 training images of a fresh run (``FIT_SAMPLE_SIZE`` in
        :mod:`corenn.run.build`); a resumed run loads what was fitted instead. Such a layer also
        has ``allocate(X)``, used by :meth:`initialize`. Layers inside a composite (a residual
        block) are not reached.
        """
        fitted = [index for index, layer in enumerate(self.layers) if callable(getattr(layer, "fit", None))]
        if not fitted:
            return self
        was_training = self.training
        self.eval()
        try:
            for index, layer in enumerate(self.layers[: fitted[-1] + 1]):
                if index in fitted:
                    self._apply(index, layer.fit, X)
                if index < fitted[-1]:  # nothing after the last fitted layer needs its input
                    X = self._apply(index, layer.forward, X)
        finally:
            self.train(was_training)
        return self

    def _apply(self, index, step, X):
        """``step(X)`` for layer ``index`` (its forward, fit or allocate), a ShapeError naming
        that layer."""
        try:
            return step(X)
        except ShapeError as exc:
            raise ShapeError(f"{self.where(index)}: {exc}") from exc
        except Exception as exc:
            self._blame_bug(index, exc)
            raise

    @property
    def training(self):
        """True unless :meth:`eval` was called last (a model starts in training mode)."""
        return getattr(self, "_training", True)

    def train(self, mode=True):
        """Training mode (or eval mode with ``mode=False``) for every layer that has a
        ``training`` attribute; returns the model."""
        self._training = bool(mode)
        for layer in self.layers:
            if hasattr(layer, "training"):
                layer.training = self._training
        return self

    def eval(self):
        """Evaluation mode: dropout off, batch normalisation on its running statistics."""
        return self.train(False)

    def where(self, index):
        """``layers[2] (conv2d)``: layer ``index`` as errors name it."""
        return f"layers[{index}] ({self.layer_names[index]})"

    def _blame(self, index):
        """``layers[1] (layer_norm, from corenn-extras)``: the layer, its name and its plugin."""
        return f"layers[{index}] ({layer_origin(self.layer_names[index], self.backend)})"

    def _blame_bug(self, index, exc):
        """Note on an exception raised inside layer ``index`` (a bug: a typo in its forward, say)
        which layer and plugin it came from, unless it is a user's error (those say what was wrong
        themselves); the CLI names them before the error, whose traceback stays whole."""
        if not isinstance(exc, CorennError):
            remember_component(exc, self._blame(index))

    def forward(self, X):
        for index, layer in enumerate(self.layers):
            self._input_shapes[index] = tuple(X.shape)
            try:
                X = layer.forward(X)
            except ShapeError as exc:
                raise ShapeError(f"{self.where(index)}: {exc}") from exc
            except Exception as exc:
                self._blame_bug(index, exc)
                raise
        return X

    def backward(self, dLdY, after_layer=None):
        """Backpropagate through every layer; returns dL/dX of the input, or ``None`` when the
        first layer was told not to compute it (``needs_input_gradient = False``).

        After each layer's backward, its dL/dX and parameter gradients are checked against
        its input's and parameters' shapes (see :mod:`corenn.nn.backward_checks`), so a wrong
        one is blamed on the layer that made it, not on the next layer that reads it.

        ``after_layer(index)``, when given, is called as soon as layer ``index``'s gradients are
        final (the last layer first): a data-parallel run starts summing them across its ranks
        there, while the layers below still compute (see :class:`corenn.run.distributed.GradientBuckets`).
        """
        for index in reversed(range(len(self.layers))):
            layer = self.layers[index]
            try:
                dX = layer.backward(dLdY)
            except ShapeError as exc:
                raise ShapeError(f"{self.where(index)}: {exc}") from exc
            except Exception as exc:
                self._blame_bug(index, exc)
                raise
            check_backward(layer, self._input_shapes.get(index), dX, lambda index=index: self._blame(index))
            if after_layer is not None:
                after_layer(index)
            dLdY = dX
        return dLdY

    def predict_proba(self, X, batch_size=1024):
        """The network's outputs for a numpy ``X``, in eval mode, computed in batches to bound
        memory (the mode the model was in is restored)."""
        was_training = self.training
        self.eval()
        try:
            return np.concatenate(
                [self.forward(X[start : start + batch_size]) for start in range(0, len(X), batch_size)]
            )
        finally:
            self.train(was_training)

    def predict(self, X, batch_size=1024):
        """Predicted class indices."""
        return self.predict_proba(X, batch_size).argmax(axis=1)

    def named_parameters(self):
        """``{"<index>.<key>": array}`` of every parameter (the arrays themselves, not copies)."""
        return {
            f"{index}.{key}": value
            for index, layer in enumerate(self.layers)
            for key, value in layer.parameters.items()
        }

    def named_lr_scales(self):
        """``{"<index>.<key>": factor}`` of every parameter whose learning rate is scaled (named
        as in :meth:`named_parameters`); a parameter not in it has factor 1. A composite layer's
        table uses its own dotted keys (``lr_scale = { "0.b" = 64.0 }`` on a residual block).

        Why per parameter: airbench trains batch-norm shifts with a rate 64 times the others'
        (``lr_scale = { b = 64.0 }``); the optimizer applies the factor to the gradient step
        only, so the weight decay per step stays the same for every parameter.
        """
        return {f"{index}.{key}": factor for index, table in self.lr_scales.items() for key, factor in table.items()}

    def check_lr_scales(self):
        """Every ``lr_scale`` key must name a parameter of its layer.

        Parameters exist only once the layer saw its first input, so this runs after
        :meth:`initialize` (which calls it); a typo would otherwise silently scale nothing.
        """
        for index, table in self.lr_scales.items():
            known = list(self.layers[index].parameters)
            unknown = [key for key in table if key not in known]
            if unknown:
                has = f"its parameters are {', '.join(map(repr, known))}" if known else "it has no parameters"
                raise ConfigError(
                    f"{self.where(index)}.lr_scale: {', '.join(map(repr, unknown))} "
                    f"{'is not a parameter' if len(unknown) == 1 else 'are not parameters'} of this layer; {has}"
                )

    def named_gradients(self):
        return {
            f"{index}.{key}": value for index, layer in enumerate(self.layers) for key, value in layer.gradients.items()
        }

    def named_buffers(self):
        """``{"<index>.<key>": array}`` of every layer's buffers (the arrays themselves)."""
        return {
            f"{index}.{key}": value
            for index, layer in enumerate(self.layers)
            for key, value in (getattr(layer, "buffers", None) or {}).items()
        }

    def set_parameter(self, name, value):
        index, key = name.split(".", 1)
        self.layers[int(index)].parameters[key] = value

    def parameter_arrays(self):
        """Parameters and buffers as one table, buffers under ``"buffer/<name>"``: what
        :meth:`save_parameters` writes and :meth:`load_parameters` reads."""
        return self.named_parameters() | {
            f"{BUFFER_PREFIX}{name}": value for name, value in self.named_buffers().items()
        }

    def save_parameters(self, path):
        """Write every parameter and buffer to an ``.npz`` file, atomically (no pickle)."""
        save_arrays(path, self.parameter_arrays())

    def load_parameters(self, path_or_arrays):
        """Load parameters (and buffers) saved by :meth:`save_parameters`; names and shapes
        must match.

        The model must be initialised first (see :meth:`initialize`), so that every expected
        parameter exists and a mismatching file is rejected as a whole, before any change.
        Values are copied into the existing arrays (or tensors, on their device).
        """
        arrays = path_or_arrays if isinstance(path_or_arrays, dict) else load_arrays(path_or_arrays)
        origin = "the parameters" if isinstance(path_or_arrays, dict) else str(path_or_arrays)
        current = self.parameter_arrays()
        missing = sorted(set(current) - set(arrays))
        extra = sorted(set(arrays) - set(current))
        if missing or extra:
            raise CorruptFileError(
                f"{origin} does not fit this model: missing {missing or 'nothing'}, unexpected {extra or 'nothing'}"
            )
        for name, value in arrays.items():
            expected = tuple(current[name].shape)
            kind = "buffer" if name.startswith(BUFFER_PREFIX) else "parameter"
            short = name.removeprefix(BUFFER_PREFIX)
            if tuple(value.shape) != expected:
                raise CorruptFileError(
                    f"{origin}: {kind} {short} of {self.where(int(short.split('.')[0]))} has shape "
                    f"{tuple(value.shape)}, the model expects {expected}"
                )
            if kind == "parameter" and not np.issubdtype(value.dtype, np.floating):
                raise CorruptFileError(f"{origin}: parameter {name} has dtype {value.dtype}, expected floats")
        for name, value in arrays.items():
            _copy_into(current[name], value)
        return self

    def layer_summaries(self, input_shape, dtype="float64", to_device=None):
        """One row per layer, for a summary of the network (``corenn summary``, the start of a
        run): ``{"index", "name", "activation", "output_shape", "parameters", "buffers"}``, the
        output shape of one sample (without the batch axis) and the number of values in the
        layer's parameters and in its buffers (kept, not trained).

        The shapes are measured: one zero sample goes through the initialised network (see
        :meth:`initialize`) in eval mode, which makes no parameters and leaves no trace in them,
        their generators or running statistics. ``to_device`` moves the sample where the
        layers' parameters are (a torch device)."""
        sample = np.zeros((1, *input_shape), dtype=dtype)
        if to_device is not None:
            sample = to_device(sample)
        was_training = self.training
        self.eval()
        rows = []
        try:
            for index, layer in enumerate(self.layers):
                sample = self._apply(index, layer.forward, sample)
                activation = getattr(layer, "activation", None)
                rows.append(
                    {
                        "index": index,
                        "name": self.layer_names[index],
                        "activation": None if activation is None else getattr(activation, "name", None),
                        "output_shape": tuple(int(size) for size in sample.shape[1:]),
                        "parameters": int(sum(_size(value) for value in layer.parameters.values())),
                        "buffers": int(sum(_size(value) for value in (getattr(layer, "buffers", None) or {}).values())),
                    }
                )
        finally:
            self.train(was_training)
        return rows

    def parameter_count(self):
        return int(sum(_size(value) for value in self.named_parameters().values()))

    def parameter_bytes(self):
        """Bytes held by the parameters (buffers excluded)."""
        return int(sum(array_bytes(value) for value in self.named_parameters().values()))


def _checked_lr_scale_table(where, table):
    """A layer's ``lr_scale`` table: parameter keys to finite numbers > 0, as a new dict of floats."""
    if not isinstance(table, dict):
        raise ConfigError(
            f"{where} must be a table from parameter keys to factors (lr_scale = {{ b = 64.0 }}), got {table!r}"
        )
    checked = {}
    for key, factor in table.items():
        if not isinstance(key, str) or not key:
            raise ConfigError(f"{where}: keys are the layer's parameter keys ('W', 'b', ...), got {key!r}")
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not 0 < factor < math.inf:
            raise ConfigError(f"{where}.{key} must be a finite number > 0 (the learning rate's factor), got {factor!r}")
        checked[key] = float(factor)
    return checked


def _copy_into(target, value):
    """Copy a numpy ``value`` into ``target`` in place: a numpy array, or a tensor on any device."""
    if hasattr(target, "copy_"):
        target.copy_(target.new_tensor(np.asarray(value)))
    else:
        target[...] = value


def _size(value):
    return value.numel() if hasattr(value, "numel") else np.size(value)


def output_bytes(layer, layer_input, output):
    """Bytes a layer's output adds for one sample: none for a view of its input (``flatten``, a
    reshape: the same memory under another shape), else the output's size. A layer whose
    output depends on the mode (it has ``training``, as dropout, which returns its input
    itself in eval mode, the mode this is measured in) always counts its output."""
    if not hasattr(layer, "training") and _shares_memory(layer_input, output):
        return 0
    return array_bytes(output)


def _shares_memory(first, second):
    """Whether two arrays (numpy, or tensors, duck-typed) are views of the same memory."""
    if hasattr(first, "untyped_storage") and hasattr(second, "untyped_storage"):
        return first.untyped_storage().data_ptr() == second.untyped_storage().data_ptr()
    if isinstance(first, np.ndarray) and isinstance(second, np.ndarray):
        return bool(np.shares_memory(first, second))
    return False


def array_bytes(value):
    """Bytes of a numpy array or a tensor's elements."""
    if hasattr(value, "element_size"):
        return int(value.numel() * value.element_size())
    return int(np.asarray(value).nbytes)


def check_finite_parameters(model):
    """Raise when a parameter holds NaN or infinity (the update before it diverged)."""
    for name, value in model.named_parameters().items():
        finite = value.isfinite().all() if hasattr(value, "isfinite") else np.all(np.isfinite(value))
        if not bool(finite):
            raise CorennError(f"parameter {name} holds NaN or infinite values")
