"""The course's einsum exercises, each solved twice: with ``np.einsum`` and with plain numpy.

``np.einsum`` names every axis with a letter: letters repeated across inputs are multiplied
together, and letters missing from the output (after ``->``) are summed over. The three
exercises are the building blocks of a convolution written as matrix products::

    >>> import numpy as np
    >>> from corenn_conv import einsum_exercises as ex
    >>> A = np.arange(25.0).reshape(5, 5)
    >>> float(ex.trace_einsum(A)), float(ex.trace_numpy(A))
    (60.0, 60.0)
    >>> B = np.eye(5)
    >>> bool(np.array_equal(ex.matmul_einsum(A, B), ex.matmul_numpy(A, B)))
    True
    >>> X, Y = np.ones((3, 4, 5)), np.ones((3, 5, 6))
    >>> ex.batched_matmul_einsum(X, Y).shape
    (3, 4, 6)

:func:`compare_all` runs the three on random inputs and reports the norm of each difference
(about 1e-15: the two ways agree up to floating-point rounding).
"""

import numpy as np


def trace_einsum(A):
    """``sum_i A[i, i]``: ``"ii->"`` repeats ``i`` (the diagonal) and keeps no axis (sums it)."""
    return np.einsum("ii->", A)


def trace_numpy(A):
    """The same trace with ``np.trace``."""
    return np.trace(A)


def matmul_einsum(A, B):
    """``C[i, k] = sum_j A[i, j] B[j, k]``: ``j`` is shared and dropped, so it is summed."""
    return np.einsum("ij,jk->ik", A, B)


def matmul_numpy(A, B):
    """The same product with the ``@`` operator."""
    return A @ B


def batched_matmul_einsum(X, Y):
    """``Z[b, i, k] = sum_j X[b, i, j] Y[b, j, k]``: ``b`` is kept, so each batch entry is its
    own product, as ``(3, 4, 5)`` by ``(3, 5, 6)`` gives ``(3, 4, 6)``."""
    return np.einsum("bij,bjk->bik", X, Y)


def batched_matmul_numpy(X, Y):
    """The same with ``np.matmul``, which treats leading axes as a batch."""
    return np.matmul(X, Y)


def compare_all(seed=0):
    """The course's three exercises on random inputs: ``{name: norm(einsum - numpy)}``.

    Shapes are the course's: a 5x5 matrix for the trace, two 5x5 matrices for the product,
    and ``(3, 4, 5)`` by ``(3, 5, 6)`` for the batched product.
    """
    rng = np.random.default_rng(seed)
    A, B = rng.standard_normal((5, 5)), rng.standard_normal((5, 5))
    X, Y = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 5, 6))
    return {
        "trace": float(np.linalg.norm(trace_einsum(A) - trace_numpy(A))),
        "matmul": float(np.linalg.norm(matmul_einsum(A, B) - matmul_numpy(A, B))),
        "batched_matmul": float(np.linalg.norm(batched_matmul_einsum(X, Y) - batched_matmul_numpy(X, Y))),
    }


if __name__ == "__main__":
    for name, difference in compare_all().items():
        print(f"{name:>15}: ||einsum - numpy|| = {difference:.2e}")
