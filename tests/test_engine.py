"""The training engine: the pooled GEMM is exact and thread-count independent; optimisers take
row-compact gradients exactly. (The models' backward passes are checked against central differences
in tests/models.)"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from aerec.engine import Adam, CpuBackend, Parameter, xavier_uniform


@pytest.mark.parametrize("shape", [(500, 300, 2500), (300, 3000, 200), (700, 64, 90), (30, 40, 50),
                                   (128, 3706, 512), (256, 500, 300), (130, 700, 260)])
@pytest.mark.parametrize("transposed", [False, True])
def test_pooled_matmul_equals_single_threaded_blas(shape, transposed):
    m, k, n = shape
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if transposed else (m, k)).astype(np.float32)
    a = a.T if transposed else a
    b = rng.standard_normal((k, n)).astype(np.float32)
    with threadpool_limits(1, "blas"):
        reference = np.matmul(a, b)
        expected = CpuBackend(1).matmul(a, b)
        # the blocks are BLAS calls on sub-matrices: the same sums, though edge tiles may round
        # differently from one whole call; between thread counts the result is bit-identical
        np.testing.assert_allclose(expected, reference, rtol=1e-5, atol=1e-4 * np.sqrt(k))
        for n_threads in (1, 2, 3):
            out = np.full((m, n), np.nan, dtype=np.float32)
            CpuBackend(n_threads).matmul(a, b, out=out)
            np.testing.assert_array_equal(out, expected)
            np.testing.assert_array_equal(CpuBackend(n_threads).matmul(a, b), expected)


@pytest.mark.parametrize("m,n", [(1, 1), (128, 512), (129, 257), (500, 600), (384, 1024), (100, 1025), (7, 3000)])
def test_gemm_blocks_tile_the_output_once_and_keep_two_threads_busy(m, n):
    from aerec.engine.backend import GEMM_MIN_JOBS, gemm_blocks

    hits = np.zeros((m, n), dtype=int)
    blocks = gemm_blocks(m, n)
    for r, c in blocks:
        hits[r, c] += 1
    assert (hits == 1).all()
    if 2 * m * n >= GEMM_MIN_JOBS * 128 * 128:  # enough output for several jobs: more than one
        assert len(blocks) >= 2


def test_adam_uses_row_compact_gradient_exactly():
    """The sparse encoder's row-compact gradient (rows, values) steps Adam exactly as its dense form."""
    be = CpuBackend(1)
    rng = np.random.default_rng(3)
    X = sp.random(20, 50, density=0.1, format="csr", random_state=4, dtype=np.float32)
    W0 = xavier_uniform(np.random.RandomState(0), 50, 4, np.float32)
    a, b = Parameter("a", W0.copy()), Parameter("b", W0.copy())
    opt_a, opt_b = Adam(be, [a]), Adam(be, [b])
    dZ = rng.standard_normal((20, 4)).astype(np.float32)
    for _ in range(3):
        items, dW, _ = be.sparse_encoder_backward(X, dZ)
        a.set_row_grad(items, dW)  # row-compact path
        opt_a.step()
        b.set_row_grad(items, dW)
        b.dense_grad()
        b.set_dense_grad()  # force the dense path
        opt_b.step()
    np.testing.assert_array_equal(a.value, b.value)
    assert not np.array_equal(a.value, W0)
