"""Optimizers: ``update(param_name, param, param_grad)`` changes ``param`` in place and returns it.

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
"""

import math
import numbers

import numpy as np

from corenn.errors import ConfigError, CorruptFileError

SLOT_SEPARATOR = "/"


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ConfigError(f"option {name!r} must be a finite number, got {value!r}")
    return float(value)


def _positive(name, value):
    value = _number(name, value)
    if value <= 0:
        raise ConfigError(f"option {name!r} must be > 0, got {value!r}")
    return value


def _in_unit_interval(name, value):
    """A value in [0, 1): a decay rate for momentum or a moment estimate."""
    value = _number(name, value)
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"option {name!r} must be in [0, 1), got {value!r}")
    return value


def _non_negative(name, value):
    value = _number(name, value)
    if value < 0:
        raise ConfigError(f"option {name!r} must be >= 0 (0 turns it off), got {value!r}")
    return value


def _optional_positive(name, value):
    return None if value is None else _positive(name, value)


def clip_by_norm(grad, clip_norm):
    """``grad`` scaled so that its L2 norm is at most ``clip_norm`` (unchanged if ``None``).

    Returns a new array when it scales, never changing the layer's own gradient.
    """
    if clip_norm is None:
        return grad
    norm = float(np.sqrt(np.sum(np.square(grad, dtype=np.float64))))
    if norm > clip_norm:
        return grad * (clip_norm / norm)
    return grad


class _StatefulOptimizer:
    """Per-parameter state slots (arrays or int counters) and their flat ``state_dict``."""

    ARRAY_SLOTS = ()
    COUNTER_SLOTS = ()

    def __init__(self):
        self.state = {slot: {} for slot in (*self.ARRAY_SLOTS, *self.COUNTER_SLOTS)}

    def _array_slot(self, slot, param_name, param):
        """The state array for ``param_name``, made as zeros like ``param`` on first use."""
        table = self.state[slot]
        if param_name not in table:
            table[param_name] = np.zeros_like(param)
        return table[param_name]

    def state_dict(self):
        state = {"lr": float(self.lr)}
        for slot, table in self.state.items():
            for param_name, value in table.items():
                state[f"{slot}{SLOT_SEPARATOR}{param_name}"] = (
                    int(value) if slot in self.COUNTER_SLOTS else value.copy()
                )
        return state

    def load_state_dict(self, state):
        """Replace all state with ``state`` (as from ``state_dict``; 0-d arrays from ``.npz`` work)."""
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
            restored[slot][param_name] = int(value) if slot in self.COUNTER_SLOTS else np.array(value, copy=True)
        self.lr = lr
        self.state = restored


class SGD(_StatefulOptimizer):
    """Stochastic gradient descent with (heavy-ball) momentum.

    ``v = momentum * v - lr * g``; ``param += v``. With ``momentum=0`` that is ``param -= lr * g``.
    ``g`` is the gradient clipped to norm ``clip_norm`` when that is set, plus
    ``weight_decay * param``.
    """

    ARRAY_SLOTS = ("velocity",)

    def __init__(self, lr=0.01, momentum=0.0, clip_norm=None, weight_decay=0.0):
        super().__init__()
        self.lr = _positive("lr", lr)
        self.momentum = _in_unit_interval("momentum", momentum)
        self.clip_norm = _optional_positive("clip_norm", clip_norm)
        self.weight_decay = _non_negative("weight_decay", weight_decay)

    def update(self, param_name, param, param_grad):
        grad = clip_by_norm(param_grad, self.clip_norm)
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        velocity = self._array_slot("velocity", param_name, param)
        velocity *= self.momentum
        velocity -= self.lr * grad
        param += velocity
        return param

    def __repr__(self):
        return (
            f"SGD(lr={self.lr!r}, momentum={self.momentum!r}, clip_norm={self.clip_norm!r}, "
            f"weight_decay={self.weight_decay!r})"
        )


class Adam(_StatefulOptimizer):
    """Adam (Kingma & Ba 2015) with bias correction and a step count per parameter.

    For parameter step ``t`` (from 1): ``m = beta1*m + (1-beta1)*g``,
    ``v = beta2*v + (1-beta2)*g**2``, ``m_hat = m / (1 - beta1**t)``, ``v_hat = v / (1 - beta2**t)``,
    ``param -= lr * m_hat / (sqrt(v_hat) + epsilon)``. Counting steps per parameter keeps the
    bias correction right for a parameter that joins (or skips) some steps.

    ``weight_decay`` is decoupled (AdamW): ``param *= 1 - lr * weight_decay`` first, the moment
    estimates never seeing it.
    """

    ARRAY_SLOTS = ("m", "v")
    COUNTER_SLOTS = ("t",)

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, clip_norm=None, weight_decay=0.0):
        super().__init__()
        self.lr = _positive("lr", lr)
        self.beta1 = _in_unit_interval("beta1", beta1)
        self.beta2 = _in_unit_interval("beta2", beta2)
        self.epsilon = _positive("epsilon", epsilon)
        self.clip_norm = _optional_positive("clip_norm", clip_norm)
        self.weight_decay = _non_negative("weight_decay", weight_decay)

    def update(self, param_name, param, param_grad):
        grad = clip_by_norm(param_grad, self.clip_norm)
        if self.weight_decay:
            param *= 1.0 - self.lr * self.weight_decay
        step = self.state["t"].get(param_name, 0) + 1
        self.state["t"][param_name] = step
        m = self._array_slot("m", param_name, param)
        v = self._array_slot("v", param_name, param)
        m *= self.beta1
        m += (1.0 - self.beta1) * grad
        v *= self.beta2
        v += (1.0 - self.beta2) * np.square(grad)
        m_hat = m / (1.0 - self.beta1**step)
        v_hat = v / (1.0 - self.beta2**step)
        param -= self.lr * m_hat / (np.sqrt(v_hat) + self.epsilon)
        return param

    def __repr__(self):
        return (
            f"Adam(lr={self.lr!r}, beta1={self.beta1!r}, beta2={self.beta2!r}, "
            f"epsilon={self.epsilon!r}, clip_norm={self.clip_norm!r}, weight_decay={self.weight_decay!r})"
        )
