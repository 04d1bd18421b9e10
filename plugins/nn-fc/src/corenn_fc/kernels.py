"""The numpy backend's kernels for the layers and activations of this package: the course's math.

These are the readable reference: each docstring gives the formula, and the torch backend's
kernels of the same names (``corenn_torch.kernels``) compute the same thing with PyTorch's own
routines. The components (``corenn_fc.fully_connected``, ``corenn_fc.normalization``, ...) are
written once and call these as ``self.kernels.<name>(...)``; their options, checks, tables and
caches live there, not here.

Where a formula is written with in-place operations (gelu, batch norm), it is because the
layers that use them see millions of values a step and the memory traffic of a temporary per
operator, not the arithmetic, was what they cost.
"""

import math

import numpy as np

# --- the fully connected layer ----------------------------------------------------------------


def fully_connected_forward(X, W, b):
    """``X @ W + b``: the affine map of a batch ``X`` (m, n_in), ``W`` (n_in, n_out), ``b`` (1, n_out)."""
    return X @ W + b


# --- activations ------------------------------------------------------------------------------


def sigmoid_forward(Z):
    """``1 / (1 + exp(-Z))``, computed from ``exp(-|Z|)`` so that no exponent can overflow:
    ``1 / (1 + e)`` where ``Z >= 0`` and ``e / (1 + e)`` elsewhere, with ``e = exp(-|Z|)``."""
    decay = np.exp(-np.abs(Z))  # in (0, 1]: never overflows, underflows harmlessly to 0
    return np.where(Z >= 0, 1 / (1 + decay), decay / (1 + decay))


def relu_forward(Z):
    """``max(Z, 0)``."""
    return np.maximum(Z, 0)


def relu_backward(Z, dY):
    """``dY`` where ``Z > 0``, else 0 (the derivative at exactly 0 is taken as 0).

    A multiply by the boolean mask is about 10x faster than ``np.where`` on large batches.
    """
    return dY * (Z > 0)


GELU_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
GELU_CUBIC = 0.044715
GELU_SATURATION = 100.0
"""gelu clips its inputs to +-this before the cubic: beyond it ``tanh(u)`` is exactly +-1 in
every float dtype, so nothing changes, but ``Z**3`` cannot overflow for huge finite inputs."""


def _gelu_inner(bounded):
    """``u = sqrt(2 / pi) * (Z + 0.044715 * Z**3)`` of the clipped ``Z``, as a new array."""
    u = bounded * bounded
    u *= GELU_SQRT_2_OVER_PI * GELU_CUBIC
    u += GELU_SQRT_2_OVER_PI
    u *= bounded
    return u


def gelu_forward(Z):
    """The Gaussian error linear unit in its tanh approximation (the form torch computes with
    ``gelu(approximate="tanh")``, and GPT-2 and airbench use):

        ``0.5 * Z * (1 + tanh(u))`` with ``u = sqrt(2 / pi) * (Z + 0.044715 * Z**3)``

    The exact GELU, ``Z * Phi(Z)``, needs erf, which numpy lacks. Computed in place on one
    array of ``Z``'s size, ``Z`` clipped to +-:data:`GELU_SATURATION` for the cubic.
    """
    t = _gelu_inner(np.clip(Z, -GELU_SATURATION, GELU_SATURATION))
    np.tanh(t, out=t)
    t += 1
    t *= 0.5  # before Z: (1 + t) * Z would overflow for Z near the dtype's largest value
    t *= Z
    return t  # 0.5 * Z * (1 + t)


def gelu_backward(Z, dY):
    """dL/dZ of gelu:

        ``dZ = dY * (0.5 * (1 + t) + 0.5 * Z * (1 - t**2) * sqrt(2 / pi) * (1 + 3 * 0.044715 * Z**2))``

    with ``t = tanh(u)``, in the factored form ``dZ = dY * 0.5 * (1 + t) * (1 + Z * (1 - t) * k)``,
    ``k = sqrt(2 / pi) * (1 + 3 * 0.044715 * Z**2)`` the derivative of ``u``. Computed in place on
    two arrays of ``Z``'s size; a ``dY`` of another dtype gives numpy's promotion, as
    ``dY * slope`` would.
    """
    bounded = np.clip(Z, -GELU_SATURATION, GELU_SATURATION)
    t = _gelu_inner(bounded)
    np.tanh(t, out=t)
    slope = bounded * bounded  # k = sqrt(2 / pi) * (1 + 3 * 0.044715 * Z**2)
    slope *= 3 * GELU_CUBIC * GELU_SQRT_2_OVER_PI
    slope += GELU_SQRT_2_OVER_PI
    slope *= bounded
    # 1 - t, not 1 - t * t later: no cancellation where t is near -1
    slope *= np.subtract(1, t, out=bounded)
    slope += 1
    t += 1
    slope *= t
    slope *= 0.5
    if dY.dtype != slope.dtype:  # numpy's promotion, as dY * slope would give
        return dY * slope
    slope *= dY
    return slope


def softmax_forward(Z):
    """Probabilities over the last axis: ``exp(Z) / sum(exp(Z))`` row by row.

    The row maximum is subtracted first, which leaves the result unchanged but keeps every
    exponent <= 0, so huge logits cannot overflow.
    """
    with np.errstate(over="ignore"):  # a gap beyond the dtype's range gives -inf: exp is then 0
        shifted = Z - Z.max(axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


# --- batch normalisation ----------------------------------------------------------------------


def channel_sum(A):
    """The sum over every axis but the last (the channels), as one matrix product
    ``ones(1, n) @ A.reshape(n, C)``: the BLAS sums the tall matrix's columns many times
    faster than ``A.sum(axis=(0, 1, 2))``."""
    rows = A.reshape(-1, A.shape[-1])
    return (np.ones((1, rows.shape[0]), dtype=A.dtype) @ rows)[0]


def channel_dot(A, B):
    """``(A * B).sum`` over every axis but the last, without the product's temporary array."""
    return np.einsum("ij,ij->j", A.reshape(-1, A.shape[-1]), B.reshape(-1, B.shape[-1]))


def batch_norm_forward(X, W, b, running_mean, running_var, training, momentum, epsilon):
    """``Z = W * (X - mean) / sqrt(var + epsilon) + b`` per channel (the last axis); returns
    ``(Z, saved)``, ``saved`` being what :func:`batch_norm_backward` needs.

    ``W`` (or ``None``: no scale), ``b``, ``running_mean`` and ``running_var`` have shape
    ``(1, C)``. In training mode the batch's mean and biased variance (two passes: no
    cancellation) normalise it, and the running statistics move towards them in place:
    ``running = (1 - momentum) * running + momentum * batch``, the variance folded in unbiased
    (``* n / (n - 1)``), unless the batch has a single value per channel (``n < 2``: no
    variance estimate). In evaluation mode the running statistics normalise.
    """
    count = X.size // X.shape[-1]
    if training:
        mean = channel_sum(X) / count
        X_hat = X - mean
        var = channel_dot(X_hat, X_hat) / count
        if count >= 2:
            unbiased_var = var * (count / (count - 1))
            for running, batch_value in ((running_mean, mean), (running_var, unbiased_var)):
                running *= 1.0 - momentum
                running += momentum * batch_value[np.newaxis, :]
    else:
        mean, var = running_mean[0], running_var[0]
        X_hat = X - mean
    inverse_std = 1.0 / np.sqrt(var + epsilon)
    X_hat *= inverse_std.astype(X_hat.dtype, copy=False)
    Z = (W[0] * X_hat if W is not None else X_hat) + b[0]
    return Z, (X_hat, inverse_std, W)


def batch_norm_backward(dZ, saved, training, epsilon):
    """``(dL/dX, dL/dW, dL/db)`` from ``dZ`` = dL/dZ and the forward pass's ``saved``
    (``dL/dW`` is ``None`` without a scale; the parameter gradients have shape ``(1, C)``).

    ``dW = sum(dZ * X_hat)`` and ``db = sum(dZ)`` over every axis but the last. In evaluation
    mode the layer is affine: ``dX = dZ * W / std``. In training mode the mean and variance
    depend on every input of the channel, and the gradient of the normalised batch removes the
    gradient's mean and its component along ``X_hat``:
    ``dX = W / std * (dZ - sum(dZ) / n - X_hat * sum(dZ * X_hat) / n)``. (``epsilon`` is
    already in the saved ``1 / std``.)
    """
    X_hat, inverse_std, W = saved
    sum_dZ = channel_sum(dZ)
    sum_dZ_X_hat = channel_dot(dZ, X_hat)
    dW = None if W is None else sum_dZ_X_hat[np.newaxis, :]
    db = sum_dZ[np.newaxis, :]
    dX_hat_scale = W[0] * inverse_std if W is not None else inverse_std
    if not training:
        return dZ * dX_hat_scale, dW, db
    count = dZ.size // dZ.shape[-1]
    dX = X_hat * (-sum_dZ_X_hat / count)
    dX += dZ
    dX -= sum_dZ / count
    dX *= dX_hat_scale
    return dX, dW, db


# --- dropout ----------------------------------------------------------------------------------


def dropout_mask(rng, X, rate):
    """A boolean array of ``X``'s shape, each entry True (kept) with probability ``1 - rate``:
    ``rng.random(shape) >= rate``, one uniform draw per entry from the numpy generator ``rng``,
    so the mask is a function of the generator's state alone."""
    return rng.random(X.shape) >= rate
