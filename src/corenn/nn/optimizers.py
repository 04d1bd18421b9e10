"""Optimizers: ``update(param_name, param, param_grad, lr_scale=1.0)`` returns the updated
parameter.

``update`` steps one parameter, with a name unique in the model (``"0.W"``);
``update_all(params, grads, lr_scales)`` steps all of them in one call, which is what the
trainer calls once per step (after setting ``lr`` from the scheduler), storing each array it
returns in place of the parameter's (see ``Trainer.update``). ``update_all`` steps small numpy
parameters that share their step's scalars together, one kernel call over flat arrays whose
views are the parameters and the state (:mod:`corenn.nn.flat_groups`), and every other
parameter by one ``update``; both give the same bits. Any state an
optimizer keeps (momentum, moment estimates, step counts) is keyed by that name and created
lazily in the parameter's dtype, so a float32 model stays float32.

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
torch's ``AdamW``): ``param = (1 - lr * weight_decay) * param`` before the Adam step. Added to
Adam's gradient the decay would be divided by ``sqrt(v_hat)`` and so act weakest on the
parameters with the largest gradients. Neither changes the format of ``state_dict``.

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
their ``state_dict``, step counts) is in its class, and its math in three kernels declared here
(see :mod:`corenn.kernels`): :func:`clip_by_norm`, :func:`sgd_step` and :func:`adam_step`. Their
references are the papers' formulas on whole arrays, returning new arrays, so they run on any
backend's arrays, immutable ones included; the optimizer stores the state arrays a step returns
in its slots. The backends' overrides compute the same bits faster: numpy's
(:mod:`corenn.nn.fast_optimizers`) run the formulas block by block in place, so that each block
stays in the CPU's cache and nothing is allocated per step (whole-array expressions made a pass
over memory and often a parameter-sized temporary per operation: Adam's was half of a float32
training step of a large MLP); torch's run them in place on whole tensors, and clip on the
device, since reading a GPU's norm back would stall it at every update.

``state_dict()`` gives numpy arrays on every backend (the backend's ``to_numpy``), so a
checkpoint written by either backend resumes on either: a restored array becomes the
parameter's kind of array, in its dtype and on its device, at that parameter's next update.
"""

import inspect
import math
import numbers
from typing import NamedTuple

import numpy as np

from corenn.backend import array_namespace, as_dtype, device_of
from corenn.errors import ConfigError, CorruptFileError
from corenn.kernels import kernel
from corenn.nn.component import Component
from corenn.nn.flat_groups import SMALL_PARAMETER_ELEMENTS, FlatGroup, concatenated, n_elements
from corenn.nn.options import finite_number, positive_number

SLOT_SEPARATOR = "/"


@kernel(examples="corenn.nn.kernel_examples:clip_by_norm")
def clip_by_norm(grad, clip_norm):
    """``grad`` scaled down to L2 norm ``clip_norm`` when its norm is larger::

        norm = sqrt(sum(grad**2))                   (in float64)
        grad * (clip_norm / norm)   if norm > clip_norm,   else grad

    ``grad`` itself is returned when it is within the norm (or ``clip_norm`` is ``None``); a
    scaled gradient is a new array, never the layer's own gradient changed.
    """
    if clip_norm is None:
        return grad
    xp = array_namespace(grad)
    norm = float(xp.sqrt(xp.sum(xp.square(as_dtype(grad, xp.float64)))))
    return grad * (clip_norm / norm) if norm > clip_norm else grad


class SGDStep(NamedTuple):
    """The scalars of one SGD step of one parameter, in Python floats.

    ``lr_scale`` is ``None`` when the parameter's factor is 1 and ``weight_decay`` is 0 when
    there is none: the step then skips that operation.
    """

    lr: float
    momentum: float
    lr_scale: float | None
    weight_decay: float
    nesterov: bool

    @classmethod
    def of(cls, *, lr, momentum, lr_scale, weight_decay, nesterov):
        return cls(lr, momentum, None if lr_scale == 1.0 else lr_scale, weight_decay, nesterov)


@kernel(examples="corenn.nn.kernel_examples:sgd_step")
def sgd_step(param, grad, velocity, scalars):
    """One SGD step with (heavy-ball or Nesterov) momentum: the new ``(param, velocity)``::

        g = lr_scale * grad + weight_decay * param         (each term when it is set)
        velocity = momentum * velocity - lr * g
        param = param + velocity                           (heavy ball)
        param = param + momentum * velocity - lr * g       (Nesterov, with the new velocity)

    ``scalars`` is an :class:`SGDStep`. Each result keeps its array's dtype: a gradient wider
    than the parameter is stepped in its dtype and the result rounded once.
    """
    g = grad if scalars.lr_scale is None else scalars.lr_scale * grad
    if scalars.weight_decay:
        g = g + scalars.weight_decay * param
    velocity = as_dtype(scalars.momentum * velocity - scalars.lr * g, velocity.dtype)
    step = scalars.momentum * velocity - scalars.lr * g if scalars.nesterov else velocity
    return as_dtype(param + step, param.dtype), velocity


class AdamStep(NamedTuple):
    """The scalars of one Adam step of one parameter, computed on the host in Python floats.

    ``decay`` is AdamW's factor ``1 - lr * weight_decay`` (``None`` without weight decay);
    ``step_lr`` is ``lr * lr_scale``; the bias corrections are ``1 - beta**t`` at the
    parameter's step ``t``.
    """

    beta1: float
    beta2: float
    epsilon: float
    step_lr: float
    bias_correction1: float
    bias_correction2: float
    decay: float | None

    @classmethod
    def at(cls, step, *, lr, lr_scale, beta1, beta2, epsilon, weight_decay):
        """The scalars of parameter step ``step`` (from 1)."""
        return cls(
            beta1=beta1,
            beta2=beta2,
            epsilon=epsilon,
            step_lr=lr * lr_scale,
            bias_correction1=1.0 - beta1**step,
            bias_correction2=1.0 - beta2**step,
            decay=1.0 - lr * weight_decay if weight_decay else None,
        )


@kernel(examples="corenn.nn.kernel_examples:adam_step")
def adam_step(param, grad, m, v, scalars):
    """One Adam step (Kingma & Ba 2015) at the parameter's step ``t``, with AdamW's decoupled
    weight decay: the new ``(param, m, v)``::

        param = (1 - lr * weight_decay) * param          (when weight_decay is set)
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        m_hat = m / (1 - beta1**t)
        v_hat = v / (1 - beta2**t)
        param = param - lr * lr_scale * m_hat / (sqrt(v_hat) + epsilon)

    ``scalars`` is an :class:`AdamStep` (the factors above, computed once per step on the
    host). The moments keep their dtype, the parameter's.
    """
    xp = array_namespace(param)
    if scalars.decay is not None:
        param = param * scalars.decay
    m = as_dtype(scalars.beta1 * m + (1.0 - scalars.beta1) * grad, m.dtype)
    v = as_dtype(scalars.beta2 * v + (1.0 - scalars.beta2) * xp.square(grad), v.dtype)
    m_hat = m / scalars.bias_correction1
    v_hat = v / scalars.bias_correction2
    return param - scalars.step_lr * m_hat / (xp.sqrt(v_hat) + scalars.epsilon), m, v


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


def update_one(optimizer, name, param, grad, lr_scales):
    """One parameter's :meth:`Optimizer.update`, given ``lr_scale`` only where ``lr_scales`` (the
    factors other than 1) names it: an optimizer that does not know ``lr_scale`` still runs
    configs that scale nothing."""
    if name in lr_scales:
        return optimizer.update(name, param, grad, lr_scale=lr_scales[name])
    return optimizer.update(name, param, grad)


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


def _groupable(param, grad):
    """Whether ``param`` may be stepped in a group: a small numpy parameter with a gradient of
    its shape."""
    return (
        type(param) is np.ndarray
        and type(grad) is np.ndarray
        and grad.shape == param.shape
        and n_elements(param) <= SMALL_PARAMETER_ELEMENTS
    )


def _steps_groups(cls):
    """Whether optimizers of class ``cls`` step groups: their ``update`` is still the one written
    beside their ``_step_group`` (a subclass, or a test, that changes ``update`` gets one call of
    it per parameter, as before groups existed)."""
    return getattr(cls, "_update_beside_step_group", None) is cls.update


class Optimizer(Component):
    """Base of the optimizers: per-parameter state slots (arrays or int counters) and their
    flat ``state_dict``, on the backend the optimizer was built for.

    A subclass's ``update`` hands a slot's arrays to its step kernel and stores the arrays the
    kernel returns back in the slot: a kernel's reference returns new arrays, numpy's override
    the very arrays it was given, written in place.
    """

    ARRAY_SLOTS = ()
    COUNTER_SLOTS = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "_step_group" in vars(cls):
            cls._update_beside_step_group = cls.update

    def __init__(self):
        self.state = {slot: {} for slot in (*self.ARRAY_SLOTS, *self.COUNTER_SLOTS)}
        self._groups = {}  # (names, lr_scale) -> FlatGroup, see update_all

    def update_all(self, params, grads, lr_scales=None):
        """One step of every parameter: ``params`` and ``grads`` map names to arrays,
        ``lr_scales`` names to their factors other than 1. Returns ``{name: array}`` for the
        parameters whose array is now another than the one given (the caller stores those).

        Small numpy parameters that share their step's scalars are stepped together, one kernel
        call per group over flat arrays (see :mod:`corenn.nn.flat_groups`: a call's fixed cost
        was most of a small network's update); the others by one :meth:`update` each. Every
        element gets the bits :meth:`update` would give it.
        """
        lr_scales = lr_scales or {}
        updated, groups = {}, {}
        steps_groups = _steps_groups(type(self))
        for name, param in params.items():
            grad, lr_scale = grads[name], lr_scales.get(name, 1.0)
            if steps_groups and _groupable(param, grad):
                key = (lr_scale, param.dtype, grad.dtype, self._group_key(name))
                groups.setdefault(key, []).append(name)
                continue
            new = update_one(self, name, param, grad, lr_scales)
            if new is not param:
                updated[name] = new
        for (lr_scale, *_), names in groups.items():
            updated |= self._update_group(tuple(names), params, grads, check_lr_scale(lr_scale))
        return updated

    def _group_key(self, param_name):
        """What else, beside the learning-rate factor and dtypes, must be equal for two
        parameters to share a step (Adam: the step count)."""
        return None

    def _step_group(self, names, group, grad, lr_scale):
        """Step the group's flat arrays (``group.flat``) with the flat gradient ``grad``;
        returns ``{"param": array, slot: array, ...}``, the flat arrays the kernel returned."""
        raise NotImplementedError

    def _update_group(self, names, params, grads, lr_scale):
        """Step the parameters ``names`` together (see :meth:`update_all`)."""
        arrays = [params[name] for name in names]
        group = self._groups.get((names, lr_scale))
        if (
            group is None
            or not group.holds("param", arrays)
            or not all(group.holds(slot, [self.state[slot].get(name) for name in names]) for slot in self.ARRAY_SLOTS)
        ):  # first step, or arrays replaced since (a checkpoint restored): gather them into flat ones
            group = self._groups[(names, lr_scale)] = FlatGroup(names, [array.shape for array in arrays])
            group.set("param", concatenated(arrays))
            for slot in self.ARRAY_SLOTS:
                flat = concatenated([self.array_slot(slot, name, params[name]) for name in names])
                self.state[slot].update(zip(names, group.set(slot, flat), strict=True))
        grad = concatenated([self.clipped(grads[name]) for name in names])
        stepped = self._step_group(names, group, grad, lr_scale)
        for slot in self.ARRAY_SLOTS:
            self.state[slot].update(zip(names, group.set(slot, stepped[slot]), strict=True))
        views = group.set("param", stepped["param"])
        return {name: view for name, view, array in zip(names, views, arrays, strict=True) if view is not array}

    def array_slot(self, slot, param_name, param):
        """The state array for ``param_name``: made as zeros like ``param`` on first use, and
        brought to ``param``'s kind of array, dtype and device when it is not (restored from a
        checkpoint, or the model moved to another device)."""
        table = self.state[slot]
        value = table.get(param_name)
        if value is None:
            value = table[param_name] = array_namespace(param).zeros_like(param)
        elif not _like(value, param):
            value = table[param_name] = self.backend.asarray(value, dtype=param.dtype, device=device_of(param))
        return value

    def clipped(self, grad):
        """``grad`` clipped to norm ``clip_norm`` (as it is without one)."""
        return grad if self.clip_norm is None else clip_by_norm(grad, self.clip_norm)

    def state_dict(self):
        to_numpy = self.backend.to_numpy
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
        to_numpy = self.backend.to_numpy
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

    ``v = momentum * v - lr * g``; ``param = param + v``. With ``momentum=0`` that is
    ``param = param - lr * g``.
    ``g`` is the gradient clipped to norm ``clip_norm`` when that is set, times the parameter's
    ``lr_scale``, plus ``weight_decay * param``.

    ``nesterov=True`` (needs ``momentum > 0``) steps with the velocity looked one step ahead:
    ``v = momentum * v - lr * g``; ``param = param + momentum * v - lr * g``. The gradient then acts
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
        grad = self.clipped(param_grad)
        lr_scale = check_lr_scale(lr_scale)
        velocity = self.array_slot("velocity", param_name, param)
        scalars = self._scalars(lr_scale)
        param, self.state["velocity"][param_name] = sgd_step(param, grad, velocity, scalars)
        return param

    def _scalars(self, lr_scale):
        return SGDStep.of(
            lr=self.lr,
            momentum=self.momentum,
            lr_scale=lr_scale,
            weight_decay=self.weight_decay,
            nesterov=self.nesterov,
        )

    def _step_group(self, names, group, grad, lr_scale):
        scalars = self._scalars(lr_scale)
        param, velocity = sgd_step(group.flat["param"], grad, group.flat["velocity"], scalars)
        return {"param": param, "velocity": velocity}

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
    ``param = param - lr * m_hat / (sqrt(v_hat) + epsilon)``. Counting steps per parameter keeps the
    bias correction right for a parameter that joins (or skips) some steps.

    ``weight_decay`` is decoupled (AdamW): ``param = (1 - lr * weight_decay) * param`` first, the moment
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
        grad = self.clipped(param_grad)
        step = self.state["t"].get(param_name, 0) + 1
        self.state["t"][param_name] = step
        m = self.array_slot("m", param_name, param)
        v = self.array_slot("v", param_name, param)
        scalars = self._scalars(step, lr_scale)
        param, self.state["m"][param_name], self.state["v"][param_name] = adam_step(param, grad, m, v, scalars)
        return param

    def _scalars(self, step, lr_scale):
        return AdamStep.at(
            step,
            lr=self.lr,
            lr_scale=lr_scale,
            beta1=self.beta1,
            beta2=self.beta2,
            epsilon=self.epsilon,
            weight_decay=self.weight_decay,
        )

    def _group_key(self, param_name):
        return self.state["t"].get(param_name, 0)

    def _step_group(self, names, group, grad, lr_scale):
        step = self.state["t"].get(names[0], 0) + 1  # the same for every name: it is in the group's key
        self.state["t"].update(dict.fromkeys(names, step))
        scalars = self._scalars(step, lr_scale)
        param, m, v = adam_step(group.flat["param"], grad, group.flat["m"], group.flat["v"], scalars)
        return {"param": param, "m": m, "v": v}

    def __repr__(self):
        return (
            f"Adam(lr={self.lr!r}, beta1={self.beta1!r}, beta2={self.beta2!r}, "
            f"epsilon={self.epsilon!r}, clip_norm={self.clip_norm!r}, weight_decay={self.weight_decay!r})"
        )
