"""Composite layers: a layer made of other layers, whose tables are theirs.

The residual block (He et al. 2016), ``activation(shortcut(X) + F(X))`` with ``F`` a stack of
layers, needs nothing of a backend but its layers' calls and ``+``, so it lives here once; each
backend's plugin subclasses :class:`ResidualBlock` to say which layers it builds and what its
arrays are. Only layer modules import this one.
"""

import abc
from collections import OrderedDict

import numpy as np

import corenn
from corenn.errors import ConfigError, CorennError, ShapeError, remember_component
from corenn.nn.backward_checks import check_backward, layer_origin
from corenn.nn.layers import Layer, build_activation
from corenn.protocols import Layer as LayerProtocol

MAX_NESTING_DEPTH = 40
"""How many layer tables deep a network may nest: a residual block holding a residual block
... holding a plain layer is as deep as the tables on that path, the plain layer included. Each
level adds a few Python frames to every forward and backward pass; the bound keeps the deepest
network far below Python's recursion limit, so a config past it fails up front with one line
instead of a RecursionError traceback part way through training."""


def _nested_table_depth(spec):
    """The most tables (dicts) on any path through ``spec``; 1 for a layer object that is no
    block. Walked without recursion, so a hostile config cannot exhaust the stack before it is
    refused."""
    if isinstance(spec, ResidualBlock):
        return spec.nesting_depth
    deepest = 0
    pending = [(spec, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            depth += 1
            deepest = max(deepest, depth)
            pending.extend((item, depth) for item in value.values())
        elif isinstance(value, (list, tuple)):
            pending.extend((item, depth) for item in value)
        elif isinstance(value, ResidualBlock):
            deepest = max(deepest, depth + value.nesting_depth)
    return max(deepest, 1)


def check_nesting(layers, shortcut):
    """This block's nesting depth (see :data:`MAX_NESTING_DEPTH`), refused past the bound
    before any inner layer is built."""
    inner = [spec for spec in (*layers, shortcut) if spec is not None]
    depth = 1 + max(_nested_table_depth(spec) for spec in inner)
    if depth > MAX_NESTING_DEPTH:
        raise ConfigError(
            f"layers nest at most {MAX_NESTING_DEPTH} tables deep (a residual block inside a residual block "
            f"..., the innermost layer included), but this residual block nests {depth} deep; "
            "put blocks one after another instead of one inside another"
        )
    return depth


class FlatTable(OrderedDict):
    """The inner layers' tables (``parameters``, ``gradients`` or ``buffers``) as one table
    keyed ``"<position>.<key>"`` (``"0.W"``, ``"shortcut.b"``, ``"0.1.W"`` in a nested block),
    whose assignments write through.

    A snapshot, taken each time the composite's table is read: inner layers make their
    parameters lazily and a loaded checkpoint may replace them, so the composite keeps no copy
    of its own. Its values are the inner arrays themselves, so changing one in place (an
    optimizer step, a gradient check) changes the inner layer; assigning a key
    (``model.set_parameter``) replaces the entry in the table of the layer that owns it.

    ``entries`` are ``(flat_key, owner_table, owner_key)`` triples naming the innermost
    owner directly (see :meth:`ResidualBlock._flat_entries`), so a snapshot of a block nested
    ``d`` deep reads each inner layer's table once, not once per enclosing block.
    """

    def __init__(self, entries):
        super().__init__()
        self._owners = {}
        for flat_key, owner_table, owner_key in entries:
            OrderedDict.__setitem__(self, flat_key, owner_table[owner_key])
            self._owners[flat_key] = (owner_table, owner_key)

    def __setitem__(self, key, value):
        if key not in self._owners:
            raise KeyError(
                f"{key!r} is none of the inner layers' entries; they are: {', '.join(self._owners) or '(none yet)'}"
            )
        table, inner_key = self._owners[key]
        table[inner_key] = value
        OrderedDict.__setitem__(self, key, value)


def build_inner_layer(spec, where, backend):
    """A layer from a config table ``{name = ..., **options}``, or a layer object as it is."""
    if isinstance(spec, LayerProtocol) and not isinstance(spec, dict):
        return spec
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ConfigError(
            f'{where} must be a table like {{name = "conv2d", n_out = 16, kernel_shape = 3}}, got {spec!r}'
        )
    options = {key: value for key, value in spec.items() if key != "name"}
    try:
        return corenn.create("layer", spec["name"], backend, **options)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def describe(layer):
    """A layer's registered name, for messages (its class name when it has none)."""
    return getattr(layer, "name", type(layer).__name__)


class ResidualBlock(Layer, abc.ABC):
    """``Y = activation(S(X) + F(X))``: ``F`` is ``layers`` applied in order, ``S`` is the
    identity or the ``shortcut`` layer (a 1x1 ``conv2d`` with a stride, say, when ``F``
    changes the shape).

    The block only calls its inner layers and adds what they return, so it holds for every
    backend; a backend's ``residual`` subclasses it, naming its ``backend`` (on which the inner
    layers are built) and turning inputs into its arrays in ``_as_input``.

    ``layers`` and ``shortcut`` are config tables, built with ``corenn.create`` on this
    layer's backend (or layer objects). ``activation`` defaults to ``"relu"``, the residual
    network's block; ``"linear"`` gives the pre-activation variant's plain sum.

    The gradient reaches ``X`` along both paths: ``dL/dX = dF/dX^T dZ + dS/dX^T dZ``.

    The inner layers' ``parameters``, ``gradients`` and ``buffers`` appear as this layer's own,
    keyed ``"<position>.<key>"`` and ``"shortcut.<key>"`` (see :class:`FlatTable`), so the model
    saves, loads and updates them like any other layer's. Setting ``training`` sets it on every
    inner layer. Setting ``rng`` hands the very same generator to every inner layer: they draw
    from it in a fixed order (their weights at their first forward, dropout masks at each), so
    one generator's state decides all of them and restoring it resumes them all.

    The course's methods come from :class:`corenn.nn.layers.Layer` and act on the inner layers
    through the flat tables (``clear_gradients`` clears each inner layer).
    """

    name = "residual"
    example_input_shape = (4, 5)
    # what corenn plugins --check and corenn describe build it with
    example_options = {"layers": [{"name": "fully_connected", "n_out": 5, "activation": "tanh"}]}

    def __init__(self, layers, shortcut=None, activation="relu"):
        if isinstance(layers, (str, dict)) or not isinstance(layers, (list, tuple)) or not layers:
            raise ConfigError(
                "layers must be a non-empty list of layer tables, e.g. "
                '[{name = "conv2d", n_out = 16, kernel_shape = 3}, {name = "batch_norm"}], '
                f"got {layers!r}"
            )
        self.nesting_depth = check_nesting(layers, shortcut)
        self.layers = [
            build_inner_layer(spec, f"layers[{index}]", self.backend.name) for index, spec in enumerate(layers)
        ]
        self.shortcut = None if shortcut is None else build_inner_layer(shortcut, "shortcut", self.backend.name)
        self.activation = self._build_activation(activation)
        self.n_in = None
        self.n_out = None
        self.cache = OrderedDict()
        self._training = True
        self._rng = None
        self._input_shapes = {}  # inner layer's prefix -> its input's shape at the last forward

    def clear_gradients(self):
        for key in self.cache:
            self.cache[key] = []
        for _, layer in self._named_layers():
            layer.clear_gradients()

    def _build_activation(self, activation):
        return build_activation(activation, self.backend.name)

    def __repr__(self):
        activation = getattr(self.activation, "name", self.activation)
        return f"{type(self).__name__}(layers={self.layers!r}, shortcut={self.shortcut!r}, activation={activation!r})"

    def _named_layers(self):
        named = [(str(index), layer) for index, layer in enumerate(self.layers)]
        return named + ([("shortcut", self.shortcut)] if self.shortcut is not None else [])

    def _flat_entries(self, table_name):
        """``(flat_key, owner_table, owner_key)`` for every entry of the non-composite layers
        inside this block, at any depth, in order.

        Walked with an explicit stack: reading a nested block's table through its own
        ``parameters`` property at every level would read the innermost tables once per
        enclosing block and per access (the cost doubled with each level of nesting).
        """
        entries = []
        pending = [(f"{name}.", layer) for name, layer in reversed(self._named_layers())]
        while pending:
            prefix, layer = pending.pop()
            if isinstance(layer, ResidualBlock):
                pending.extend((f"{prefix}{name}.", inner) for name, inner in reversed(layer._named_layers()))
                continue
            table = getattr(layer, table_name, None) or {}
            entries.extend((f"{prefix}{key}", table, key) for key in table)
        return entries

    @property
    def parameters(self):
        return FlatTable(self._flat_entries("parameters"))

    @property
    def gradients(self):
        return FlatTable(self._flat_entries("gradients"))

    @property
    def buffers(self):
        return FlatTable(self._flat_entries("buffers"))

    @property
    def training(self):
        return self._training

    @training.setter
    def training(self, mode):
        self._training = bool(mode)
        for _, layer in self._named_layers():
            layer.training = self._training

    @property
    def rng(self):
        return self._rng

    @rng.setter
    def rng(self, generator):
        self._rng = generator
        for _, layer in self._named_layers():
            layer.rng = generator

    def _where(self, prefix):
        layer = self.shortcut if prefix == "shortcut" else self.layers[int(prefix)]
        position = "shortcut" if prefix == "shortcut" else f"layers[{prefix}]"
        return f"residual {position} ({describe(layer)})"

    def _run(self, prefix, method, value):
        try:
            return method(value)
        except ShapeError as exc:
            raise ShapeError(f"{self._where(prefix)}: {exc}") from exc
        except Exception as exc:  # a bug in an inner layer: noted, and the model notes this block in front
            if not isinstance(exc, CorennError):
                remember_component(
                    exc, self._blame(prefix, self.shortcut if prefix == "shortcut" else self.layers[int(prefix)])
                )
            raise

    def _forward(self, prefix, layer, X):
        self._input_shapes[prefix] = self._shape(X)
        return self._run(prefix, layer.forward, X)

    def _backward(self, prefix, layer, dY):
        """An inner layer's backward, checked as the model checks its own layers'."""
        dX = self._run(prefix, layer.backward, dY)
        check_backward(layer, self._input_shapes.get(prefix), dX, lambda: self._blame(prefix, layer))
        return dX

    def _blame(self, prefix, layer):
        """``residual layers[1] (layer_norm, from corenn-extras)``, for an inner layer's error."""
        position = "shortcut" if prefix == "shortcut" else f"layers[{prefix}]"
        return f"residual {position} ({layer_origin(describe(layer), self.backend.name)})"

    @abc.abstractmethod
    def _as_input(self, X):
        """``X`` (or a gradient) as this backend's floating-point array."""

    def _shape(self, array):
        return tuple(array.shape)

    def forward(self, X):
        X = self._as_input(X)
        if self._rng is None:
            self.rng = np.random.default_rng()  # one generator for all inner layers, as documented
        F = X
        for index, layer in enumerate(self.layers):
            F = self._forward(str(index), layer, F)
        S = X if self.shortcut is None else self._forward("shortcut", self.shortcut, X)
        if self._shape(F) != self._shape(S):
            shortcut = "the identity shortcut" if self.shortcut is None else f"the shortcut ({describe(self.shortcut)})"
            raise ShapeError(
                f"residual: its layers turn an input of shape {self._shape(X)} into shape {self._shape(F)}, "
                f"but {shortcut} gives shape {self._shape(S)}; the two are added, so they must match "
                "(give a shortcut that maps the input to the layers' output shape, e.g. "
                'shortcut = {name = "conv2d", n_out = <channels>, kernel_shape = 1, stride = <stride>})'
            )
        Z = S + F
        self.n_in = self._shape(X)[-1]
        self.n_out = self._shape(Z)[-1]
        self.cache["Z"] = Z
        return self.activation.forward(Z)

    def backward(self, dLdY):
        self.require_forward("Z")
        Z = self.cache["Z"]
        dLdY = self._as_input(dLdY)
        if self._shape(dLdY) != self._shape(Z):
            raise ShapeError(
                f"residual: the gradient for backward must have the output's shape {self._shape(Z)}, "
                f"got shape {self._shape(dLdY)}"
            )
        dZ = self.activation.backward(Z, dLdY)
        dF = dZ
        for index in reversed(range(len(self.layers))):
            dF = self._backward(str(index), self.layers[index], dF)
        dS = dZ if self.shortcut is None else self._backward("shortcut", self.shortcut, dZ)
        return dF + dS
