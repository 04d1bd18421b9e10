"""The optimizers' element-wise update formulas, written once for every backend's kernel to run.

An optimizer (:mod:`corenn.nn.optimizers`) keeps the bookkeeping (options, state slots, step
counts, clipping) and hands one parameter's arrays to its backend's kernel; the kernel decides
*how* the formula runs over them (numpy: block by block over flat views, so each block stays in
the CPU's cache; torch: on whole tensors, since on a GPU blocks would only add launches), and
this module says *what* it computes, once.

The formula is a sequence of element-wise operations, each writing into an array it is given:
in place with the operators (``m *= beta1``; ``mul_`` on torch) or into a scratch array
(``xp.multiply(grad, 1 - beta1, out=scratch)``, which numpy and torch both have), so a kernel
that hands it preallocated scratch arrays allocates nothing per step. Its operations, their order and their
operands are those of the whole-array expressions the optimizer used before it was a kernel
(``m += (1 - beta1) * grad``, ``velocity -= lr * grad``, ...), so every element gets the same bits: a Python float times a
float32 array stays float32, and an operation on one element never depends on another element,
so running the formula on slices of the arrays changes nothing.
"""

from typing import NamedTuple


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


def adam_step(xp, scalars, param, grad, m, v, gradient_term, numerator, denominator):
    """One Adam step, in place on ``param``, ``m`` and ``v``::

        param *= decay                                   (AdamW, when weight_decay is set)
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        param -= step_lr * (m / bias_correction1) / (sqrt(v / bias_correction2) + epsilon)

    ``xp`` is the array library (numpy, torch); ``scalars`` an :class:`AdamStep`. The three
    scratch arrays have the shape of ``param``: ``gradient_term`` the dtype of ``grad`` (it holds
    ``(1 - beta1) * grad`` and ``(1 - beta2) * grad**2``), ``numerator`` and ``denominator`` that
    of ``param``. ``denominator`` may be ``gradient_term`` itself when the two dtypes agree: it
    is first written after the last use of ``gradient_term``.
    """
    if scalars.decay is not None:
        param *= scalars.decay
    m *= scalars.beta1
    xp.multiply(grad, 1.0 - scalars.beta1, out=gradient_term)
    m += gradient_term
    v *= scalars.beta2
    xp.square(grad, out=gradient_term)
    gradient_term *= 1.0 - scalars.beta2
    v += gradient_term
    xp.divide(m, scalars.bias_correction1, out=numerator)  # m_hat
    numerator *= scalars.step_lr
    xp.divide(v, scalars.bias_correction2, out=denominator)  # v_hat
    xp.sqrt(denominator, out=denominator)
    denominator += scalars.epsilon
    numerator /= denominator
    param -= numerator


class SGDStep(NamedTuple):
    """The scalars of one SGD step of one parameter, in Python floats.

    ``lr_scale`` is ``None`` when the parameter's factor is 1 and ``weight_decay`` is 0 when
    there is none: the formula then skips that operation, as the whole-array expressions did.
    """

    lr: float
    momentum: float
    lr_scale: float | None
    weight_decay: float
    nesterov: bool

    @classmethod
    def of(cls, *, lr, momentum, lr_scale, weight_decay, nesterov):
        return cls(lr, momentum, None if lr_scale == 1.0 else lr_scale, weight_decay, nesterov)


def sgd_step(xp, scalars, param, grad, velocity, gradient, step_term, lookahead):
    """One SGD step with (heavy-ball or Nesterov) momentum, in place on ``param`` and ``velocity``::

        g = lr_scale * grad + weight_decay * param         (each term when it is set)
        velocity = momentum * velocity - lr * g
        param += velocity                                  (heavy ball)
        param += momentum * velocity - lr * g              (Nesterov)

    ``xp`` is the array library, ``scalars`` an :class:`SGDStep`. The scratch arrays have the
    shape of ``param``: ``gradient`` (for ``g``) and ``step_term`` (``weight_decay * param``,
    then ``lr * g``) the dtype of ``g``, ``lookahead`` (Nesterov's ``momentum * velocity - lr *
    g``) that of ``param`` and ``g`` together. ``lookahead`` may be ``gradient`` itself when the
    dtypes agree: it is first written after the last use of ``g``.
    """
    g = grad
    if scalars.lr_scale is not None:
        xp.multiply(grad, scalars.lr_scale, out=gradient)
        g = gradient
    if scalars.weight_decay:
        xp.multiply(param, scalars.weight_decay, out=step_term)
        xp.add(g, step_term, out=gradient)
        g = gradient
    velocity *= scalars.momentum
    xp.multiply(g, scalars.lr, out=step_term)
    velocity -= step_term
    if scalars.nesterov:
        xp.multiply(velocity, scalars.momentum, out=lookahead)
        lookahead -= step_term
        param += lookahead
    else:
        param += velocity
