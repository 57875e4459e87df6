"""gram, the sparse Gram matrix G = XᵀX: native vs the float64 oracle, determinism, validation."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DTYPES, INDEX_DTYPES, THREADS, assert_close, empty_csr, make_csr

from aerec import _reference as ref
from aerec import kernels


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_gram_matches_oracle(isa, dtype, index_dtype, n_threads):
    X = make_csr(40, 25, 0.2, dtype, index_dtype, seed=5)
    G = kernels.sparse_gram(X, n_threads=n_threads)
    assert G.dtype == dtype and G.shape == (25, 25)
    assert_close(G, ref.ref_sparse_gram(X), dtype, scale=float(np.abs(X.data).max() ** 2 * 40))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_gram_binary_is_exact_and_symmetric(isa, dtype):
    X = make_csr(300, 120, 0.1, dtype, np.int32, seed=2, values=(1.0, 1.0))
    G = kernels.sparse_gram(X)
    np.testing.assert_array_equal(G, G.T)
    np.testing.assert_array_equal(G, ref.ref_sparse_gram(X).astype(dtype))  # integer counts are exact


def test_sparse_gram_deterministic_across_threads(isa):
    X = make_csr(500, 300, 0.05, np.float32, np.int64, seed=9)
    results = [kernels.sparse_gram(X, n_threads=n) for n in THREADS]
    for G in results[1:]:
        np.testing.assert_array_equal(G, results[0])


def test_sparse_gram_empty(isa):
    G = kernels.sparse_gram(empty_csr(0, 7, np.float64, np.int32))
    np.testing.assert_array_equal(G, np.zeros((7, 7)))


def test_sparse_gram_rejects_malformed(isa):
    X = make_csr(10, 8, 0.3, np.float64, np.int32, seed=1, special=False)
    bad = X.copy()
    bad.indices = bad.indices.copy()
    bad.indices[0] = 99
    with pytest.raises(ValueError, match="out of range"):
        kernels.sparse_gram(bad)
