"""CudaBackend (CuPy) against the CPU kernels and the float64 oracles: the same methods, the same
return conventions, device arrays in and out. Each test runs twice: on the real GPU (skipped with
the reason without a GPU or CuPy) and on the host emulation of _emulated.py (everywhere: it checks
the backend's Python side — arguments, sizes, the arrays it builds — not the CUDA kernels)."""

from __future__ import annotations

import numpy as np
import pytest
from _emulated import install
from _gpu import require_cupy
from conftest import assert_close, make_csr

from aerec import _reference as ref
from aerec import kernels

DTYPES = [np.float32, np.float64]


@pytest.fixture(params=["gpu", "emulated"])
def be(request, monkeypatch):
    if request.param == "gpu":
        require_cupy()
    else:
        install(monkeypatch)
    from aerec.engine.cuda import CudaBackend

    return CudaBackend()


def host(be, a):
    return be.to_host(a)


@pytest.mark.parametrize("dtype", DTYPES)
def test_encoder_decoder_losses(be, dtype):
    rng = np.random.default_rng(0)
    X = make_csr(40, 57, 0.2, dtype, np.int32, seed=1)
    W, b = rng.standard_normal((57, 24)).astype(dtype), rng.standard_normal(24).astype(dtype)
    rs = rng.uniform(0.2, 1.5, 40).astype(dtype)
    kw = dict(row_scale=rs, dropout=0.25, seed=3, step=4, row_offset=5)
    Z = be.sparse_encoder_forward(X, be.asarray(W), be.asarray(b), **kw)
    assert_close(host(be, Z), ref.ref_sparse_encoder_forward(X, W, b, **kw), dtype)
    items, dW, db = be.sparse_encoder_backward(X, Z, **kw)
    r_items, r_dW, r_db = ref.ref_sparse_encoder_backward(X, host(be, Z), **kw)
    np.testing.assert_array_equal(host(be, items), r_items)
    assert_close(host(be, dW), r_dW, dtype)
    assert_close(host(be, db), r_db, dtype)
    # decoder on the same pattern, loss on its stored values (recognised, not re-uploaded)
    H, V, c = (be.asarray(rng.standard_normal(s).astype(dtype)) for s in ((40, 24), (57, 24), (57,)))
    out = be.masked_decoder_forward(X, H, V, c)
    assert_close(host(be, out), ref.ref_masked_decoder_forward(X, host(be, H), host(be, V), host(be, c)), dtype)
    loss, g = be.masked_mse(out, X.data, scale=0.5)
    r_loss, r_g = ref.ref_masked_mse(host(be, out), X.data, scale=0.5)
    np.testing.assert_allclose(loss, r_loss, rtol=1e-6)
    assert_close(host(be, g), r_g, dtype)
    dH, items, dV, dc = be.masked_decoder_backward(X, H, V, g)
    r = ref.ref_masked_decoder_backward(X, host(be, H), host(be, V), host(be, g))
    for got, want in zip((dH, items, dV, dc), r):
        assert_close(host(be, got), want, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_multinomial_kl_random(be, dtype):
    rng = np.random.default_rng(1)
    X = make_csr(12, 700, 0.05, dtype, np.int64, seed=2)
    logits = rng.standard_normal((12, 700)).astype(dtype)
    G = be.asarray(logits)
    loss = be.multinomial_loss_grad(G, X, be.asarray(np.zeros(700, dtype)), scale=0.25)
    r_loss, r_grad = ref.ref_multinomial_loss_grad(logits, X, np.zeros(700), scale=0.25)
    np.testing.assert_allclose(loss, r_loss, rtol=1e-5)
    assert_close(host(be, G), r_grad, dtype)
    mu, lv = be.asarray(logits[:, :10]), be.asarray(logits[:, 10:20])
    kl, dmu, dlv = be.gaussian_kl(mu, lv, scale=0.1)
    r = ref.ref_gaussian_kl(logits[:, :10], logits[:, 10:20], scale=0.1)
    np.testing.assert_allclose(kl, r[0], rtol=1e-6)
    assert_close(host(be, dmu), r[1], dtype)
    np.testing.assert_array_equal(host(be, be.random_uniform((7, 9), seed=1, step=2, dtype=dtype)),
                                  kernels.random_uniform((7, 9), seed=1, step=2, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_optimisers_match_the_cpu(be, dtype):
    rng = np.random.default_rng(2)
    p, g = rng.standard_normal((30, 8)).astype(dtype), rng.standard_normal((30, 8)).astype(dtype)
    P, M, V = be.asarray(p), be.zeros(p.shape, dtype), be.zeros(p.shape, dtype)
    cp_, cm, cv = p.copy(), np.zeros_like(p), np.zeros_like(p)
    rows = np.array([1, 4, 29])
    for t in (1, 2, 3):
        be.adam_step_rows(P, rows, be.asarray(g[rows]), M, V, t=t, lr=1e-2, weight_decay=0.01)
        kernels.adam_step_rows(cp_, rows, g[rows].copy(), cm, cv, t=t, lr=1e-2, weight_decay=0.01, n_threads=1)
    assert_close(host(be, P), cp_, dtype)
    with pytest.raises(ValueError, match="unique row indices"):
        be.adam_step_rows(P, np.array([1, 1]), be.asarray(g[:2]), M, V, t=4)
    P, Vel, cp_, cvel = be.asarray(p), be.zeros(p.shape, dtype), p.copy(), np.zeros_like(p)
    for _ in range(3):
        be.sgd_step_rows(P, rows, be.asarray(g[rows]), Vel, lr=0.05, momentum=0.9, weight_decay=0.01)
        kernels.sgd_step_rows(cp_, rows, g[rows].copy(), cvel, lr=0.05, momentum=0.9, weight_decay=0.01, n_threads=1)
    assert_close(host(be, P), cp_, dtype)
    assert_close(host(be, Vel), cvel, dtype)
    with pytest.raises(ValueError, match="unique row indices"):
        be.sgd_step_rows(P, np.array([30]), be.asarray(g[:1]), Vel, lr=0.1, momentum=0.9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_topk_equals_the_cpu_kernel(be, dtype):
    rng = np.random.default_rng(3)
    S = rng.integers(-3, 3, (50, 400)).astype(dtype)
    S[0, :5] = np.nan
    E = make_csr(50, 400, 0.1, dtype, np.int32, seed=4)
    cand = rng.choice(400, 300, replace=False)
    for k in (1, 10, 500):  # 500 > n_items: padded with -1 / -inf
        i, v = be.topk(be.asarray(S), k, exclude=E, candidates=cand)
        ci, cv = kernels.topk(S, k, exclude=E, candidates=cand, n_threads=1)
        np.testing.assert_array_equal(host(be, i), ci)
        np.testing.assert_array_equal(host(be, v), cv)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_gram(be, dtype):
    X = make_csr(80, 33, 0.2, dtype, np.int64, seed=5)
    assert_close(host(be, be.sparse_gram(X)), ref.ref_sparse_gram(X), dtype)


def test_bad_inputs_are_refused_on_the_host(be):
    import scipy.sparse as sp

    W = be.asarray(np.zeros((5, 3), np.float32))
    X = sp.csr_array(np.eye(4, 5, dtype=np.float32))
    X.indices[0] = 7  # out of range: caught by check_csr before any upload
    with pytest.raises(ValueError, match="out of range"):
        be.sparse_encoder_forward(X, W)
    with pytest.raises(TypeError, match="dtype"):
        be.activation_forward("tanh", W, out=be.asarray(np.zeros((5, 3), np.float64)))
    with pytest.raises(ValueError, match="C-contiguous"):
        be.activation_forward("tanh", W.T)
