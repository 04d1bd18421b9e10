"""Comparing backends: the same component, weights and inputs on numpy and on another backend.

Agreement alone would pass a backward that is wrong the same way on every backend (a padded
dL/dX, a bias gradient of the wrong shape), so each backend's arrays are first held to the
shapes the inputs and parameters give them; :mod:`corenn.testing.conformance` checks the values
against finite differences.
"""

import unittest

import attrs
import numpy as np

from corenn.backend import device_of
from corenn.nn.backward_checks import backward_problem
from corenn.testing.gradients import PERTURBATION_STREAM, example_classification_batch, projection, relative_error

CROSS_BACKEND_TOLERANCES = {"float64": 1e-10, "float32": 1e-5}
"""The default largest norm-wise relative error between backends, by dtype."""


class BackendNotInstalled(unittest.SkipTest):
    """A backend asked for by :func:`check_across_backends` is not installed. It derives from
    ``unittest.SkipTest``, so pytest (and unittest) report the test as skipped, with this
    message, instead of failed; outside a test runner it is an exception that says so."""


@attrs.frozen
class CrossBackendReport:
    """The outcome of :func:`check_across_backends`.

    ``errors[backend][array]`` is the norm-wise relative error (:func:`relative_error`) of one
    array of ``backend`` against the same array of ``reference`` (the first backend): the
    output, ``dL/dX`` (``dL/dZ``, ``dL/dY_hat``), each ``dL/d<param>`` and each initial
    parameter. ``failures`` lists what made a comparison impossible (shapes, dtypes, parameter
    keys that differ).
    """

    kind: str
    name: str
    options: dict
    dtype: str
    reference: str
    errors: dict
    tolerance: float
    failures: tuple = ()

    @property
    def max_error(self):
        return max((error for table in self.errors.values() for error in table.values()), default=0.0)

    @property
    def passed(self):
        return not self.failures and self.max_error <= self.tolerance

    def as_dict(self):
        return attrs.asdict(self) | {"max_error": self.max_error, "passed": self.passed}

    def __str__(self):
        options = f" {self.options}" if self.options else ""
        lines = [f"{self.kind} {self.name}{options} ({self.dtype}) against the {self.reference} backend:"]
        for backend, table in self.errors.items():
            for array, error in table.items():
                verdict = "ok" if error <= self.tolerance else f"> {self.tolerance:g}"
                lines.append(f"  {backend:<8} {array:<16} relative error {error:.3e}  {verdict}")
        lines.extend(f"  failure: {failure}" for failure in self.failures)
        lines.append("passed" if self.passed else "FAILED")
        return "\n".join(lines)

    def __repr__(self):
        # pytest shows an assertion message by its repr: `assert report.passed, report` then reads as the report
        return str(self)


def check_across_backends(
    kind,
    name,
    options=None,
    inputs=None,
    *,
    backends=("numpy", "torch"),
    dtype="float64",
    input_shape=None,
    seed=0,
    tolerance=None,
    perturb=True,
):
    """Run one registered layer, activation, loss or optimizer on several backends and compare
    every array.

    Each backend gets the component built from the same ``options`` and the same inputs, cast to
    ``dtype`` (``"float64"`` or ``"float32"``), through the backend object (``asarray`` in,
    ``to_numpy`` out), so this module imports no backend library itself. Nothing is written in
    place: perturbed parameters are assigned as new arrays.

    - ``layer``: ``inputs`` is ``X`` (default: standard normal of ``input_shape``, the layer's
      ``example_input_shape`` or ``(4, 5)``). Every layer draws its weights from a numpy
      Generator of ``seed``, so all start alike (compared as ``W (initial)``, ...); with
      ``perturb`` (the default) the parameters are then moved to the same random values on every
      backend (see :func:`corenn.testing.perturb_parameters`). Compared: the output, ``dL/dX``
      and every parameter gradient for one random upstream gradient. A layer fitted to data
      (``fit``) is fitted to ``X`` first.
    - ``activation``: ``inputs`` is ``Z``; compared: ``forward(Z)`` and ``backward(Z, G)``.
    - ``loss``: ``inputs`` is ``(Y, Y_hat)`` (default: a one-hot batch and softmax
      probabilities of ``input_shape``, ``(4, 3)``); compared: the value and ``dL/dY_hat``.
    - ``optimizer``: ``inputs`` is a dict of parameters by name (default: ``"0.W"`` (5, 3) and
      ``"0.b"`` (1, 3)); each backend takes :data:`OPTIMIZER_STEPS` steps on them with the same
      random gradients and learning rates (``lr`` set before each, as the trainer does);
      compared: each parameter after each step and the final ``state_dict()``.

    Before comparing, each backend's arrays are held to the shapes the inputs give them: a
    layer's output keeps the batch, ``dL/dX`` has ``X``'s shape and each parameter gradient its
    parameter's shape and dtype; ``dL/dZ`` has ``Z``'s shape; a loss is a scalar and
    ``dL/dY_hat`` has ``Y_hat``'s shape; an optimizer returns a parameter of its shape and dtype.
    A wrong one is a failure even where every backend gets it wrong the same way.

    The first of ``backends`` is the reference. A backend that is not installed (no plugin
    registers it, or its library cannot be imported) raises :class:`BackendNotInstalled`, which
    test runners report as a skip. ``tolerance`` defaults to
    :data:`CROSS_BACKEND_TOLERANCES` of the dtype. Returns a :class:`CrossBackendReport`::

        report = check_across_backends("activation", "swish", {"beta": 1.5})
        assert report.passed, report
    """
    from corenn.errors import ConfigError

    if kind not in RUNNERS:
        raise ConfigError(f"check_across_backends compares a layer, activation, loss or optimizer, not a {kind!r}")
    backends = tuple(backends)
    if len(backends) < 2 or len(set(backends)) != len(backends):
        raise ConfigError(f"check_across_backends needs two or more different backends, got {backends!r}")
    dtype = np.dtype(dtype)
    if dtype.name not in CROSS_BACKEND_TOLERANCES:
        raise ConfigError(f"check_across_backends compares float64 or float32 arrays, got dtype {dtype.name!r}")
    tolerance = CROSS_BACKEND_TOLERANCES[dtype.name] if tolerance is None else float(tolerance)
    options = dict(options or {})
    for backend in backends:
        _require_installed(backend)
    run = RUNNERS[kind]
    results, failures = {}, []
    for backend in backends:
        results[backend], wrong_shapes = run(
            name, options, inputs, backend=backend, dtype=dtype, shape=input_shape, seed=seed, perturb=perturb
        )
        failures.extend(f"{backend} {problem}" for problem in wrong_shapes)
    reference, *others = backends
    errors = {}
    for backend in others:
        errors[backend] = {}
        for array, expected in results[reference].items():
            actual = results[backend].get(array)
            if actual is None:
                failures.append(f"{backend} has no {array} (the {reference} backend has)")
            elif actual.shape != expected.shape:
                failures.append(f"{backend} {array}: shape {actual.shape}, {reference} has {expected.shape}")
            elif actual.dtype != expected.dtype:
                failures.append(f"{backend} {array}: dtype {actual.dtype}, {reference} has {expected.dtype}")
            else:
                errors[backend][array] = relative_error(actual, expected)
        failures.extend(
            f"{backend} has {array}, which the {reference} backend has not"
            for array in results[backend]
            if array not in results[reference]
        )
    return CrossBackendReport(kind, name, options, dtype.name, reference, errors, tolerance, tuple(failures))


def _require_installed(backend):
    """The backend object of ``backend``; :class:`BackendNotInstalled` when no plugin registers
    it or its library cannot be imported."""
    from corenn.errors import ConfigError, PluginError
    from corenn.plugins import get_backend, get_registry

    installed = get_registry().backends()
    if backend not in installed:
        raise BackendNotInstalled(
            f"backend {backend!r} is not installed (no plugin registers it); installed backends: {', '.join(installed)}"
        )
    try:
        return get_backend(backend)  # imports the backend's library
    except (PluginError, ConfigError) as exc:
        raise BackendNotInstalled(f"backend {backend!r} is registered but cannot load: {exc}") from exc


def _on_backend(backend, array, dtype):
    return backend.asarray(np.asarray(array, dtype=dtype), dtype=dtype)


def _shape(array):
    return tuple(array.shape)


def _run_layer(name, options, X, *, backend, dtype, shape, seed, perturb):
    from corenn.plugins import create

    layer = create("layer", name, backend, **options)
    backend_object = layer.backend
    if X is None:
        X = np.random.default_rng(seed).standard_normal(tuple(shape or getattr(layer, "example_input_shape", (4, 5))))
    X = _on_backend(backend_object, X, dtype)
    if hasattr(layer, "rng"):
        layer.rng = np.random.default_rng(seed)
    if callable(getattr(layer, "fit", None)):
        layer.fit(X)
    layer.forward(X)  # makes lazy parameters
    arrays = {f"{key} (initial)": backend_object.to_numpy(value) for key, value in layer.parameters.items()}
    if perturb:
        rng = np.random.default_rng([seed, PERTURBATION_STREAM])
        for key, value in list(layer.parameters.items()):
            array = backend_object.to_numpy(value).astype(np.float64)
            rms = float(np.sqrt(np.mean(np.square(array)))) if array.size else 0.0
            moved = array + rng.normal(scale=0.5 * rms if rms > 0 else 0.1, size=array.shape)
            layer.parameters[key] = backend_object.asarray(moved, dtype=value.dtype, device=device_of(value))
    if hasattr(layer, "rng"):
        layer.rng = np.random.default_rng(seed)  # the same draws (a dropout mask) on every backend
    Y = layer.forward(X)
    arrays["output"] = backend_object.to_numpy(Y)
    G = projection(arrays["output"].shape, seed).astype(dtype)
    dX = layer.backward(backend_object.asarray(G, dtype=dtype, device=device_of(Y)))
    wrong = []
    if arrays["output"].ndim == 0 or arrays["output"].shape[0] != X.shape[0]:
        wrong.append(f"output: shape {arrays['output'].shape} for an input of batch {X.shape[0]} {_shape(X)}")
    problem = backward_problem(layer, _shape(X), dX)
    if problem is not None:
        wrong.append(problem)
    arrays["dL/dX"] = backend_object.to_numpy(dX) if dX is not None else None
    if arrays["dL/dX"] is None:
        del arrays["dL/dX"]
    arrays |= {f"dL/d{key}": backend_object.to_numpy(value) for key, value in layer.gradients.items()}
    return arrays, wrong


def _run_activation(name, options, Z, *, backend, dtype, shape, seed, perturb):
    from corenn.plugins import create

    activation = create("activation", name, backend, **options)
    backend_object = activation.backend
    if Z is None:
        Z = np.random.default_rng(seed).standard_normal(tuple(shape or (4, 5)))
    Z = _on_backend(backend_object, Z, dtype)
    Y = backend_object.to_numpy(activation.forward(Z))
    G = _on_backend(backend_object, projection(Y.shape, seed), dtype)
    dZ = backend_object.to_numpy(activation.backward(Z, G))
    wrong = [
        f"{what}: shape {array.shape}; it must have the shape of Z, {_shape(Z)}"
        for what, array in (("output", Y), ("dL/dZ", dZ))
        if array.shape != _shape(Z)
    ]
    return {"output": Y, "dL/dZ": dZ}, wrong


def _run_loss(name, options, pair, *, backend, dtype, shape, seed, perturb):
    from corenn.plugins import create

    loss = create("loss", name, backend, **options)
    backend_object = loss.backend
    Y, Y_hat = pair if pair is not None else example_classification_batch(*(shape or (4, 3)), seed=seed)
    Y, Y_hat = _on_backend(backend_object, Y, dtype), _on_backend(backend_object, Y_hat, dtype)
    value = np.asarray(backend_object.to_numpy(loss.forward(Y, Y_hat))).astype(dtype)
    gradient = backend_object.to_numpy(loss.backward(Y, Y_hat))
    wrong = []
    if value.ndim != 0:
        wrong.append(f"value: shape {value.shape}; a loss is the batch's mean, a scalar")
    if gradient.shape != _shape(Y_hat):
        wrong.append(f"dL/dY_hat: shape {gradient.shape}; it must have the shape of Y_hat, {_shape(Y_hat)}")
    return {"value": value, "dL/dY_hat": gradient}, wrong


OPTIMIZER_STEPS = 3
OPTIMIZER_PARAMETER_SHAPES = {"0.W": (5, 3), "0.b": (1, 3)}
GRADIENT_STREAM = 0x6AAD


def optimizer_steps(parameters, seed, steps=OPTIMIZER_STEPS):
    """``[(lr factor, {name: gradient}), ...]``: what the optimizer checks feed an optimizer,
    float64 numpy arrays drawn from ``seed``; the factor (1, then 0.5, 0.25, ...) multiplies
    the optimizer's own ``lr``, as a scheduler would change it between steps."""
    rng = np.random.default_rng([seed, GRADIENT_STREAM])
    return [
        (0.5**step, {key: rng.standard_normal(np.shape(value)) for key, value in parameters.items()})
        for step in range(steps)
    ]


def _run_optimizer(name, options, parameters, *, backend, dtype, shape, seed, perturb):
    from corenn.plugins import create

    optimizer = create("optimizer", name, backend, **options)
    backend_object = optimizer.backend
    if parameters is None:
        rng = np.random.default_rng(seed)
        parameters = {key: rng.standard_normal(size) for key, size in OPTIMIZER_PARAMETER_SHAPES.items()}
    current = {key: _on_backend(backend_object, value, dtype) for key, value in parameters.items()}
    lr = optimizer.lr
    arrays, wrong = {}, []
    for step, (factor, gradients) in enumerate(optimizer_steps(parameters, seed), start=1):
        optimizer.lr = lr * factor
        for key, gradient in gradients.items():
            updated = optimizer.update(key, current[key], _on_backend(backend_object, gradient, dtype))
            if _shape(updated) != _shape(current[key]) or updated.dtype != current[key].dtype:
                wrong.append(
                    f"{key} after step {step}: update returned shape {_shape(updated)} {updated.dtype}; it must "
                    f"return the parameter's shape {_shape(current[key])} and dtype {current[key].dtype}"
                )
            current[key] = updated
            arrays[f"{key} after step {step}"] = backend_object.to_numpy(updated)
    for key, value in optimizer.state_dict().items():
        if hasattr(value, "shape"):
            arrays[f"state {key}"] = np.asarray(value)
    return arrays, wrong


RUNNERS = {"layer": _run_layer, "activation": _run_activation, "loss": _run_loss, "optimizer": _run_optimizer}
