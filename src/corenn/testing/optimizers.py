"""The optimizer conformance check: one step against the author's whole-array reference, state
that survives a checkpoint, and inputs left as they were given.

An optimizer has no gradient to check by finite differences; what goes wrong is its update (a
formula mistyped, a learning rate read once instead of at every step), its state (a slot that
a checkpoint loses, so a resumed run drifts) and writes into arrays it does not own (a gradient
clipped in place, which breaks a backend whose arrays cannot be written). Each has a check
here; see :func:`check_optimizer_conformance`.
"""

import tempfile
from pathlib import Path

import numpy as np

from corenn.backend import building_for
from corenn.files import load_arrays, save_arrays
from corenn.kernels import reference_kernels
from corenn.nn.optimizers import accepts_lr_scale
from corenn.testing.across_backends import OPTIMIZER_PARAMETER_SHAPES, optimizer_steps
from corenn.testing.conformance import conformance_backends
from corenn.testing.gradients import relative_error

OPTIMIZER_TOLERANCE = 1e-10
"""The largest norm-wise relative error of an optimizer's update against its reference, in float64."""
CHECKPOINT_PREFIX = "optimizer/"  # how a run's checkpoint stores the state (corenn.run.checkpoints)
RESUMED_STEPS = 3


def check_optimizer_conformance(
    make_optimizer, reference, *, shapes=None, steps=3, seed=0, tolerance=OPTIMIZER_TOLERANCE, backends=None
):
    """Check that ``make_optimizer()`` builds an optimizer that steps as ``reference`` says, keeps
    its state through a checkpoint and never writes into its inputs. Raises ``AssertionError``
    naming what is wrong; returns the largest relative error against the reference, by backend.

    ``reference(param, grad, state, lr)`` is the author's whole-array formula of one update of
    one parameter, on float64 numpy arrays: it returns the new parameter, keeping whatever it
    needs between steps in ``state``, a dict of its own for that parameter (empty at the first
    step). ``lr`` is the learning rate of that step: the check changes the optimizer's ``lr``
    between steps, as a scheduler does, so an optimizer must read ``self.lr`` at every update.
    Build the optimizer and the reference with the same options::

        def rmsprop_reference(param, grad, state, lr, *, alpha=0.9, epsilon=1e-8):
            state["square"] = alpha * state.get("square", 0.0) + (1 - alpha) * grad**2
            return param - lr * grad / (np.sqrt(state["square"]) + epsilon)

        check_optimizer_conformance(lambda: RMSprop(lr=0.01, alpha=0.9), rmsprop_reference)

    The checks, on parameters of ``shapes`` (a dict of name to shape; default ``"0.W"`` (5, 3)
    and ``"0.b"`` (1, 3)):

    - **the protocol**: ``update(param_name, param, grad)``, ``lr``, ``state_dict()`` and
      ``load_state_dict(state)``; ``update`` returns an array of the parameter's shape and dtype;
    - **the math**: ``steps`` updates of each parameter agree with ``reference`` within
      ``tolerance``, on numpy and on every other installed backend the optimizer is registered
      for (see :func:`corenn.testing.conformance_backends`);
    - **the state**: ``state_dict()`` holds numbers and arrays only (a checkpoint stores them
      without pickle); written to an ``.npz`` and read back as a run's checkpoint is, then
      loaded into a new optimizer, it makes the next updates exactly those of the optimizer that
      never stopped (a resumed run continues bit for bit);
    - **the inputs**: the gradient is never changed, and inside
      :func:`corenn.kernels.reference_kernels` an update of read-only arrays works, so nothing
      but a backend's own fast kernels relies on writing into an array.
    """
    shapes = dict(shapes or OPTIMIZER_PARAMETER_SHAPES)
    probe = make_optimizer()
    name = type(probe).__name__
    for method in ("update", "state_dict", "load_state_dict"):
        _require(
            callable(getattr(probe, method, None)),
            f"{name} has no {method}() (derive it from corenn.nn.optimizers.Optimizer)",
        )
    _require(
        hasattr(probe, "lr"), f"{name} has no lr attribute: the trainer sets it from the scheduler before each step"
    )
    rng = np.random.default_rng(seed)
    initial = {key: rng.standard_normal(shape) for key, shape in shapes.items()}
    schedule = optimizer_steps(initial, seed, steps)
    largest = {}
    for backend in conformance_backends("optimizer", probe, backends):
        largest[backend] = _check_against_reference(make_optimizer, reference, backend, initial, schedule, tolerance)
    _check_checkpoint_round_trip(make_optimizer, initial, schedule)
    _check_inputs_untouched(make_optimizer, initial, schedule)
    return largest


def _require(condition, message):
    if not condition:
        raise AssertionError(message)


def _build(make_optimizer, backend):
    with building_for(backend):
        return make_optimizer()


def _run(optimizer, parameters, schedule, backend_object, *, record=None):
    """Feed ``schedule`` (see :func:`corenn.testing.across_backends.optimizer_steps`) to
    ``optimizer``; returns the parameters after the last step (the backend's arrays)."""
    lr = optimizer.lr
    current = dict(parameters)
    name = type(optimizer).__name__
    for step, (factor, gradients) in enumerate(schedule, start=1):
        optimizer.lr = lr * factor
        for key, gradient in gradients.items():
            grad = backend_object.asarray(np.array(gradient))  # a copy: the schedule is fed to others too
            updated = optimizer.update(key, current[key], grad)
            _require(
                hasattr(updated, "shape") and tuple(updated.shape) == tuple(current[key].shape),
                f"{name}.update({key!r}, ...) at step {step} returned "
                f"{_describe(updated)}; it must return the new parameter, of shape {tuple(current[key].shape)}",
            )
            _require(
                updated.dtype == current[key].dtype,
                f"{name}.update({key!r}, ...) at step {step} returned dtype {updated.dtype}; the parameter's is "
                f"{current[key].dtype}",
            )
            current[key] = updated
            if record is not None:  # a copy: numpy's fast kernels step the parameter in place
                record.append((step, key, np.array(backend_object.to_numpy(updated))))
    optimizer.lr = lr
    return current


def _describe(value):
    return f"shape {tuple(value.shape)}" if hasattr(value, "shape") else f"a {type(value).__name__}"


def _check_against_reference(make_optimizer, reference, backend, initial, schedule, tolerance):
    from corenn.plugins import get_backend

    backend_object = get_backend(backend)
    optimizer = _build(make_optimizer, backend)
    name = type(optimizer).__name__
    lr = float(optimizer.lr)
    got = []
    _run(
        optimizer,
        {key: backend_object.asarray(value.copy()) for key, value in initial.items()},
        schedule,
        backend_object,
        record=got,
    )
    expected = []
    params = {key: value.copy() for key, value in initial.items()}
    states = {key: {} for key in initial}
    for step, (factor, gradients) in enumerate(schedule, start=1):
        for key, gradient in gradients.items():
            params[key] = np.asarray(
                reference(params[key].copy(), gradient.copy(), states[key], lr * factor), dtype=np.float64
            )
            expected.append((step, key, params[key]))
    largest = 0.0
    for (step, key, actual), (_, _, wanted) in zip(got, expected, strict=True):
        _require(
            actual.shape == wanted.shape,
            f"{name} on {backend}: {key} after step {step} has shape {actual.shape}, the reference's {wanted.shape}",
        )
        error = relative_error(actual, wanted)
        largest = max(largest, error)
        _require(
            error <= tolerance,
            f"{name} on {backend}: {key} after step {step} differs from the reference by a relative error of "
            f"{error:.3e} (tolerance {tolerance:g}); learning rates {[round(lr * f, 12) for f, _ in schedule]} by step",
        )
    return largest


def _checkpointed(state):
    """``state`` as a run's checkpoint gives it back: each value through ``np.asarray`` into an
    ``.npz`` (no pickle) and out again, 0-d arrays as Python numbers."""
    for key, value in state.items():
        _require(isinstance(key, str), f"state_dict() has a key {key!r} that is not a string")
        array = np.asarray(value)
        _require(
            array.dtype.kind in "biuf",
            f"state_dict()[{key!r}] is {type(value).__name__} {value!r:.60}: a checkpoint stores numbers and "
            "numeric arrays only (no pickle)",
        )
    with tempfile.TemporaryDirectory(prefix="corenn-optimizer-check-") as folder:
        path = Path(folder) / "checkpoint.npz"
        save_arrays(path, {f"{CHECKPOINT_PREFIX}{key}": np.asarray(value) for key, value in state.items()})
        arrays = load_arrays(path)
    return {
        key[len(CHECKPOINT_PREFIX) :]: (value.item() if value.ndim == 0 else value) for key, value in arrays.items()
    }


def _check_checkpoint_round_trip(make_optimizer, initial, schedule):
    from corenn.plugins import get_backend

    numpy = get_backend("numpy")
    first = _build(make_optimizer, "numpy")
    name = type(first).__name__
    params = _run(first, {key: value.copy() for key, value in initial.items()}, schedule, numpy)
    restored = _build(make_optimizer, "numpy")
    restored.load_state_dict(_checkpointed(first.state_dict()))
    _require(
        float(restored.lr) == float(first.lr),
        f"{name}: lr {restored.lr} after load_state_dict, {first.lr} before the checkpoint",
    )
    later = optimizer_steps(initial, seed=len(schedule) + 1, steps=RESUMED_STEPS)
    went_on = _run(first, {key: value.copy() for key, value in params.items()}, later, numpy)
    resumed = _run(restored, {key: value.copy() for key, value in params.items()}, later, numpy)
    for key in initial:
        _require(
            np.array_equal(numpy.to_numpy(went_on[key]), numpy.to_numpy(resumed[key])),
            f"{name}: after a checkpoint (state_dict, saved, loaded into a new {name} with load_state_dict) the "
            f"next updates of {key} differ from those of the optimizer that went on (largest difference "
            f"{np.max(np.abs(numpy.to_numpy(went_on[key]) - numpy.to_numpy(resumed[key]))):.3e}): state_dict() "
            "misses some of its state, or load_state_dict() does not restore it",
        )


def _read_only(array):
    view = np.array(array).view()
    view.flags.writeable = False
    return view


def _check_inputs_untouched(make_optimizer, initial, schedule):
    optimizer = _build(make_optimizer, "numpy")
    name = type(optimizer).__name__
    _, gradients = schedule[0]
    for key, gradient in gradients.items():
        param, grad = np.array(initial[key]), np.array(gradient)
        kept = grad.copy()
        optimizer.update(key, param, grad)
        _require(
            np.array_equal(grad, kept),
            f"{name}.update changed the gradient it was given ({key}): the gradient is the layer's; clip or scale a "
            "copy (an optimizer returns what it computes)",
        )
    optimizer = _build(make_optimizer, "numpy")
    scaled = {"lr_scale": 1.0} if accepts_lr_scale(optimizer) else {}
    with reference_kernels():
        for key, gradient in gradients.items():
            try:
                optimizer.update(key, _read_only(initial[key]), _read_only(gradient), **scaled)
            except ValueError as exc:
                if "read-only" not in str(exc):
                    raise
                raise AssertionError(
                    f"{name}.update wrote into an array it was given (the parameter or the gradient) while the kernels "
                    f"ran their references: {exc}; return new arrays "
                    "instead (only a backend's fast kernels may write in place)"
                ) from None
