"""The blocked Cholesky inverse behind EASE (aerec._linalg) against a float64 NumPy inverse."""

import numpy as np
import pytest

from aerec._linalg import cholesky_inverse
from aerec._threads import blas_threads


def _spd(n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = (rng.random((3 * n + 5, n)) < 0.1).astype(np.float64)
    return (X.T @ X + 2.0 * np.eye(n)).astype(dtype)


def _inverse(G, n_threads, block):
    A = np.asfortranarray(G.copy())
    with blas_threads(1):
        return cholesky_inverse(A, n_threads=n_threads, block=block)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-4)])
@pytest.mark.parametrize("n, block", [(1, 4), (5, 8), (64, 16), (203, 64), (256, 64)])
def test_matches_numpy_inverse(n, block, dtype, tol):
    G = _spd(n, dtype)
    P = _inverse(G, 2, block)
    ref = np.linalg.inv(G.astype(np.float64))
    assert P.dtype == dtype and P.flags.f_contiguous
    assert np.abs(P - ref).max() <= tol * np.abs(ref).max()
    assert np.array_equal(P, P.T)  # exactly symmetric: the upper triangle is mirrored


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bit_identical_for_any_thread_count(dtype):
    G = _spd(333, dtype, seed=3)
    results = [_inverse(G, t, 64) for t in (1, 2, 3)]
    assert all(np.array_equal(results[0], r) for r in results[1:])


def test_factor_left_in_place():
    G = _spd(100, np.float64, seed=1)
    A = np.asfortranarray(G.copy())
    cholesky_inverse(A, n_threads=2, block=32)
    L = np.tril(A)
    np.testing.assert_allclose(L @ L.T, G, rtol=1e-12, atol=1e-10)


def test_not_positive_definite_raises():
    G = _spd(50, np.float64)
    G[20, 20] = -1.0
    with pytest.raises(np.linalg.LinAlgError, match="not positive definite"):
        _inverse(G, 2, 16)


@pytest.mark.parametrize("bad, exc", [
    (np.ones((3, 3)), ValueError),                       # C-ordered
    (np.asfortranarray(np.ones((3, 4))), ValueError),    # not square
    (np.asfortranarray(np.ones((3, 3), np.int64)), TypeError),
])
def test_rejects_bad_arrays(bad, exc):
    with pytest.raises(exc):
        cholesky_inverse(bad)
