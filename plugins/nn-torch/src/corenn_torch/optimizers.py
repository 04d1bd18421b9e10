"""The optimizers on the torch backend: the core's SGD and Adam, updating tensors in place.

Options, their checks and the update formulas are the core's (:mod:`corenn.nn.optimizers`); the
classes here subclass them and do the arithmetic with torch ops, on the parameter's device.
State (velocity, moment estimates) is kept as tensors beside each parameter, made lazily in
its dtype and on its device.

``state_dict()`` gives the core's checkpoint format exactly: keys ``"<slot>/<param_name>"``
and ``"lr"``, values numpy arrays (copied to the CPU), floats and ints. So a checkpoint
written by either backend resumes on either: ``load_state_dict`` keeps what it is given, and
each array moves to its parameter's device at that parameter's next update.
"""

import torch

from corenn.nn import optimizers as numpy_optimizers
from corenn.nn.optimizers import SLOT_SEPARATOR, check_lr_scale

from corenn_torch.tensors import like, to_numpy


def clip_by_norm(grad, clip_norm):
    """``grad`` scaled so that its L2 norm is at most ``clip_norm`` (unchanged if ``None``).

    The norm is computed in float64, as on numpy, and the choice to scale is made on the
    device (a factor of exactly 1 when the norm is within bounds): reading the norm back to
    the host would stall a GPU at every update.
    """
    if clip_norm is None:
        return grad
    norm = torch.linalg.vector_norm(grad, dtype=torch.float64)
    factor = torch.clamp(clip_norm / norm, max=1.0)
    return grad * factor.to(grad.dtype)


class _TensorState:
    """Per-parameter state slots held as tensors, saved and restored as numpy arrays."""

    def _tensor_slot(self, slot, param_name, param):
        """The state tensor for ``param_name`` in ``param``'s dtype and on its device, made as
        zeros on first use (or moved there from a restored numpy array)."""
        table = self.state[slot]
        value = table.get(param_name)
        if value is None:
            value = torch.zeros_like(param)
        elif not torch.is_tensor(value) or value.device != param.device or value.dtype != param.dtype:
            value = like(value, param)
        table[param_name] = value
        return value

    def state_dict(self):
        state = {"lr": float(self.lr)}
        for slot, table in self.state.items():
            for param_name, value in table.items():
                key = f"{slot}{SLOT_SEPARATOR}{param_name}"
                state[key] = int(value) if slot in self.COUNTER_SLOTS else to_numpy(value)
        return state

    def load_state_dict(self, state):
        """Restore what ``state_dict`` returned (of either backend; tensors are accepted too)."""
        super().load_state_dict(
            {key: to_numpy(value) if torch.is_tensor(value) else value for key, value in state.items()}
        )


class SGD(_TensorState, numpy_optimizers.SGD):
    """Stochastic gradient descent with (heavy-ball or Nesterov) momentum, as the core's:
    ``v = momentum * v - lr * g``; ``param += v`` (``param += momentum * v - lr * g`` with
    ``nesterov``), ``g`` first clipped to norm ``clip_norm`` when that is set, times the
    parameter's ``lr_scale``, plus ``weight_decay * param``."""

    def update(self, param_name, param, param_grad, lr_scale=1.0):
        grad = clip_by_norm(param_grad, self.clip_norm)
        lr_scale = check_lr_scale(lr_scale)
        if lr_scale != 1.0:
            grad = lr_scale * grad
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        velocity = self._tensor_slot("velocity", param_name, param)
        velocity.mul_(self.momentum)
        velocity.sub_(self.lr * grad)
        if self.nesterov:
            param.add_(self.momentum * velocity - self.lr * grad)
        else:
            param.add_(velocity)
        return param


class Adam(_TensorState, numpy_optimizers.Adam):
    """Adam with bias correction and a step count per parameter, decoupled (AdamW)
    ``weight_decay``, and ``lr_scale`` on the step but not the decay, as the core's."""

    def update(self, param_name, param, param_grad, lr_scale=1.0):
        step_lr = self.lr * check_lr_scale(lr_scale)
        grad = clip_by_norm(param_grad, self.clip_norm)
        if self.weight_decay:
            param.mul_(1.0 - self.lr * self.weight_decay)
        step = self.state["t"].get(param_name, 0) + 1
        self.state["t"][param_name] = step
        m = self._tensor_slot("m", param_name, param)
        v = self._tensor_slot("v", param_name, param)
        m.mul_(self.beta1).add_((1.0 - self.beta1) * grad)
        v.mul_(self.beta2).add_((1.0 - self.beta2) * torch.square(grad))
        m_hat = m / (1.0 - self.beta1**step)
        v_hat = v / (1.0 - self.beta2**step)
        param.sub_(step_lr * m_hat / (torch.sqrt(v_hat) + self.epsilon))
        return param
