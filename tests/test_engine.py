"""The training engine: the pooled GEMM is exact and thread-count independent; layers' backward
passes agree with central differences through a small network."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from aerec.engine import Activation, Adam, CpuBackend, MaskedDecoder, SparseEncoder


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


def test_tiny_autoencoder_gradients_match_central_differences():
    """SparseEncoder → sigmoid → MaskedDecoder with a masked squared error, in float64."""
    be = CpuBackend(2)
    rng = np.random.default_rng(1)
    X = sp.random(6, 9, density=0.4, format="csr", random_state=2, dtype=np.float64)
    X.data = np.round(X.data * 4 + 1)
    enc = SparseEncoder(be, 9, 3, dtype=np.float64, rng=rng)
    act = Activation(be, "sigmoid")
    dec = MaskedDecoder(be, 3, 9, dtype=np.float64, rng=rng)
    for p in enc.parameters() + dec.parameters():  # non-zero biases, so their gradients are tested too
        p.value[...] = rng.standard_normal(p.value.shape)

    def loss():
        out = dec.forward(act.forward(enc.forward(X)), mask=X)
        return be.masked_mse(out, X.data)[0]

    out = dec.forward(act.forward(enc.forward(X)), mask=X)
    _, g = be.masked_mse(out, X.data)
    enc.backward(act.backward(dec.backward(g)))
    for p in enc.parameters() + dec.parameters():
        analytic = p.dense_grad().copy()
        numeric = np.zeros_like(p.value)
        for idx in np.ndindex(p.value.shape):
            old = p.value[idx]
            p.value[idx] = old + 1e-6
            up = loss()
            p.value[idx] = old - 1e-6
            down = loss()
            p.value[idx] = old
            numeric[idx] = (up - down) / 2e-6
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-6, err_msg=p.name)


def test_adam_uses_row_compact_gradient_exactly():
    be = CpuBackend(1)
    rng = np.random.default_rng(3)
    X = sp.random(20, 50, density=0.1, format="csr", random_state=4, dtype=np.float32)
    a = SparseEncoder(be, 50, 4, dtype=np.float32, rng=np.random.default_rng(0))
    b = SparseEncoder(be, 50, 4, dtype=np.float32, rng=np.random.default_rng(0))
    opt_a, opt_b = Adam(be, a.parameters()), Adam(be, b.parameters())
    dZ = rng.standard_normal((20, 4)).astype(np.float32)
    for _ in range(3):
        a.forward(X, train=True)
        a.backward(dZ)
        opt_a.step()  # row-compact path
        b.forward(X, train=True)
        b.backward(dZ)
        b.W.dense_grad()
        b.W.set_dense_grad()  # force the dense path
        opt_b.step()
    np.testing.assert_array_equal(a.W.value, b.W.value)
