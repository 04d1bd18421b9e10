"""The course's einsum exercises: each einsum equals its plain-numpy twin."""

import numpy as np
import pytest

from corenn_conv import einsum_exercises as ex

RNG = np.random.default_rng(42)


def test_trace_of_a_5x5_matrix():
    A = RNG.standard_normal((5, 5))
    assert ex.trace_einsum(A) == pytest.approx(ex.trace_numpy(A), abs=1e-12)
    assert ex.trace_einsum(np.diag([1.0, 2.0, 3.0, 4.0, 5.0])) == 15.0


def test_5x5_matrix_product():
    A, B = RNG.standard_normal((5, 5)), RNG.standard_normal((5, 5))
    assert np.linalg.norm(ex.matmul_einsum(A, B) - ex.matmul_numpy(A, B)) < 1e-12
    np.testing.assert_allclose(ex.matmul_einsum(A, np.eye(5)), A)


def test_batched_product_of_3x4x5_by_3x5x6():
    X, Y = RNG.standard_normal((3, 4, 5)), RNG.standard_normal((3, 5, 6))
    Z = ex.batched_matmul_einsum(X, Y)
    assert Z.shape == (3, 4, 6)
    assert np.linalg.norm(Z - ex.batched_matmul_numpy(X, Y)) < 1e-12
    np.testing.assert_allclose(Z[1], X[1] @ Y[1])


def test_compare_all_reports_differences_of_about_zero():
    differences = ex.compare_all(seed=3)
    assert set(differences) == {"trace", "matmul", "batched_matmul"}
    assert all(0 <= value < 1e-12 for value in differences.values())


def test_the_module_docstring_examples_run():
    import doctest

    failures, tried = doctest.testmod(ex)
    assert tried > 0 and failures == 0
