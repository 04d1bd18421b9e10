"""Conformance checks: a component behaves as the protocols say and its gradients are right.

Each check builds or takes a component, runs it on random inputs and raises ``AssertionError``
naming what is wrong: the protocol's attributes and the course's methods, lazy parameters,
shapes and dtypes (float64 and float32), and a finite-difference check of every gradient at
random parameters and inputs, on numpy and on every other installed backend the component is
registered for (all of them for one registered for ``"any"``). A backward of the right shape
but the wrong values passes every shape check; only the finite differences catch it.
"""

import copy

import numpy as np

from corenn.backend import building_for
from corenn.errors import PluginError
from corenn.protocols import Activation, Layer, Loss
from corenn.testing.gradients import (
    DEFAULT_TOLERANCE,
    check_loss_gradients,
    example_classification_batch,
    gradient_errors,
)


def _require(condition, message):
    if not condition:
        raise AssertionError(message)


def check_layer_conformance(make_layer, input_shape=None, *, seed=0, tolerance=DEFAULT_TOLERANCE, backends=None):
    """Check that ``make_layer()`` builds a layer that behaves as the protocol says, and that its
    gradients are right.

    Checks: the protocol's attributes and the course's ``Layer`` methods (see
    :func:`check_course_layer_api`); parameters made lazily at the first forward, with zero
    gradients of the same keys, shapes and dtypes from then on; output batch size and dtype
    (float64 and float32); ``backward`` returning an array of the input's shape; a second batch
    of another size; then, on each of ``backends`` (default: see :func:`conformance_backends`),
    a layer made there by ``make_layer()`` passes a finite-difference check of dL/dX and of
    every parameter gradient within ``tolerance``, at random parameters and inputs (see
    :func:`corenn.testing.check_layer_gradients`). ``input_shape`` defaults to the layer's
    ``example_input_shape``, else ``(4, 5)``. Raises ``AssertionError`` naming what is wrong.
    """
    rng = np.random.default_rng(seed)
    if input_shape is None:
        input_shape = tuple(getattr(make_layer(), "example_input_shape", None) or (4, 5))
    for dtype in (np.float64, np.float32):
        layer = make_layer()
        name = type(layer).__name__
        _require(isinstance(layer, Layer), f"{name} lacks the Layer protocol's attributes")
        missing = [method for method in COURSE_LAYER_METHODS if not callable(getattr(layer, method, None))]
        _require(
            not missing, f"{name} lacks the course's Layer methods {missing} (derive it from corenn.nn.layers.Layer)"
        )
        _require(not layer.parameters, f"{name} has parameters before its first forward (they must be lazy)")
        X = rng.standard_normal(input_shape).astype(dtype)
        Y = layer.forward(X)
        _require(Y.shape[0] == X.shape[0], f"{name}: output batch {Y.shape[0]} != input batch {X.shape[0]}")
        _require(Y.dtype == dtype, f"{name}: {np.dtype(dtype)} input gave {Y.dtype} output")
        _require(layer.n_in is not None, f"{name}: n_in is not set after the first forward")
        _require_zero_gradients(layer, f"{name}, right after its parameters were made,")
        dX = layer.backward(np.ones_like(Y))
        _require(dX.shape == X.shape, f"{name}: backward returned shape {dX.shape}, input was {X.shape}")
        _require(
            list(layer.gradients) == list(layer.parameters),
            f"{name}: gradient keys {list(layer.gradients)} != parameter keys {list(layer.parameters)}",
        )
        for key, param in layer.parameters.items():
            grad = layer.gradients[key]
            _require(grad.shape == param.shape, f"{name}: gradient {key!r} {grad.shape} != parameter {param.shape}")
            _require(param.dtype == dtype, f"{name}: parameter {key!r} is {param.dtype} for {np.dtype(dtype)} input")
        other_batch = (input_shape[0] + 1, *input_shape[1:])
        Y2 = layer.forward(rng.standard_normal(other_batch).astype(dtype))
        _require(Y2.shape[0] == other_batch[0], f"{name}: a batch of {other_batch[0]} gave {Y2.shape[0]} outputs")
    check_course_layer_api(make_layer(), rng.standard_normal(input_shape))
    for backend in conformance_backends("layer", layer, backends):
        with building_for(backend):
            built = make_layer()
        _, errors, failure = gradient_errors("layer", built, input_shape=input_shape, seed=seed)
        _require(failure is None, f"{_label(built)} on {backend}: {failure}")
        _require_right_gradients(built, backend, errors, tolerance)


COURSE_LAYER_METHODS = ("clear_gradients", "forward_with_param", "_get_parameters", "_get_cache", "_get_gradients")


def _require_zero_gradients(layer, where):
    _require(
        list(layer.gradients) == list(layer.parameters),
        f"{where} has gradient keys {list(layer.gradients)}, not the parameter keys {list(layer.parameters)}",
    )
    for key, param in layer.parameters.items():
        grad = np.asarray(layer.gradients[key])
        param = np.asarray(param)
        _require(
            grad.shape == param.shape and grad.dtype == param.dtype and not grad.any(),
            f"{where} has gradient {key!r} {grad.shape} {grad.dtype} (zero: {not grad.any()}); the course's "
            f"layers start from zeros of the parameter's shape {param.shape} and dtype {param.dtype}",
        )


def check_course_layer_api(layer, X):
    """Check the course package's ``Layer`` methods on a fresh ``layer`` and an input ``X``.

    ``forward_with_param(key, X)(value)`` sets the parameter and gives ``forward(X)`` at it;
    ``_get_parameters()``, ``_get_cache()`` and ``_get_gradients()`` list the tables' values in
    key order; ``clear_gradients()`` zeroes every gradient and empties every cache entry
    (``[]``), keeping the keys. Raises ``AssertionError`` naming what is wrong.
    """
    name = type(layer).__name__
    layer.forward(X)  # makes the parameters (and draws them from the layer's generator)

    def same_randomness(function, argument):
        """``function(argument)`` with the layer's generator reset, so a dropout mask repeats."""
        if hasattr(layer, "rng"):
            layer.rng = np.random.default_rng(0)
        return np.array(function(argument))

    Y = same_randomness(layer.forward, X)
    for key, param in list(layer.parameters.items()):
        value = np.asarray(param).copy()
        forward_at = layer.forward_with_param(key, X)
        _require(callable(forward_at), f"{name}.forward_with_param({key!r}, X) did not return a function")
        moved = same_randomness(forward_at, value + 0.5)
        _require(
            np.array_equal(np.asarray(layer.parameters[key]), value + 0.5),
            f"{name}.forward_with_param({key!r}, X)(value) did not set parameters[{key!r}] to value",
        )
        restored = same_randomness(forward_at, value)
        _require(
            np.allclose(restored, Y),
            f"{name}.forward_with_param({key!r}, X) at the original value differs from forward(X)",
        )
        _require(moved.shape == Y.shape, f"{name}.forward_with_param({key!r}, X) changed the output's shape")
    layer.forward(X)
    layer.backward(np.ones_like(Y))
    for method, table in (("_get_parameters", "parameters"), ("_get_cache", "cache"), ("_get_gradients", "gradients")):
        values = getattr(layer, method)()
        expected = list(getattr(layer, table).values())
        _require(
            isinstance(values, list)
            and len(values) == len(expected)
            and all(
                a is b or np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(values, expected, strict=True)
            ),
            f"{name}.{method}() is not the list of {table}' values in key order",
        )
    cache_keys = list(layer.cache)
    layer.clear_gradients()
    _require_zero_gradients(layer, f"{name}, after clear_gradients(),")
    _require(
        list(layer.cache) == cache_keys and all(isinstance(v, list) and not v for v in layer.cache.values()),
        f"{name}.clear_gradients() did not leave every cache entry an empty list (keys {cache_keys})",
    )


def check_activation_conformance(activation, shape=(4, 5), *, seed=0, tolerance=DEFAULT_TOLERANCE, backends=None):
    """Check an activation's protocol, shapes and dtype preservation, and its gradient: a
    finite-difference check of ``backward`` at random inputs within ``tolerance``, on each of
    ``backends`` (default: see :func:`conformance_backends`; the activation is copied onto
    each, as the options it holds are all it is)."""
    name = type(activation).__name__
    _require(isinstance(activation, Activation), f"{name} lacks forward(Z) / backward(Z, dY)")
    for dtype in (np.float64, np.float32):
        Z = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
        Y = activation.forward(Z)
        _require(Y.shape == Z.shape, f"{name}: forward changed shape {Z.shape} to {Y.shape}")
        _require(Y.dtype == dtype, f"{name}: {np.dtype(dtype)} input gave {Y.dtype} output")
        dZ = activation.backward(Z, np.ones_like(Y))
        _require(dZ.shape == Z.shape, f"{name}: backward returned {dZ.shape} for Z of {Z.shape}")
        _require(
            callable(activation) and np.array_equal(np.asarray(activation(Z)), np.asarray(Y)),
            f"{name}: calling it is not its forward (derive it from corenn.nn.layers.Activation)",
        )
    for backend in conformance_backends("activation", activation, backends):
        on_backend = on_another_backend(activation, backend)
        _, errors, _ = gradient_errors("activation", on_backend, input_shape=shape, seed=seed)
        _require_right_gradients(on_backend, backend, errors, tolerance)


def check_loss_conformance(loss, n_samples=4, n_classes=3, *, seed=0, tolerance=DEFAULT_TOLERANCE, backends=None):
    """Check a loss: a finite scalar mean over the batch, a gradient of the prediction's shape,
    and that gradient's values: a finite-difference check of ``backward`` (dL/dY_hat) within
    ``tolerance`` on a random batch of one-hot targets and probabilities, on each of
    ``backends`` (default: see :func:`conformance_backends`)."""
    name = type(loss).__name__
    _require(isinstance(loss, Loss), f"{name} lacks forward(Y, Y_hat) / backward(Y, Y_hat)")
    Y, Y_hat = example_classification_batch(n_samples, n_classes)
    value = loss.forward(Y, Y_hat)
    _require(np.ndim(value) == 0 and np.isfinite(value), f"{name}: forward gave {value!r}, not a finite scalar")
    doubled = loss.forward(np.concatenate([Y, Y]), np.concatenate([Y_hat, Y_hat]))
    _require(np.isclose(doubled, value), f"{name}: forward is not a mean over the batch ({doubled} != {value})")
    _require(loss.backward(Y, Y_hat).shape == Y_hat.shape, f"{name}: backward shape differs from Y_hat's")
    _require(
        callable(loss) and np.asarray(loss(Y, Y_hat)) == np.asarray(value),
        f"{name}: calling it is not its forward (derive it from corenn.nn.losses.Loss)",
    )
    for backend in conformance_backends("loss", loss, backends):
        on_backend = on_another_backend(loss, backend)
        errors = check_loss_gradients(on_backend, *example_classification_batch(n_samples, n_classes, seed=seed + 1))
        _require_right_gradients(on_backend, backend, errors, tolerance)


def conformance_backends(kind, component, backends=None):
    """The backends a conformance check runs ``component`` on: ``backends`` when given, else
    numpy and every other installed backend its registration serves (its class registered under
    its ``name``, for ``"any"`` or for that backend), whose library imports. A component that
    is not registered (a class under test before its plugin is installed) is checked on numpy."""
    if backends is not None:
        return tuple(backends)
    from corenn.plugins import get_backend, get_registry

    registry = get_registry()
    found = ["numpy"]
    for entry in registry.entries(kind):
        if entry.name != getattr(component, "name", None):
            continue
        try:
            factory = entry.load()
        except PluginError:
            continue
        if not (isinstance(factory, type) and isinstance(component, factory)):
            continue
        found += registry.backends() if entry.backend == "any" else [entry.backend]
    usable = []
    for backend in dict.fromkeys(found):
        try:
            get_backend(backend)  # imports its library: one that is not installed is not checked
        except Exception:  # a backend that cannot load is not there to check on
            continue
        usable.append(backend)
    return tuple(usable)


def on_another_backend(component, backend):
    """``component`` itself when it is ``backend``'s, else a copy of it made ``backend``'s: an
    activation or a loss is its options, so a copy with another backend object is that component
    built for that backend."""
    from corenn.plugins import get_backend

    own = getattr(component, "backend", None)
    if own is None or own.name == backend:
        return component
    moved = copy.copy(component)
    moved.backend = get_backend(backend)
    return moved


def _label(component):
    name = getattr(component, "name", None)
    cls = type(component).__name__
    return f"{cls} ({name})" if name and name != cls else cls


def _require_right_gradients(component, backend, errors, tolerance):
    """An ``AssertionError`` naming the first gradient whose finite-difference error is above ``tolerance``."""
    for key, error in errors.items():
        _require(
            error <= tolerance,
            f"{_label(component)} on {backend}: dL/d{key} differs from finite differences by a relative error of "
            f"{error:.3e} (tolerance {tolerance:g}) at random parameters and inputs: its backward computes a wrong "
            "gradient (of the right shape)",
        )
