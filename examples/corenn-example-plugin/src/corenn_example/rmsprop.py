"""The rmsprop optimizer (Hinton's lecture 6e): each parameter's step divided by a running
root mean square of its gradients, and the kernel its update is written in.

The update of one parameter is a kernel, declared here with its reference: the formula on
whole arrays, returning new arrays, so that it runs on every backend (and on one whose arrays
cannot be written). The optimizer keeps the running mean square in a state slot, made lazily
per parameter in the parameter's dtype and device (``Optimizer.array_slot``), which
``state_dict`` and ``load_state_dict`` save and restore for checkpoints.
"""

import math
import numbers

from corenn.backend import array_namespace
from corenn.errors import ConfigError
from corenn.kernels import kernel
from corenn.nn.optimizers import Optimizer, check_lr_scale


@kernel(examples="corenn_example.kernel_examples:rmsprop_step")
def rmsprop_step(param, grad, square_avg, lr, alpha, epsilon):
    """One rmsprop step of one parameter: the new ``(param, square_avg)``::

    square_avg = alpha * square_avg + (1 - alpha) * grad**2
    param = param - lr * grad / (sqrt(square_avg) + epsilon)
    """
    xp = array_namespace(param)
    square_avg = alpha * square_avg + (1.0 - alpha) * xp.square(grad)
    return param - lr * grad / (xp.sqrt(square_avg) + epsilon), square_avg


def _rate(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not low < value < high:
        raise ConfigError(f"{name} must be a number in ({low}, {high}), got {value!r}")
    return float(value)


class RMSprop(Optimizer):
    """rmsprop: ``square_avg = alpha * square_avg + (1 - alpha) * g**2``, ``param -= lr * g / (sqrt(square_avg) + epsilon)``.

    ``g`` is the parameter's gradient; a layer's ``lr_scale`` multiplies its ``lr``.
    """

    name = "rmsprop"
    ARRAY_SLOTS = ("square_avg",)  # state_dict() keys: "square_avg/<parameter name>", and "lr"

    def __init__(self, lr=0.01, alpha=0.99, epsilon=1e-8):
        super().__init__()
        self.lr = _rate("lr", lr, 0.0, math.inf)
        self.alpha = _rate("alpha", alpha, 0.0, 1.0)
        self.epsilon = _rate("epsilon", epsilon, 0.0, math.inf)

    def __repr__(self):
        return f"RMSprop(lr={self.lr!r}, alpha={self.alpha!r}, epsilon={self.epsilon!r})"

    def update(self, param_name, param, param_grad, lr_scale=1.0):
        square_avg = self.array_slot("square_avg", param_name, param)
        lr = self.lr * check_lr_scale(lr_scale)
        param, self.state["square_avg"][param_name] = rmsprop_step(
            param, param_grad, square_avg, lr, self.alpha, self.epsilon
        )
        return param
