"""The numpy backend's faster versions of this package's kernels (registered in :mod:`corenn_fc.plugin`).

Each computes what its kernel's reference computes (``corenn.testing.check_kernel`` holds them
to 1e-10), faster on large batches: gelu's passes and batch norm's work in place on arrays of
their own, relu's gradient is a product with the mask, batch norm's sums over the batch are
matrix products. The layers that use them (whitening, batch norm) hand them millions of values
a step, and there the memory traffic of a temporary per operator, not the arithmetic, is what
they cost. Where the reference itself is as fast (sigmoid, relu, softmax, dropout's mask),
numpy runs the reference.
"""

from types import SimpleNamespace

import numpy as np

from corenn.backend import as_dtype
from corenn.kernels import override

from corenn_fc.activations import (
    GELU_CUBIC,
    GELU_SATURATION,
    GELU_SQRT_2_OVER_PI,
    gelu_backward,
    gelu_forward,
    relu_backward,
)
from corenn_fc.normalization import batch_norm_backward, batch_norm_forward

# --- activations ------------------------------------------------------------------------------


@override(relu_backward)
def relu_backward_masked(Z, dY):
    """``dY * (Z > 0)``: a multiply by the boolean mask is about 10x faster than ``np.where`` on
    large batches (the same values for every finite ``dY``)."""
    return dY * (Z > 0)


def _gelu_inner(bounded):
    """``u = sqrt(2 / pi) * (Z + 0.044715 * Z**3)`` of the clipped ``Z``, as a new array."""
    u = bounded * bounded
    u *= GELU_SQRT_2_OVER_PI * GELU_CUBIC
    u += GELU_SQRT_2_OVER_PI
    u *= bounded
    return u


@override(gelu_forward)
def gelu_forward_in_place(Z):
    """gelu's forward pass in place on one array of ``Z``'s size."""
    t = _gelu_inner(np.clip(Z, -GELU_SATURATION, GELU_SATURATION))
    np.tanh(t, out=t)
    t += 1
    t *= 0.5  # before Z: (1 + t) * Z would overflow for Z near the dtype's largest value
    t *= Z
    return t  # 0.5 * Z * (1 + t)


@override(gelu_backward)
def gelu_backward_in_place(Z, dY):
    """gelu's slope in the factored form ``dZ = dY * 0.5 * (1 + t) * (1 + Z * (1 - t) * k)``,
    ``k = sqrt(2 / pi) * (1 + 3 * 0.044715 * Z**2)`` (the reference's formula with
    ``1 - t**2 = (1 - t) * (1 + t)``: no cancellation where ``t`` is near -1), in place on two
    arrays of ``Z``'s size; a ``dY`` of another dtype gives numpy's promotion, as
    ``dY * slope`` would."""
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


@override(batch_norm_forward)
def batch_norm_forward_in_place(X, W, b, running_mean, running_var, training, momentum, epsilon):
    """Batch norm's forward pass with its sums as matrix products, normalising in place on one
    array of ``X``'s size, and moving the running statistics in place (and returning them)."""
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
    saved = SimpleNamespace(X_hat=X_hat, inverse_std=inverse_std, W=W, parameter_dtype=b.dtype)
    return Z, saved, running_mean, running_var


@override(batch_norm_backward)
def batch_norm_backward_in_place(dZ, saved, training, epsilon):
    """Batch norm's backward pass with its sums as matrix products, ``dX`` assembled in place
    on one array of ``dZ``'s size."""
    X_hat, inverse_std, W = saved.X_hat, saved.inverse_std, saved.W
    sum_dZ = channel_sum(dZ)
    sum_dZ_X_hat = channel_dot(dZ, X_hat)
    dW = None if W is None else as_dtype(sum_dZ_X_hat[np.newaxis, :], saved.parameter_dtype)
    db = as_dtype(sum_dZ[np.newaxis, :], saved.parameter_dtype)
    dX_hat_scale = W[0] * inverse_std if W is not None else inverse_std
    if not training:
        return dZ * dX_hat_scale, dW, db
    count = dZ.size // dZ.shape[-1]
    dX = X_hat * (-sum_dZ_X_hat / count)
    dX += dZ
    dX -= sum_dZ / count
    dX *= dX_hat_scale
    return dX, dW, db
