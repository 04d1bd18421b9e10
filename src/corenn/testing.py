"""Checks for component authors: finite-difference gradients, protocol conformance, agreement across backends.

Plugin authors import this in their own tests::

    from corenn.testing import check_layer_gradients, check_layer_conformance

    def test_my_layer_gradients():
        errors = check_layer_gradients(MyLayer(n_out=3), np.random.default_rng(0).normal(size=(4, 5)))
        assert max(errors.values()) < 1e-6

Relative errors are norm-wise: ``||analytic - numeric|| / (||analytic|| + ||numeric||)``, so a
gradient that is tiny in a few entries does not drown the check in noise. Work in float64.

The checks never write into an array: finite differences are taken on perturbed copies, set
through the course's ``layer.forward_with_param(key, X)(value)`` and brought onto the
component's backend with its ``asarray``, so they run on a backend whose arrays cannot be
written as on numpy.

Tests that train need components no installed package registers (a toy data set, a layer that
records its inputs): :func:`plugin_system_from` and :func:`plugins_in_use` give them a plugin
system with in-memory plugins, and :class:`InterruptAtEpochEnd` presses Ctrl-C in a run, to
check that it resumes exactly.
"""

import contextlib
import types
import unittest

import attrs
import numpy as np

import corenn.plugins
from corenn.backend import device_of
from corenn.errors import ShapeError
from corenn.hookspecs import hookimpl
from corenn.nn.backward_checks import check_backward, layer_origin
from corenn.plugins import PluginInfo, PluginSystem
from corenn.protocols import Activation, Layer, Loss

DEFAULT_TOLERANCE = 1e-6
DEFAULT_STEP = 1e-6


def numerical_gradient(f, x, step=DEFAULT_STEP):
    """Central-difference gradient of the scalar ``f(x)`` with respect to the numpy array ``x``.

    ``f`` is called with copies of ``x`` in which one entry moved by ``step`` up and then down
    (``x`` itself is never written), and at last with ``x`` itself, so that a function that
    keeps what it is given (``layer.forward_with_param(key, X)`` sets the parameter) is left
    at ``x``.
    """
    x = np.asarray(x)
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(x.shape):
        f_plus = float(f(_moved(x, index, step)))
        f_minus = float(f(_moved(x, index, -step)))
        grad[index] = (f_plus - f_minus) / (2 * step)
    f(x)
    return grad


def _moved(x, index, step):
    """A copy of ``x`` whose entry at ``index`` is ``x[index] + step``."""
    moved = x.copy()
    moved[index] = x[index] + step
    return moved


def relative_error(analytic, numeric):
    """Norm-wise relative error between two gradients (0 when both are zero)."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise AssertionError(f"gradient shape {analytic.shape} differs from expected {numeric.shape}")
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return float(np.linalg.norm(analytic - numeric) / scale) if scale > 0 else 0.0


PROJECTION_STREAM = 0x6AD


def _projection(shape, seed):
    """A fixed random upstream gradient: the checked scalar is ``sum(output * G)``.

    Drawn from its own stream: were ``G`` the very draw that made the input (same seed, same
    shape), a layer like batch norm would see ``G == X`` and a gradient of exactly zero.
    """
    return np.random.default_rng([seed, PROJECTION_STREAM]).standard_normal(shape)


PERTURBATION_STREAM = 0x9E7


def perturbed_parameters(layer, seed=0):
    """New values near each of ``layer``'s parameters, by key, as arrays of its backend (its
    dtype, on its device); the parameters themselves are left as they are.

    Each entry gets Gaussian noise of half the parameter's root-mean-square (0.1 for a
    parameter that is all zeros). Why: a gradient check at the initial values misses a backward
    that ignores a parameter at exactly those values, such as a scale ``gamma`` that starts at
    1 or a bias that starts at 0; random values make every parameter count. Zero biases also
    leave outputs on an activation's kink (relu of a window wholly in padding), where finite
    differences step across it.
    """
    backend = _backend_of(layer)
    rng = np.random.default_rng([seed, PERTURBATION_STREAM])
    moved = {}
    for key, value in layer.parameters.items():
        array = backend.to_numpy(value)
        rms = float(np.sqrt(np.mean(np.square(array, dtype=np.float64)))) if array.size else 0.0
        noisy = array + rng.normal(scale=0.5 * rms if rms > 0 else 0.1, size=array.shape)
        moved[key] = backend.asarray(noisy, dtype=value.dtype, device=device_of(value))
    return moved


def perturb_parameters(layer, seed=0):
    """Move every parameter of ``layer`` to random values near its own (see
    :func:`perturbed_parameters`), assigning the new arrays into ``layer.parameters``."""
    for key, value in perturbed_parameters(layer, seed).items():
        layer.parameters[key] = value


def _backend_of(component):
    """The component's backend object; numpy's for an object not derived from corenn's bases
    (a layer written to the protocol alone, an adapter that takes and returns numpy arrays)."""
    backend = getattr(component, "backend", None)
    if backend is None:
        from corenn.plugins import get_backend

        backend = get_backend("numpy")
    return backend


def _forward_at(layer, key, X):
    """``f(value)``: ``layer``'s output at ``X`` with ``parameters[key]`` set to ``value``: the
    course's ``forward_with_param``, written out for a layer that lacks it."""
    forward_with_param = getattr(layer, "forward_with_param", None)
    if forward_with_param is not None:
        return forward_with_param(key, X)

    def forward_at(value):
        layer.parameters[key] = value
        return layer.forward(X)

    return forward_at


def _parameters_device(layer):
    """The device of the layer's parameters (``None`` when it has none)."""
    for value in layer.parameters.values():
        return device_of(value)
    return None


def check_layer_gradients(layer, X, *, seed=0, step=DEFAULT_STEP, perturb=True):
    """Relative errors of ``dL/dX`` (key ``"X"``) and of every parameter gradient.

    With ``perturb`` (the default) the parameters are first moved to random values (see
    :func:`perturbed_parameters`), so that a backward that is right only at the initial values
    fails; ``perturb=False`` checks at the layer's parameters as they are. The layer's first
    backward is checked for shapes and dtypes as the model checks it, an ``AssertionError``
    naming what is wrong (:func:`corenn.nn.backward_checks.check_backward`).

    Nothing is written in place: parameters (the perturbed ones and each finite-difference
    step) are set with ``layer.forward_with_param(key, X)(value)``, inputs given as new arrays,
    all brought onto the layer's backend (``layer.backend.asarray``; numpy for a layer without
    one), so its ``forward`` must read ``layer.parameters`` each time (as the course's layers
    do). The layer is left at the perturbed parameters.
    """
    backend = _backend_of(layer)
    X = np.array(X, dtype=np.float64)
    layer.forward(backend.asarray(X))  # makes lazy parameters, which may then be perturbed
    device = _parameters_device(layer)

    def on_backend(array):
        return backend.asarray(array, device=device)

    X_on_backend = on_backend(X)
    if perturb:
        for key, value in perturbed_parameters(layer, seed).items():
            _forward_at(layer, key, X_on_backend)(value)
    Y = backend.to_numpy(layer.forward(X_on_backend))
    G = _projection(Y.shape, seed)
    dX = layer.backward(on_backend(G))
    try:
        check_backward(layer, X.shape, dX, _layer_label(layer))
    except ShapeError as exc:
        raise AssertionError(str(exc)) from None
    analytic = {"X": backend.to_numpy(dX)} | {k: backend.to_numpy(v) for k, v in layer.gradients.items()}

    def objective(output):
        return np.sum(backend.to_numpy(output) * G)

    def objective_at_parameter(key):
        forward_at = _forward_at(layer, key, X_on_backend)
        return lambda value: objective(forward_at(on_backend(value)))

    numeric = numerical_gradient(lambda x: objective(layer.forward(on_backend(x))), X, step)
    errors = {"X": relative_error(analytic["X"], numeric)}
    for key, param in list(layer.parameters.items()):
        numeric = numerical_gradient(objective_at_parameter(key), backend.to_numpy(param), step)
        errors[key] = relative_error(analytic[key], numeric)
    return errors


def _layer_label(layer):
    """``layer layer_norm (from corenn-extras)`` when the layer's ``name`` is registered."""
    name = getattr(layer, "name", None) or type(layer).__name__
    return f"layer {layer_origin(name)}"


def check_activation_gradients(activation, Z, *, seed=0, step=DEFAULT_STEP):
    """Relative error of ``activation.backward`` against finite differences, key ``"Z"``.

    ``Z`` and its perturbed copies reach the activation as new arrays of its backend."""
    backend = _backend_of(activation)
    Z = np.array(Z, dtype=np.float64)

    def forward(z):
        return backend.to_numpy(activation.forward(backend.asarray(z)))

    G = _projection(forward(Z).shape, seed)
    analytic = backend.to_numpy(activation.backward(backend.asarray(Z), backend.asarray(G)))
    numeric = numerical_gradient(lambda z: np.sum(forward(z) * G), Z, step)
    return {"Z": relative_error(analytic, numeric)}


def check_loss_gradients(loss, Y, Y_hat, *, step=DEFAULT_STEP):
    """Relative error of ``loss.backward`` (dL/dY_hat) against finite differences.

    ``Y``, ``Y_hat`` and the perturbed copies of ``Y_hat`` reach the loss as new arrays of its backend."""
    backend = _backend_of(loss)
    Y = backend.asarray(np.array(Y, dtype=np.float64))
    Y_hat = np.array(Y_hat, dtype=np.float64)
    analytic = backend.to_numpy(loss.backward(Y, backend.asarray(Y_hat)))
    numeric = numerical_gradient(lambda y_hat: loss.forward(Y, backend.asarray(y_hat)), Y_hat, step)
    return {"Y_hat": relative_error(analytic, numeric)}


def example_classification_batch(n_samples=4, n_classes=3, *, seed=0):
    """One-hot targets and strictly positive predicted probabilities, for loss checks."""
    rng = np.random.default_rng(seed)
    Y = np.eye(n_classes)[rng.integers(0, n_classes, n_samples)]
    logits = rng.standard_normal((n_samples, n_classes))
    Y_hat = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Y, Y_hat


def _require(condition, message):
    if not condition:
        raise AssertionError(message)


def check_layer_conformance(make_layer, input_shape, *, seed=0):
    """Check that ``make_layer()`` builds a layer that behaves as the protocol says.

    Checks: the protocol's attributes and the course's ``Layer`` methods (see
    :func:`check_course_layer_api`); parameters made lazily at the first forward, with zero
    gradients of the same keys, shapes and dtypes from then on; output batch size and dtype
    (float64 and float32); ``backward`` returning an array of the input's shape; a second batch
    of another size. Raises ``AssertionError`` naming what is wrong.
    """
    rng = np.random.default_rng(seed)
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


def check_activation_conformance(activation, shape=(4, 5), *, seed=0):
    """Check an activation's protocol, shapes and dtype preservation."""
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


def check_loss_conformance(loss, n_samples=4, n_classes=3):
    """Check a loss: a finite scalar mean, a gradient of the prediction's shape."""
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


class FixedRandomness:
    """A layer seen with its randomness frozen, so that finite differences can check it.

    A gradient check calls ``forward`` many times and compares the outputs; a dropout mask
    drawn afresh at each call would change the function between calls. This wrapper hands the
    layer a generator of the same seed before every forward, so every call draws the same mask.
    Run one forward first when the layer makes its parameters lazily: that first call also
    draws the weights, and the masks of later calls would then differ from the first one's.
    Everything else (``parameters``, ``gradients``, ...) is the wrapped layer's.
    """

    def __init__(self, layer, seed=0):
        self.layer = layer
        self.seed = seed

    def __getattr__(self, name):
        return getattr(self.layer, name)

    def forward(self, X):
        self.layer.rng = np.random.default_rng(self.seed)
        return self.layer.forward(X)

    def forward_with_param(self, param_name, X):
        forward_at = _forward_at(self.layer, param_name, X)

        def forward_with_fixed_randomness(value):
            self.layer.rng = np.random.default_rng(self.seed)
            return forward_at(value)

        return forward_with_fixed_randomness

    def backward(self, dLdY):
        return self.layer.backward(dLdY)


@attrs.frozen
class GradcheckReport:
    """The outcome of :func:`gradcheck`: the largest relative error of each gradient, or the
    shape check's ``failure`` when the backward left a gradient of the wrong shape."""

    kind: str
    name: str
    backend: str
    options: dict
    input_shape: tuple
    errors: dict
    tolerance: float
    perturbed: bool = False
    failure: str | None = None

    @property
    def max_error(self):
        return max(self.errors.values()) if self.errors else 0.0

    @property
    def passed(self):
        return self.failure is None and self.max_error <= self.tolerance

    def as_dict(self):
        return attrs.asdict(self) | {"max_error": self.max_error, "passed": self.passed}


def gradcheck(
    kind, name, options=None, *, backend="numpy", input_shape=None, seed=0, tolerance=DEFAULT_TOLERANCE, perturb=True
):
    """Finite-difference check of any registered layer, activation or loss.

    ``input_shape`` defaults to the component's ``example_input_shape`` attribute when it has
    one (a convolution needs a 4-d input), else ``(4, 5)``; for a loss it is the
    (samples, classes) shape of the predictions. A layer's parameters are moved to random
    values first unless ``perturb=False`` (see :func:`perturb_parameters`); a layer whose
    backward leaves a gradient of the wrong shape fails with that as the report's ``failure``.
    """
    from corenn.errors import ConfigError
    from corenn.plugins import create

    options = dict(options or {})
    if kind not in ("layer", "activation", "loss"):
        raise ConfigError(f"gradcheck checks a layer, activation or loss, not a {kind!r}")
    component = create(kind, name, backend, **options)
    shape = tuple(input_shape or getattr(component, "example_input_shape", None) or (4, 5))
    rng = np.random.default_rng(seed)
    failure = None
    if kind == "layer":
        X = rng.standard_normal(shape)
        if hasattr(component, "rng"):
            component = FixedRandomness(component, seed)
        if callable(getattr(component, "fit", None)):
            component.fit(X)  # a layer fitted to data (patch_whitening) is fitted to the test batch
        try:
            errors = check_layer_gradients(component, X, seed=seed, perturb=perturb)
        except AssertionError as exc:
            errors, failure = {}, str(exc)
    elif kind == "activation":
        errors = check_activation_gradients(component, rng.standard_normal(shape), seed=seed)
    else:
        if len(shape) != 2:
            raise ConfigError(f"a loss is checked on (samples, classes) predictions, not shape {shape}")
        errors = check_loss_gradients(component, *example_classification_batch(*shape, seed=seed))
    return GradcheckReport(kind, name, backend, options, shape, errors, tolerance, kind == "layer" and perturb, failure)


# Checking a backend's kernel overrides against the references.

KERNEL_TOLERANCE = 1e-10
"""The largest norm-wise relative error of an override against its reference, in float64."""


@attrs.frozen
class KernelCheck:
    """The outcome of :func:`check_kernel`: for each example call and each array the kernel
    returns, the override's norm-wise relative error against the reference (``errors``, keyed
    ``"call 3, output 1"``), and ``failures``: outputs that could not be compared (a missing
    array, another shape or dtype)."""

    kernel: str
    backend: str
    override: str
    calls: int
    errors: dict
    tolerance: float
    failures: tuple = ()

    @property
    def max_error(self):
        return max(self.errors.values(), default=0.0)

    @property
    def passed(self):
        return not self.failures and self.max_error <= self.tolerance

    def __str__(self):
        lines = [
            f"kernel {self.kernel}: {self.override} against the reference on {self.backend}, {self.calls} calls, "
            f"largest relative error {self.max_error:.3e} (tolerance {self.tolerance:g})"
        ]
        lines += [f"  {where}: {error:.3e}" for where, error in self.errors.items() if error > self.tolerance]
        lines += [f"  failure: {failure}" for failure in self.failures]
        lines.append("passed" if self.passed else "FAILED")
        return "\n".join(lines)


def kernels_with_examples():
    """Every kernel declared by the installed packages that has examples (their components'
    modules are imported), for a test parametrized over them."""
    from corenn.plugins import get_plugins

    return [declared for declared in get_plugins().declared_kernels() if declared.examples is not None]


def check_kernel(kernel, backend="numpy", *, seed=0, tolerance=KERNEL_TOLERANCE, reference_on_backend=False):
    """Check ``backend``'s override of ``kernel`` (a :class:`corenn.kernels.Kernel`) against the
    kernel's reference, on every example call of the kernel (see :func:`corenn.kernels.kernel`):
    the same float64 inputs, moved to the backend's arrays, given to each; every array each
    returns compared, norm-wise, within ``tolerance``. With ``reference_on_backend`` it checks
    the reference itself on ``backend``'s arrays against the reference on numpy's instead: a
    backend that overrides nothing runs every component through these.

    Kernels that an example calls first (a forward before its backward) run the same side:
    the backend's implementations for the override, the references for the reference. Returns
    a :class:`KernelCheck`; raises ``ValueError`` when ``backend`` has no override of the
    kernel (its reference runs there, so there is nothing to check) or the kernel has no
    examples. For a third-party backend::

        for kernel in kernels_with_examples():
            if kernel.override_for("cupy") is not None:
                report = check_kernel(kernel, "cupy")
                assert report.passed, report
    """
    from corenn.plugins import get_backend

    backend_object = get_backend(backend)
    override = kernel.override_for(backend)
    if override is None and not reference_on_backend:
        raise ValueError(
            f"backend {backend} has no override of kernel {kernel.qualified_name}: its reference runs there"
        )
    examples = kernel.load_examples()
    if examples is None:
        raise ValueError(f"kernel {kernel.qualified_name} declares no examples to check an override on")

    def calls(implementation_of, arrays=backend_object):
        def on_backend(value):
            if isinstance(value, np.ndarray):
                return arrays.asarray(value.copy())
            if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple of a kernel's scalars
                return value._make(on_backend(item) for item in value)
            if isinstance(value, (tuple, list)):
                return type(value)(on_backend(item) for item in value)
            return value

        def run(other, *args, **kwargs):
            return implementation_of(other)(*on_backend(args), **{k: on_backend(v) for k, v in kwargs.items()})

        results = []
        for args, kwargs in examples(np.random.default_rng(seed), run):
            results.append(_arrays_in(run(kernel, *args, **kwargs), arrays))
        return results

    if reference_on_backend:
        expected = calls(lambda other: other.reference, get_backend("numpy"))
        actual = calls(lambda other: other.reference)
        checked = f"the reference on {backend}'s arrays"
    else:
        expected = calls(lambda other: other.reference)
        actual = calls(lambda other: other.implementation_for(backend))
        checked = override.origin
    errors, failures = {}, []
    for number, (want, got) in enumerate(zip(expected, actual, strict=True)):
        for index, (reference_array, override_array) in enumerate(zip(want, got, strict=False)):
            where = f"call {number}, output {index}"
            if reference_array is None or override_array is None:
                if (reference_array is None) != (override_array is None):
                    failures.append(
                        f"{where}: the reference returned {_describe_output(reference_array)}, the override {_describe_output(override_array)}"
                    )
                continue
            if reference_array.shape != override_array.shape or reference_array.dtype != override_array.dtype:
                failures.append(
                    f"{where}: the reference returned {_describe_output(reference_array)}, the override {_describe_output(override_array)}"
                )
                continue
            errors[where] = relative_error(override_array, reference_array)
        if len(want) != len(got):
            failures.append(f"call {number}: the reference returned {len(want)} outputs, the override {len(got)}")
    return KernelCheck(kernel.qualified_name, backend, checked, len(expected), errors, tolerance, tuple(failures))


def _arrays_in(result, backend):
    """The arrays a kernel returned, flattened in order, as numpy arrays (``None`` kept; other
    objects, like a forward's ``saved``, left out: only the kernel that made them reads them)."""
    if isinstance(result, (tuple, list)):
        return [array for item in result for array in _arrays_in(item, backend)]
    if result is None:
        return [None]
    if hasattr(result, "shape") and hasattr(result, "dtype"):
        return [backend.to_numpy(result)]
    if isinstance(result, (int, float)):
        return [np.asarray(result)]
    return []


def _describe_output(array):
    return "None" if array is None else f"shape {tuple(array.shape)} {array.dtype}"


# Comparing backends: the same component, weights and inputs on numpy and on another backend.

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
    """Run one registered layer, activation or loss on several backends and compare every array.

    Each backend gets the component built from the same ``options`` and the same inputs, cast to
    ``dtype`` (``"float64"`` or ``"float32"``), through the backend object (``asarray`` in,
    ``to_numpy`` out), so this module imports no backend library itself. Nothing is written in
    place: perturbed parameters are assigned as new arrays.

    - ``layer``: ``inputs`` is ``X`` (default: standard normal of ``input_shape``, the layer's
      ``example_input_shape`` or ``(4, 5)``). Every layer draws its weights from a numpy
      Generator of ``seed``, so all start alike (compared as ``W (initial)``, ...); with
      ``perturb`` (the default) the parameters are then moved to the same random values on every
      backend (see :func:`perturb_parameters`). Compared: the output, ``dL/dX`` and every
      parameter gradient for one random upstream gradient. A layer fitted to data (``fit``) is
      fitted to ``X`` first.
    - ``activation``: ``inputs`` is ``Z``; compared: ``forward(Z)`` and ``backward(Z, G)``.
    - ``loss``: ``inputs`` is ``(Y, Y_hat)`` (default: a one-hot batch and softmax
      probabilities of ``input_shape``, ``(4, 3)``); compared: the value and ``dL/dY_hat``.

    The first of ``backends`` is the reference. A backend that is not installed (no plugin
    registers it, or its library cannot be imported) raises :class:`BackendNotInstalled`, which
    test runners report as a skip. ``tolerance`` defaults to
    :data:`CROSS_BACKEND_TOLERANCES` of the dtype. Returns a :class:`CrossBackendReport`::

        report = check_across_backends("activation", "swish", {"beta": 1.5})
        assert report.passed, report
    """
    from corenn.errors import ConfigError

    if kind not in ("layer", "activation", "loss"):
        raise ConfigError(f"check_across_backends compares a layer, activation or loss, not a {kind!r}")
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
    run = {"layer": _run_layer, "activation": _run_activation, "loss": _run_loss}[kind]
    results = {
        backend: run(name, options, inputs, backend=backend, dtype=dtype, shape=input_shape, seed=seed, perturb=perturb)
        for backend in backends
    }
    reference, *others = backends
    errors, failures = {}, []
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
    G = _projection(arrays["output"].shape, seed).astype(dtype)
    arrays["dL/dX"] = backend_object.to_numpy(
        layer.backward(backend_object.asarray(G, dtype=dtype, device=device_of(Y)))
    )
    arrays |= {f"dL/d{key}": backend_object.to_numpy(value) for key, value in layer.gradients.items()}
    return arrays


def _run_activation(name, options, Z, *, backend, dtype, shape, seed, perturb):
    from corenn.plugins import create

    activation = create("activation", name, backend, **options)
    backend_object = activation.backend
    if Z is None:
        Z = np.random.default_rng(seed).standard_normal(tuple(shape or (4, 5)))
    Z = _on_backend(backend_object, Z, dtype)
    Y = backend_object.to_numpy(activation.forward(Z))
    G = _on_backend(backend_object, _projection(Y.shape, seed), dtype)
    return {"output": Y, "dL/dZ": backend_object.to_numpy(activation.backward(Z, G))}


def _run_loss(name, options, pair, *, backend, dtype, shape, seed, perturb):
    from corenn.plugins import create

    loss = create("loss", name, backend, **options)
    backend_object = loss.backend
    Y, Y_hat = pair if pair is not None else example_classification_batch(*(shape or (4, 3)), seed=seed)
    Y, Y_hat = _on_backend(backend_object, Y, dtype), _on_backend(backend_object, Y_hat, dtype)
    value = backend_object.to_numpy(loss.forward(Y, Y_hat)).astype(dtype)
    return {"value": value, "dL/dY_hat": backend_object.to_numpy(loss.backward(Y, Y_hat))}


def plugin_system_from(*plugins, strict=False, distribution=None, version="0"):
    """A plugin system of the installed plugins plus ``plugins``, objects that hold hook implementations.

    For tests that need a component registered without building and installing a distribution.
    A plugin may be a module, an instance, or a class (made into an instance with no arguments,
    as hook implementations are methods). Each is named after its ``__name__`` (its class's,
    for an instance) and shown by ``corenn plugins`` as coming from ``distribution`` (default: that
    name) at ``version``. They load after the installed ones and as those do: a mistake (a name
    already registered, a misspelled hook) fails or warns as it would for an installed third party,
    and is an error when ``strict``. Make the system the one corenn uses with :func:`plugins_in_use`.
    """
    system = PluginSystem(strict=strict).load()
    for plugin in plugins:
        name = getattr(plugin, "__name__", type(plugin).__name__)
        source = name if isinstance(plugin, types.ModuleType) else f"{getattr(plugin, '__module__', '?')}:{name}"
        info = PluginInfo(name, distribution or name, version, source)
        system._add(info, lambda plugin=plugin: plugin() if isinstance(plugin, type) else plugin)
    return system


@contextlib.contextmanager
def plugins_in_use(system):
    """Make ``system`` the process-wide plugin system while the ``with`` block runs.

    Everything that looks components up by name (:func:`corenn.create`, training, the ``corenn``
    command run in-process) then uses it; on leaving the block, even by an exception, the
    previous system is back, so one test's plugins never leak into the next.
    """
    previous = corenn.plugins._system
    corenn.plugins._system = system
    try:
        yield system
    finally:
        corenn.plugins._system = previous


class InterruptAtEpochEnd:
    """A run callback that presses Ctrl-C (raises KeyboardInterrupt) at the end of epoch ``epoch``.

    Training saves a checkpoint and lets the interrupt out, as it does for a real Ctrl-C. To check
    that a component resumes exactly: train with ``callbacks=[InterruptAtEpochEnd(2)]``, resume
    the run, and compare it with the same run trained in one go.
    """

    def __init__(self, epoch):
        self.epoch = epoch

    @hookimpl
    def corenn_epoch_end(self, run, epoch, metrics):
        if epoch == self.epoch:
            raise KeyboardInterrupt
