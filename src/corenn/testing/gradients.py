"""Finite-difference gradient checks of layers, activations and losses, and ``gradcheck``, the
check of a registered component by name (``corenn gradcheck``).

Relative errors are norm-wise: ``||analytic - numeric|| / (||analytic|| + ||numeric||)``, so a
gradient that is tiny in a few entries does not drown the check in noise, the denominator never
below :data:`VANISHING_SCALE`, so that a gradient that is zero for a reason does not fail as a
ratio of two noises (see :func:`gradient_error`). Work in float64.

The checks never write into an array: finite differences are taken on perturbed copies, set
through the course's ``layer.forward_with_param(key, X)(value)`` and brought onto the
component's backend with its ``asarray``, so they run on a backend whose arrays cannot be
written as on numpy.
"""

import attrs
import numpy as np

from corenn.backend import device_of
from corenn.errors import CorennError, ShapeError, remember_component
from corenn.nn.backward_checks import check_backward, layer_origin
from corenn.registry import example_options_for

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


VANISHING_SCALE = 1e-2
"""The smallest sum of norms a gradient check divides by (see :func:`gradient_error`)."""


def gradient_error(analytic, numeric):
    """The relative error of an analytic gradient against finite differences: as
    :func:`relative_error`, but never divided by less than :data:`VANISHING_SCALE`.

    A gradient that is zero for a reason (the bias of a layer followed by batch normalisation,
    whose output does not change with it) is a ratio of two rounding noises under the plain
    relative error: 1 whatever the code. With the floor, a gradient whose norm is below 1e-2
    (the checks' inputs and projections are of order 1, so their gradients are too) is judged by
    its absolute error instead, which finite differences measure to about 1e-8; a wrong
    gradient of any larger size still counts as a relative error.
    """
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise AssertionError(f"gradient shape {analytic.shape} differs from expected {numeric.shape}")
    scale = max(float(np.linalg.norm(analytic) + np.linalg.norm(numeric)), VANISHING_SCALE)
    return float(np.linalg.norm(analytic - numeric) / scale)


PROJECTION_STREAM = 0x6AD


def projection(shape, seed):
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
    backend = backend_of(layer)
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


def backend_of(component):
    """The component's backend object; numpy's for an object not derived from corenn's bases
    (a layer written to the protocol alone, an adapter that takes and returns numpy arrays)."""
    backend = getattr(component, "backend", None)
    if backend is None:
        from corenn.plugins import get_backend

        backend = get_backend("numpy")
    return backend


def forward_at_parameter(layer, key, X):
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
    backend = backend_of(layer)
    X = np.array(X, dtype=np.float64)
    layer.forward(backend.asarray(X))  # makes lazy parameters, which may then be perturbed
    device = _parameters_device(layer)

    def on_backend(array):
        return backend.asarray(array, device=device)

    X_on_backend = on_backend(X)
    if perturb:
        for key, value in perturbed_parameters(layer, seed).items():
            forward_at_parameter(layer, key, X_on_backend)(value)
    Y = backend.to_numpy(layer.forward(X_on_backend))
    G = projection(Y.shape, seed)
    dX = layer.backward(on_backend(G))
    try:
        check_backward(layer, X.shape, dX, _layer_label(layer))
    except ShapeError as exc:
        raise AssertionError(str(exc)) from None
    analytic = {"X": backend.to_numpy(dX)} | {k: backend.to_numpy(v) for k, v in layer.gradients.items()}

    def objective(output):
        return np.sum(backend.to_numpy(output) * G)

    def objective_at_parameter(key):
        forward_at = forward_at_parameter(layer, key, X_on_backend)
        return lambda value: objective(forward_at(on_backend(value)))

    numeric = numerical_gradient(lambda x: objective(layer.forward(on_backend(x))), X, step)
    errors = {"X": gradient_error(analytic["X"], numeric)}
    for key, param in list(layer.parameters.items()):
        numeric = numerical_gradient(objective_at_parameter(key), backend.to_numpy(param), step)
        errors[key] = gradient_error(analytic[key], numeric)
    return errors


def _layer_label(layer):
    """``layer layer_norm (from corenn-extras)`` when the layer's ``name`` is registered."""
    name = getattr(layer, "name", None) or type(layer).__name__
    return f"layer {layer_origin(name)}"


def check_activation_gradients(activation, Z, *, seed=0, step=DEFAULT_STEP):
    """Relative error of ``activation.backward`` against finite differences, key ``"Z"``.

    ``Z`` and its perturbed copies reach the activation as new arrays of its backend."""
    backend = backend_of(activation)
    Z = np.array(Z, dtype=np.float64)

    def forward(z):
        return backend.to_numpy(activation.forward(backend.asarray(z)))

    G = projection(forward(Z).shape, seed)
    analytic = backend.to_numpy(activation.backward(backend.asarray(Z), backend.asarray(G)))
    numeric = numerical_gradient(lambda z: np.sum(forward(z) * G), Z, step)
    return {"Z": gradient_error(analytic, numeric)}


def check_loss_gradients(loss, Y, Y_hat, *, step=DEFAULT_STEP):
    """Relative error of ``loss.backward`` (dL/dY_hat) against finite differences.

    ``Y``, ``Y_hat`` and the perturbed copies of ``Y_hat`` reach the loss as new arrays of its backend."""
    backend = backend_of(loss)
    Y = backend.asarray(np.array(Y, dtype=np.float64))
    Y_hat = np.array(Y_hat, dtype=np.float64)
    analytic = backend.to_numpy(loss.backward(Y, backend.asarray(Y_hat)))
    numeric = numerical_gradient(lambda y_hat: loss.forward(Y, backend.asarray(y_hat)), Y_hat, step)
    return {"Y_hat": gradient_error(analytic, numeric)}


def example_classification_batch(n_samples=4, n_classes=3, *, seed=0):
    """One-hot targets and strictly positive predicted probabilities, for loss checks."""
    rng = np.random.default_rng(seed)
    Y = np.eye(n_classes)[rng.integers(0, n_classes, n_samples)]
    logits = rng.standard_normal((n_samples, n_classes))
    Y_hat = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return Y, Y_hat


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
        forward_at = forward_at_parameter(self.layer, param_name, X)

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

    ``options`` are the component's; without any, its ``example_options`` are taken (a class
    attribute, see :func:`corenn.registry.example_options_for`), so ``gradcheck("layer",
    "conv1d")`` checks a layer that needs ``n_out``. ``input_shape`` defaults to the component's
    ``example_input_shape`` attribute when it has one (a convolution needs a 4-d input), else
    ``(4, 5)``; for a loss it is the (samples, classes) shape of the predictions. A layer's
    parameters are moved to random values first unless ``perturb=False`` (see
    :func:`perturb_parameters`); a layer whose backward leaves a gradient of the wrong shape
    fails with that as the report's ``failure``.
    """
    from corenn.errors import ConfigError
    from corenn.plugins import create, get_registry

    if kind not in ("layer", "activation", "loss"):
        raise ConfigError(f"gradcheck checks a layer, activation or loss, not a {kind!r}")
    entry = get_registry().get(kind, name, backend)
    options = options_with_examples(entry.load(), options)
    component = create(kind, name, backend, **options)
    try:
        shape, errors, failure = gradient_errors(kind, component, input_shape=input_shape, seed=seed, perturb=perturb)
    except Exception as exc:  # a bug in the component (a typo in its forward): say whose
        if not isinstance(exc, CorennError):
            remember_component(exc, f"{kind} {name} (from {entry.distribution})")
        raise
    return GradcheckReport(kind, name, backend, options, shape, errors, tolerance, kind == "layer" and perturb, failure)


def options_with_examples(factory, options=None):
    """``options``, or, when there are none, the factory's example options (see
    :func:`corenn.registry.example_options_for`): options given are taken as they are, so a
    required one left out is still an error naming it."""
    options = dict(options or {})
    return options if options else example_options_for(factory)


def gradient_errors(kind, component, *, input_shape=None, seed=0, perturb=True):
    """``(shape, errors, failure)`` of a finite-difference check of a built layer, activation or
    loss on random inputs of ``input_shape`` (default: its ``example_input_shape``, else
    ``(4, 5)``; a loss's is (samples, classes)): the relative error of each gradient, and, for a
    layer whose backward left a gradient of the wrong shape, what is wrong (``errors`` then
    empty). A layer with randomness (``rng``) is seen with it frozen (:class:`FixedRandomness`);
    one fitted to data is fitted to the input first."""
    from corenn.errors import ConfigError

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
    return shape, errors, failure
