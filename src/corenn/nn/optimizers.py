"""Optimizers: ``update(param_name, param, param_grad, lr_scale=1.0)`` changes ``param`` in place
and returns it.

The trainer calls ``update`` once per parameter per step, with a name unique in the model
(``"0.W"``), and sets ``lr`` from the scheduler before each step. Any state an optimizer keeps
(momentum, moment estimates, step counts) is keyed by that name and created lazily in the
parameter's dtype, so a float32 model stays float32.

``state_dict()`` is a flat dict whose keys are strings ``"<slot>/<param_name>"`` (plus ``"lr"``)
and whose values are numpy arrays, floats or ints only, so a checkpoint can store it as a
``.npz`` without pickle. ``load_state_dict`` restores it exactly: a resumed run continues bit
for bit. Hyperparameters (momentum, betas, ...) are not in it; they come from the run's config.

``clip_norm`` scales a gradient whose L2 norm exceeds it down to norm ``clip_norm``. The
optimizer sees one parameter at a time, so each parameter's gradient is clipped on its own
(torch's ``clip_grad_norm_`` clips all of them together).

``weight_decay`` pulls every parameter (biases and batch-norm scales included) towards zero.
SGD adds it to the gradient, ``g + weight_decay * param`` (L2 regularisation, torch's
``SGD(weight_decay=...)``), after clipping, so the decay itself is never clipped. Adam decays
the parameter directly, apart from the moment estimates (AdamW, Loshchilov & Hutter 2019, and
torch's ``AdamW``): ``param *= 1 - lr * weight_decay`` before the Adam step. Added to Adam's
gradient the decay would be divided by ``sqrt(v_hat)`` and so act weakest on the parameters
with the largest gradients. Neither changes the format of ``state_dict``.

``lr_scale`` multiplies one parameter's learning rate for the gradient step only, never for
the weight decay (a layer's ``lr_scale`` table in the config sets it, see
:meth:`corenn.nn.model.Sequential.named_lr_scales`). airbench trains batch-norm shifts at a rate
64 times the others' while their decay per step stays that of every other parameter; torch
gets the same by giving such a parameter group ``lr * scale`` and ``weight_decay / scale``.
SGD steps with ``g = lr_scale * clip(grad) + weight_decay * param``; Adam with
``lr * lr_scale * m_hat / (sqrt(v_hat) + epsilon)``. The trainer passes ``lr_scale`` only to
parameters whose scale is not 1, so an optimizer whose ``update`` has no such keyword keeps
working in runs that scale nothing (see :func:`accepts_lr_scale`).

Each optimizer is written once, for every backend: its bookkeeping (options, state slots and
their ``state_dict``, step counts) is here, and state arrays are made like their parameter
(dtype, device). Three routines are the backend's kernels (see
:mod:`corenn.nn.optimizer_kernels`). Clipping, ``optimizer_clip_by_norm``: numpy decides on the
host whether to scale, torch on the device, since reading a GPU's norm back would stall it at
every update. And the steps, ``optimizer_sgd_step`` and ``optimizer_adam_step``: their formulas
are written once (:mod:`corenn.nn.optimizer_formulas`); numpy runs them block by block, so that
each block stays in the CPU's cache and nothing is allocated per step (whole-array expressions
made a pass over memory and often a parameter-sized temporary per operation: Adam's was half of
a float32 training step of a large MLP), torch runs them on whole tensors. Both give the bits
the whole-array expressions gave.

``state_dict()`` gives numpy arrays on every backend (the backend's ``to_numpy`` kernel), so a
checkpoint written by either backend resumes on either: a restored array becomes the
parameter's kind of array, in its dtype and on its device, at that parameter's next update.
"""

import inspect
import math
import numbers

from corenn.errors import ConfigError, CorruptFileError
from corenn.nn.kernels import OnBackend, array_namespace, device_of
from corenn.nn.optimizer_formulas import AdamStep, SGDStep
from corenn.nn.optimizer_kernels import optimizer_clip_by_norm
from corenn.nn.options import finite_number, positive_number

SLOT_SEPARATOR = "/"
# Clipping numpy gradients, by its name before kernels (the numpy backend's kernel itself).
clip_by_norm = optimizer_clip_by_norm


def _in_unit_interval(name, value):
    """A value in [0, 1): a decay rate for momentum or a moment estimate."""
    value = finite_number(name, value)
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"option {name!r} must be in [0, 1), got {value!r}")
    return value


def _non_negative(name, value):
    value = finite_number(name, value)
    if value < 0:
        raise ConfigError(f"option {name!r} must be >= 0 (0 turns it off), got {value!r}")
    return value


def _optional_positive(name, value):
    return None if value is None else positive_number(name, value)


def check_lr_scale(lr_scale):
    """A per-parameter factor: a finite number > 0 (the model checks the config's; this guards
    direct callers)."""
    if isinstance(lr_scale, bool) or not isinstance(lr_scale, numbers.Real) or not 0 < lr_scale < math.inf:
        raise ConfigError(f"lr_scale must be a finite number > 0 (1 leaves the rate as it is), got {lr_scale!r}")
    return float(lr_scale)


def accepts_lr_scale(optimizer):
    """Whether ``optimizer.update`` takes an ``lr_scale`` keyword (or any keyword).

    Optimizers registered by third-party plugins may predate per-parameter rates; the trainer
    asks this once, before the first scaled update, so such an optimizer fails with a message
    instead of a TypeError, or worse a silently ignored keyword.
    """
    try:
        parameters = inspect.signature(optimizer.update).parameters.values()
    except (TypeError, ValueError):  # a builtin or C-level callable without a signature
        return False
    return any(
        (parameter.name == "lr_scale" and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY))
        or parameter.kind is parameter.VAR_KEYWORD
        for parameter in parameters
    )


def require_lr_scale_support(optimizer, scaled_parameters, registered_name=None):
    """Raise a ConfigError unless ``optimizer`` takes ``lr_scale``, naming the optimizer (its
    registered name when given, and its class) and the scaled parameters."""
    if not scaled_parameters or accepts_lr_scale(optimizer):
        return
    cls = type(optimizer)
    name = (
        f"{registered_name!r} ({cls.__module__}.{cls.__qualname__})"
        if registered_name
        else f"{cls.__module__}.{cls.__qualname__}"
    )
    raise ConfigError(
        f"optimizer {name} takes no lr_scale in its update(), but layers set lr_scale for "
        f"{', '.join(sorted(scaled_parameters))}; remove those lr_scale tables or use an optimizer that "
        f"takes them (the built-in sgd and adam do)"
    )


def _like(value, param):
    """Whether a state array is already the parameter's kind of array, dtype and device."""
    return (
        type(value) is type(param)
        and value.dtype == param.dtype
        and getattr(value, "device", None) == getattr(param, "device", None)
    )


class Optimizer(OnBackend):
    """Base of the optimizers: per-parameter state slots (arrays or int counters) and their
    flat ``state_dict``, on the backend the optimizer was built for."""

    ARRAY_SLOTS = ()
    COUNTER_SLOTS = ()

    def __init__(self):
        self.state = {slot: {} for slot in (*self.ARRAY_SLOTS, *self.COUNTER_SLOTS)}

    def _array_slot(self, slot, param_name, param):
        """The state array for ``param_name``: made as zeros like ``param`` on first use, and
        brought to ``param``'s kind of array, dtype and device when it is not (restored from a
        checkpoint, or the model moved to another device)."""
        table = self.state[slot]
        value = table.get(param_name)
        if value is None:
            value = table[param_name] = array_namespace(param).zeros_like(param)
        elif not _like(value, param):
            value = table[param_name] = self.kernels.asarray(value, dtype=param.dtype, device=device_of(param))
        return value

    def _clipped(self, grad):
        """``grad`` clipped to norm ``clip_norm`` by the backend's kernel (as it is without one)."""
        return grad if self.clip_norm is None else self.kernels.optimizer_clip_by_norm(grad, self.clip_norm)

    def state_dict(self):
        to_numpy = self.kernels.to_numpy
        state = {"lr": float(self.lr)}
        for slot, table in self.state.items():
            for param_name, value in table.items():
                state[f"{slot}{SLOT_SEPARATOR}{param_name}"] = (
                    int(value) if slot in self.COUNTER_SLOTS else to_numpy(value)
                )
        return state

    def load_state_dict(self, state):
        """Replace all state with ``state`` (as from ``state_dict`` of either backend; 0-d arrays
        from ``.npz`` and tensors work). Arrays are kept as numpy copies until their parameter's
        next update."""
        to_numpy = self.kernels.to_numpy
        restored = {slot: {} for slot in self.state}
        lr = self.lr
        for key, value in state.items():
            if key == "lr":
                lr = float(value)
                continue
            slot, separator, param_name = key.partition(SLOT_SEPARATOR)
            if not separator or slot not in restored or not param_name:
                raise CorruptFileError(
                    f"{type(self).__name__} state has an unknown key {key!r}; keys are 'lr' and "
                    f"'<slot>/<param_name>' with slot one of: {', '.join(restored)}"
                )
            restored[slot][param_name] = int(value) if slot in self.COUNTER_SLOTS else to_numpy(value)
        self.lr = lr
        self.state = restored


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball or Nesterov) momentum.

    ``v = momentum * v - lr * g``; ``param += v``. With ``momentum=0`` that is ``param -= lr * g``.
    ``g`` is the gradient clipped to norm ``clip_norm`` when that is set, times the parameter's
    ``lr_scale``, plus ``weight_decay * param``.

    ``nesterov=True`` (needs ``momentum > 0``) steps with the velocity looked one step ahead:
    ``v = momentum * v - lr * g``; ``param += momentum * v - lr * g``. The gradient then acts
    at once as well as through the velocity, which damps the overshoot of plain momentum. At a
    constant ``lr`` this is exactly torch's ``SGD(nesterov=True)`` (whose buffer is ``-v / lr``);
    when ``lr`` changes between steps the two differ slightly, as the plain forms do.
    """

    ARRAY_SLOTS = ("velocity",)

    def __init__(self, lr=0.01, momentum=0.0, clip_norm=None, weight_decay=0.0, nesterov=False):
        super().__init__()
        self.lr = positive_number("lr", lr)
        self.momentum = _in_unit_interval("momentum", momentum)
        self.clip_norm = _optional_positive("clip_norm", clip_norm)
        self.weight_decay = _non_negative("weight_decay", weight_decay)
        self.nesterov = _nesterov(nesterov, self.momentum)

    def update(self, param_name, param, param_grad, lr_scale=1.0):
        grad = self._clipped(param_grad)
        lr_scale = check_lr_scale(lr_scale)
        velocity = self._array_slot("velocity", param_name, param)
        scalars = SGDStep.of(
            lr=self.lr,
            momentum=self.momentum,
            lr_scale=lr_scale,
            weight_decay=self.weight_decay,
            nesterov=self.nesterov,
        )
        self.kernels.optimizer_sgd_step(param, grad, velocity, scalars)
        return param

    def __repr__(self):
        return (
            f"SGD(lr={self.lr!r}, momentum={self.momentum!r}, clip_norm={self.clip_norm!r}, "
            f"weight_decay={self.weight_decay!r}, nesterov={self.nesterov!r})"
        )


def _nesterov(nesterov, momentum):
    if not isinstance(nesterov, bool):
        raise ConfigError(f"option 'nesterov' must be true or false, got {nesterov!r}")
    if nesterov and momentum == 0:
        raise ConfigError(
            "option 'nesterov' = true needs momentum > 0 (Nesterov's look-ahead is along the velocity); "
            "set momentum in (0, 1) or leave nesterov false"
        )
    return nesterov


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with bias correction and a step count per parameter.

    For parameter step ``t`` (from 1): ``m = beta1*m + (1-beta1)*g``,
    ``v = beta2*v + (1-beta2)*g**2``, ``m_hat = m / (1 - beta1**t)``, ``v_hat = v / (1 - beta2**t)``,
    ``param -= lr * m_hat / (sqrt(v_hat) + epsilon)``. Counting steps per parameter keeps the
    bias correction right for a parameter that joins (or skips) some steps.

    ``weight_decay`` is decoupled (AdamW): ``param *= 1 - lr * weight_decay`` first, the moment
    estimates never seeing it. A parameter's ``lr_scale`` multiplies the step,
    ``lr * lr_scale * m_hat / (sqrt(v_hat) + epsilon)``, and not the decay.
    """

    ARRAY_SLOTS = ("m", "v")
    COUNTER_SLOTS = ("t",)

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, clip_norm=None, weight_decay=0.0):
        super().__init__()
        self.lr = positive_number("lr", lr)
        self.beta1 = _in_unit_interval("beta1", beta1)
        self.beta2 = _in_unit_interval("beta2", beta2)
        self.epsilon = positive_number("epsilon", epsilon)
        self.clip_norm = _optional_positive("clip_norm", clip_norm)
        self.weight_decay = _non_negative("weight_decay", weight_decay)

    def update(self, param_name, param, param_grad, lr_scale=1.0):
        lr_scale = check_lr_scale(lr_scale)
        grad = self._clipped(param_grad)
        step = self.state["t"].get(param_name, 0) + 1
        self.state["t"][param_name] = step
        m = self._array_slot("m", param_name, param)
        v = self._array_slot("v", param_name, param)
        scalars = AdamStep.at(
            step,
            lr=self.lr,
            lr_scale=lr_scale,
            beta1=self.beta1,
            beta2=self.beta2,
            epsilon=self.epsilon,
            weight_decay=self.weight_decay,
        )
        self.kernels.optimizer_adam_step(param, grad, m, v, scalars)
        return param

    def __repr__(self):
        return (
            f"Adam(lr={self.lr!r}, beta1={self.beta1!r}, beta2={self.beta2!r}, "
            f"epsilon={self.epsilon!r}, clip_norm={self.clip_norm!r}, weight_decay={self.weight_decay!r})"
        )
