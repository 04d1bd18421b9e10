"""The optimizers' steps as in-place element-wise operations, written once for the fast kernels
of every backend that runs them in place.

The steps are declared, with their references, in :mod:`corenn.nn.optimizers`: whole-array
formulas that return new arrays. On numpy those formulas make a pass over memory and often a
parameter-sized temporary per operation, so numpy's overrides (:mod:`corenn.nn.fast_optimizers`)
run the operations below block by block over flat views, each block staying in the CPU's cache,
and torch's (``corenn_torch.kernels.optimizers``) run them on whole tensors. This module says
*what* they compute, once; the overrides decide *how* it runs over the arrays.

Each operation writes into an array it is given: in place with the operators (``m *= beta1``;
``mul_`` on torch) or into a scratch array (``xp.multiply(grad, 1 - beta1, out=scratch)``, which
numpy and torch both have), so an override that hands it preallocated scratch arrays allocates
nothing per step. The operations, their order and their operands are those of the references
(``beta1 * m + (1 - beta1) * grad``, ``momentum * velocity - lr * g``, ...), so every element
gets the reference's bits: a Python float times a float32 array stays float32, an in-place
operation rounds to its array's dtype as the reference's cast does, and an operation on one
element never depends on another element, so running the formula on slices of the arrays
changes nothing.
"""


def adam_step_in_place(xp, scalars, param, grad, m, v, gradient_term, numerator, denominator):
    """One Adam step (:func:`corenn.nn.optimizers.adam_step`), in place on ``param``, ``m`` and ``v``::

        param *= decay                                   (AdamW, when weight_decay is set)
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * grad**2
        param -= step_lr * (m / bias_correction1) / (sqrt(v / bias_correction2) + epsilon)

    ``xp`` is the array library (numpy, torch); ``scalars`` an
    :class:`~corenn.nn.optimizers.AdamStep`. The three scratch arrays have the shape of
    ``param``: ``gradient_term`` the dtype of ``grad`` (it holds ``(1 - beta1) * grad`` and
    ``(1 - beta2) * grad**2``), ``numerator`` and ``denominator`` that of ``param``.
    ``denominator`` may be ``gradient_term`` itself when the two dtypes agree: it is first
    written after the last use of ``gradient_term``.
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


def sgd_step_in_place(xp, scalars, param, grad, velocity, gradient, step_term, lookahead):
    """One SGD step (:func:`corenn.nn.optimizers.sgd_step`), in place on ``param`` and ``velocity``::

        g = lr_scale * grad + weight_decay * param         (each term when it is set)
        velocity = momentum * velocity - lr * g
        param += velocity                                  (heavy ball)
        param += momentum * velocity - lr * g              (Nesterov)

    ``xp`` is the array library, ``scalars`` an :class:`~corenn.nn.optimizers.SGDStep`. The
    scratch arrays have the shape of ``param``: ``gradient`` (for ``g``) and ``step_term``
    (``weight_decay * param``, then ``lr * g``) the dtype of ``g``, ``lookahead`` (Nesterov's
    ``momentum * velocity - lr * g``) that of ``param`` and ``g`` together. ``lookahead`` may be
    ``gradient`` itself when the dtypes agree: it is first written after the last use of ``g``.
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
