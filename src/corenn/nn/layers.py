"""Helpers for layer authors: the ``Layer`` base class with the course's API, and turning a
layer's ``activation`` and ``weight_init`` options into objects, the same way for every plugin.

A layer takes an activation as a registered name (``"relu"``), as a table of a name and the
activation's options (``{"name": "leaky_relu", "slope": 0.1}``, what a config's
``activation = { name = "leaky_relu", slope = 0.1 }`` gives) or as an object with
``forward(Z)`` / ``backward(Z, dY)``. Its weight initializer is a registered name, a table
(``{"name": "uniform", "low": -0.1, "high": 0.1}``) or a callable ``init(shape, rng)``; a
registered one's gain follows the layer's activation (its ``gain`` attribute, see
:func:`corenn.nn.initializers.calculate_gain`).
"""

import math
import numbers
from collections import OrderedDict

from corenn.backend import array_namespace, current_backend, device_of
from corenn.errors import ConfigError, CorennError, ShapeError
from corenn.nn.component import Component
from corenn.protocols import Activation as ActivationProtocol


class Layer(Component):
    """The course package's ``Layer``: the tables every layer has, and the methods the course's
    models and gradient checks call. Every layer derives from it, on every backend, and so
    should a plugin's (``corenn.testing.check_layer_conformance`` checks this API).

    A layer is written once: it works on the arrays of the backend it was built for
    (``self.backend``, a :class:`corenn.backend.Backend`; ``corenn.create("layer", name,
    "torch")`` builds one for torch, the course's ``FullyConnected(n_out=10,
    activation="relu")`` one for numpy), doing its
    bookkeeping with the array namespace (:func:`corenn.backend.array_namespace`) and its math
    with kernels declared beside it (see :mod:`corenn.kernels`), which return new arrays.

    A subclass sets its options in ``__init__`` (after ``super().__init__()``), makes its
    parameters at the first forward (the course names that method ``_init_parameters(X_shape)``;
    corenn's layers take ``_init_parameters(X_shape, dtype="float64", device=None)``, so the
    course's call still works) and implements ``forward(X)`` and ``backward(dLdY)`` (filling
    ``gradients``, returning dL/dX). What it calls of this class, its author's API:

    - :meth:`as_input` takes ``X`` in as the backend's floating array, on the parameters' device;
    - :meth:`init_weights` draws ``W`` from an initializer and makes a zero ``b``;
      :meth:`make_parameters` stores any other parameters; both make the zero gradients;
    - :meth:`activation_gradient` turns ``dL/dY`` into ``dL/dZ`` through the activation, checked
      against the cached ``Z``; :meth:`as_gradient` and :meth:`require_forward` are its parts,
      for a layer without an activation.

    ``example_input_shape`` and ``example_options`` (class attributes) are what ``corenn
    gradcheck`` and ``corenn plugins --check`` build and check the layer with; the
    author's guide is ``docs/plugins/layer.md``.
    """

    name = "layer"

    def __init__(self):
        self.activation = None
        self.n_in = None
        self.n_out = None
        self.rng = None  # a numpy Generator for the initial weights; None draws from fresh OS entropy
        self.parameters = OrderedDict()
        self.gradients = OrderedDict()
        self.cache = OrderedDict()

    def make_parameters(self, **arrays):
        """Store freshly made parameters, in the order given (weights ``W`` before bias ``b``),
        with zero gradients of the same keys, shapes and dtypes, as the course's layers have
        from the moment their parameters exist."""
        self.parameters.update(arrays)
        for key, value in arrays.items():
            self.gradients[key] = _zeros_like(value)

    def clear_gradients(self):
        """The course's reset after an update: every cache entry becomes an empty list and every
        gradient zeros (the tables keep their keys)."""
        for key in self.cache:
            self.cache[key] = []
        for key, value in self.gradients.items():
            self.gradients[key] = _zeros_like(value)

    def forward_with_param(self, param_name, X):
        """A function of one parameter's value: ``f(value)`` sets ``parameters[param_name]`` to
        it and returns ``forward(X)``. The course's gradient checks differentiate it."""
        if param_name not in self.parameters:
            if not self.parameters:
                raise CorennError(
                    f"{self.name}: forward_with_param({param_name!r}) before the layer has parameters: "
                    "call forward first (it makes them)"
                )
            raise CorennError(
                f"{self.name}: forward_with_param has no parameter {param_name!r}; the layer's parameters are: "
                f"{', '.join(self.parameters)}"
            )

        def forward_at(param_value):
            self.parameters[param_name] = param_value
            return self.forward(X)

        return forward_at

    def _get_parameters(self):
        return list(self.parameters.values())

    def _get_cache(self):
        return list(self.cache.values())

    def _get_gradients(self):
        return list(self.gradients.values())

    # Working on the backend's arrays, on the parameters' device.

    @property
    def device(self):
        """The device the parameters live on (``None`` before they are made, or for a layer
        without parameters)."""
        for value in self.parameters.values():
            return device_of(value)
        return None

    def to(self, device=None, dtype=None):
        """Move (or cast) the parameters and gradients; returns the layer.

        The cache is dropped, so ``backward`` needs a new ``forward`` first.
        """
        move = self.backend.move
        for table in (self.parameters, self.gradients):
            for key, value in table.items():
                table[key] = move(value, device=device, dtype=dtype)
        self.cache.clear()
        return self

    def as_input(self, X):
        """``X`` as a floating array of the layer's backend, on the parameters' device (an
        array of another library is converted and moved there; one of this backend on another
        device is an error, see :func:`check_same_device`)."""
        device = self.device
        X = self.as_float_on(X, device)
        if device is not None:
            check_same_device(self.name, X, device)
        return X

    def as_gradient(self, dLdY, device):
        """``dLdY`` as a floating array on the forward pass's ``device``."""
        dLdY = self.as_float_on(dLdY, device)
        check_same_device(f"{self.name} backward", dLdY, device)
        return dLdY

    def require_forward(self, key):
        """Refuse a ``backward`` whose forward pass left nothing under ``cache[key]``: none was
        run, or :meth:`clear_gradients` (which the course's ``model.update`` calls after every
        step) emptied the cache into ``[]`` since."""
        if key not in self.cache:
            raise CorennError(f"{self.name}: backward was called before any forward: call forward first")
        entry = self.cache[key]
        if isinstance(entry, list) and not entry:
            raise CorennError(
                f"{self.name}: backward was called after clear_gradients(), which empties the cache that backward "
                "reads (the course's model.update calls it after every step): backward needs a forward first"
            )

    def activation_gradient(self, dLdY, description=None):
        """dL/dZ for ``backward``: ``dLdY`` checked against the cached output ``Z`` (its shape,
        its device) and taken back through the activation, in ``Z``'s dtype."""
        self.require_forward("Z")
        Z = self.cache["Z"]
        dLdY = self.as_gradient(dLdY, device_of(Z))
        if tuple(dLdY.shape) != tuple(Z.shape):
            raise ShapeError(
                f"{description or self.name}: the gradient for backward must have the output's shape "
                f"{tuple(Z.shape)}, got shape {tuple(dLdY.shape)}"
            )
        dZ = self.activation.backward(Z, dLdY)
        return dZ if dZ.dtype == Z.dtype else array_namespace(Z).astype(dZ, Z.dtype)

    def init_weights(self, shape, initializer, weight_init, dtype, device=None):
        """``W`` of ``shape`` from ``initializer`` drawing on ``self.rng`` (numpy arrays, so a
        seed gives the same weights on every backend) and a zero ``b`` of shape ``(1, shape[-1])``,
        both of ``dtype`` on ``device``, with their zero gradients."""
        import numpy as np  # not at import time: the CLI imports this module to start

        rng = self.rng if self.rng is not None else np.random.default_rng()
        W = np.asarray(initializer(tuple(shape), rng))
        if W.shape != tuple(shape):
            raise ConfigError(
                f"{self.name}: weight_init {weight_init!r} made weights of shape {W.shape}, expected {tuple(shape)}"
            )
        W = self.backend.asarray(W, dtype=dtype, device=device)
        b = self.backend.asarray(np.zeros((1, shape[-1])), dtype=dtype, device=device)
        self.make_parameters(W=W, b=b)


class ProductLayer(Layer):
    """A layer whose work is a large product (a convolution, a matrix product), which it can
    run in another dtype than its input's: ``compute_dtype``. ``None`` (the default) means the
    input's dtype; on the torch backend ``"bfloat16"`` runs the products on bfloat16 copies of
    the input and the weights and casts the results back, so activations, normalisation, the
    loss, the parameters and the optimizer's state stay in the run's dtype (mixed precision).
    Only these layers have the attribute, so ``Sequential.set_compute_dtype`` reaches them alone."""

    def __init__(self):
        super().__init__()
        self._compute_dtype = None

    @property
    def compute_dtype(self):
        """The backend dtype the layer's products run in; ``None``: the input's dtype."""
        return self._compute_dtype

    @compute_dtype.setter
    def compute_dtype(self, dtype):
        try:
            self._compute_dtype = self.backend.compute_dtype(dtype)
        except ConfigError as exc:
            raise type(exc)(f"{self.name}: {exc}") from exc

    def _working_dtype(self, dtype):
        """The dtype of the products for inputs of ``dtype``."""
        return dtype if self._compute_dtype is None else self._compute_dtype


class Activation(Component):
    """Base of the activations: calling one is its ``forward``, as in the course package
    (``relu(Z)``). A subclass implements ``forward(Z)`` and ``backward(Z, dY)``, with the array
    namespace of ``Z`` (and kernels declared beside it where the backends differ), taking its
    inputs in through ``self.backend.as_float_array``."""

    def __call__(self, Z):
        return self.forward(Z)


def _zeros_like(value):
    """Zeros of ``value``'s shape, dtype and device."""
    return array_namespace(value).zeros_like(value)


def check_same_device(component, array, expected_device):
    """Raise when an input is on another device than the component's parameters (or than
    the forward pass that ``backward`` follows).

    Moving it silently would hide a host-to-device copy in every step; the caller moves its
    batches (or the component, with ``.to(device)``) once instead.
    """
    actual = device_of(array)
    if str(actual) != str(expected_device):
        raise CorennError(
            f"{component}: the input is on {actual} but the layer works on "
            f"{expected_device}; move the batch with .to({str(expected_device)!r}) or the layer "
            f"with layer.to({str(actual)!r})"
        )


def component_table(value, option, example):
    """``(name, options)`` of a name or a ``{name = ..., **options}`` table given as ``option``;
    ``None`` for anything else (an object the caller checks itself)."""
    if isinstance(value, str):
        return value, {}
    if not isinstance(value, dict):
        return None
    options = dict(value)
    name = options.pop("name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(
            f"{option} as a table needs the registered name of the component, such as {example}; got {value!r}"
        )
    return name, options


def build_activation(activation, backend=None):
    """An activation object from its registered name or its table, or the object itself."""
    from corenn.plugins import create

    backend = backend or current_backend()
    table = component_table(activation, "activation", '{ name = "leaky_relu", slope = 0.1 }')
    if table is not None:
        return create("activation", table[0], backend, **table[1])
    if not isinstance(activation, ActivationProtocol):
        raise ConfigError(
            "activation must be an activation name (see `corenn plugins`), a table such as "
            '{ name = "leaky_relu", slope = 0.1 }, or an object with forward(Z) and backward(Z, dY), '
            f"got {activation!r}"
        )
    return activation


def activation_name(activation):
    """The registered name of an activation object (its ``name``, else its class name)."""
    return getattr(activation, "name", type(activation).__name__.lower())


def build_initializer(weight_init, activation, backend=None):
    """``init(shape, rng)`` from a registered initializer's name or table, its gain chosen for
    the layer's ``activation`` (an object, a name or a table), or the callable itself."""
    from corenn.plugins import create

    backend = backend or current_backend()
    table = component_table(weight_init, "weight_init", '{ name = "uniform", low = -0.1, high = 0.1 }')
    if table is not None:
        name, options = table
        if "activation" in options:
            raise ConfigError(
                "weight_init has no option 'activation': the gain follows the layer's own activation; "
                "set gain = <number> to choose another"
            )
        if activation is None or (
            not isinstance(activation, (str, dict)) and isinstance(activation, ActivationProtocol)
        ):
            activation_object = activation
        else:
            activation_object = build_activation(activation, backend)
        try:
            return create("initializer", name, backend, activation=activation_object, **options)
        except ConfigError as exc:
            raise type(exc)(f"weight_init: {exc}") from exc
    if not callable(weight_init):
        raise ConfigError(
            "weight_init must be an initializer name (see `corenn plugins`), a table such as "
            f'{{ name = "uniform", low = -0.1, high = 0.1 }}, or a callable init(shape, rng), got {weight_init!r}'
        )
    return weight_init


# Option checks of layers that both backends implement, so the two give the same errors.


def checked_momentum(momentum):
    """batch_norm's ``momentum``: a number in [0, 1]."""
    if isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0.0 <= momentum <= 1.0:
        raise ConfigError(
            f"momentum must be a number in [0, 1] (the weight of each batch in the running statistics), got {momentum!r}"
        )
    return float(momentum)


def checked_epsilon(epsilon):
    """batch_norm's ``epsilon``: a finite number > 0."""
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not 0.0 < epsilon < float("inf"):
        raise ConfigError(f"epsilon must be a finite number > 0 (added to the variance), got {epsilon!r}")
    return float(epsilon)


def checked_scale(scale):
    """batch_norm's ``scale``: true or false (a numpy bool too)."""
    import numpy as np  # not at import time: the CLI imports this module to start

    if not isinstance(scale, (bool, np.bool_)):
        raise ConfigError(
            f"scale must be true or false (whether the layer learns a per-channel scale W), got {scale!r}"
        )
    return bool(scale)


def checked_factor(factor):
    """The ``scale`` layer's ``factor``: required, finite and not 0."""
    if factor is None:
        raise ConfigError(
            "the option factor is required: a finite number other than 0 (what the input is multiplied by)"
        )
    if isinstance(factor, bool) or not isinstance(factor, numbers.Real) or not math.isfinite(factor) or factor == 0:
        raise ConfigError(
            f"factor must be a finite number other than 0 (what the input is multiplied by), got {factor!r}"
        )
    return float(factor)


FLATTEN_KEEP_DIMS = ("first", "last", -1)


def checked_keep_dim(keep_dim):
    """flatten's ``keep_dim``: ``"first"``, ``"last"`` or ``-1`` (the course's three)."""
    if isinstance(keep_dim, bool) or keep_dim not in FLATTEN_KEEP_DIMS:
        raise ConfigError(
            'keep_dim must be "first" (m, ...) -> (m, -1), "last" (..., n) -> (-1, n), or -1 '
            f"(everything in one row, (1, -1)), got {keep_dim!r}"
        )
    return keep_dim


def flattened_shape(shape, keep_dim):
    """The shape ``flatten`` turns an input of ``shape`` into, for a checked ``keep_dim``."""
    if keep_dim == "first":
        return (shape[0], math.prod(shape[1:]))
    if keep_dim == "last":
        return (math.prod(shape[:-1]), shape[-1])
    return (1, math.prod(shape))
