"""Shared benchmark data: seeded synthetic batches at the shapes the issues name.

AEREC_BENCH_SIZE=tiny shrinks every shape (CI's smoke run); the default is the real shapes:
  multvae  — a Mult-VAE training batch at the ML-20M shape: 500 × 20,108 items, ~0.4 % dense, h = 600
  autorec  — the I-AutoRec shape of ML-1M: 3,706 items × 6,040 users, ~4.5 % dense, h = 500
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import scipy.sparse as sp

TINY = os.environ.get("AEREC_BENCH_SIZE", "").lower() == "tiny"

SHAPES = {
    # name: (n_rows, n_items, density, hidden)
    "multvae": (500, 20108, 0.004, 600),
    "autorec": (3706, 6040, 0.045, 500),
}
if TINY:
    SHAPES = {name: (max(8, r // 50), max(16, c // 50), min(0.5, d * 10), max(4, h // 50))
              for name, (r, c, d, h) in SHAPES.items()}


def power_law_csr(n_rows, n_items, density, seed=0, dtype=np.float32, ratings=False):
    """CSR with Zipf-like item popularity (as real interaction data), canonical, int32 indices."""
    rng = np.random.default_rng(seed)
    nnz_per_row = np.maximum(1, rng.poisson(density * n_items, size=n_rows))
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    rows, cols = [], []
    for r, m in enumerate(nnz_per_row):
        items = np.unique(rng.choice(n_items, size=min(int(m), n_items), p=popularity))
        rows.append(np.full(items.size, r))
        cols.append(items)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    vals = rng.integers(1, 6, size=rows.size).astype(dtype) if ratings else np.ones(rows.size, dtype=dtype)
    X = sp.csr_array((vals, (rows, cols)), shape=(n_rows, n_items))
    X.sum_duplicates()
    X.sort_indices()
    return X


@pytest.fixture(scope="session", params=sorted(SHAPES))
def shape(request):
    return request.param


@pytest.fixture(scope="session")
def batch(shape):
    n_rows, n_items, density, h = SHAPES[shape]
    X = power_law_csr(n_rows, n_items, density, seed=1, ratings=(shape == "autorec"))
    rng = np.random.default_rng(2)
    return {
        "name": shape,
        "X": X,
        "h": h,
        "W": (0.01 * rng.standard_normal((n_items, h))).astype(np.float32),
        "b": np.zeros(h, dtype=np.float32),
        "H": rng.standard_normal((n_rows, h)).astype(np.float32),
        "dZ": rng.standard_normal((n_rows, h)).astype(np.float32),
        "logits": rng.standard_normal((n_rows, n_items)).astype(np.float32),
        "c": (0.1 * rng.standard_normal(n_items)).astype(np.float32),
    }


def measure_sgemm_gflops(n=None, repeats=5):
    """The machine's single-precision GEMM rate through NumPy's BLAS (all its threads), best of N."""
    n = n or (256 if TINY else 2048)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    np.matmul(a, b)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        np.matmul(a, b)
        best = min(best, time.perf_counter() - t)
    return 2.0 * n**3 / best / 1e9


@pytest.fixture(scope="session")
def sgemm_gflops():
    return measure_sgemm_gflops()
