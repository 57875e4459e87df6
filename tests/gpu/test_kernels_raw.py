"""Every CUDA kernel family against the float64 NumPy oracles of aerec._reference, through raw
device pointers from the module's own memory helpers — no CuPy needed, so these run on a GPU
machine even where CuPy cannot be installed. Skipped with the reason without a GPU."""

from __future__ import annotations

import numpy as np
import pytest
from _gpu import DeviceArrays, full_column_pointers, item_major_host, require_gpu
from conftest import assert_close, make_csr

from aerec import _reference as ref
from aerec import kernels

DTYPES = [np.float32, np.float64]
INDEX_DTYPES = [np.int32, np.int64]


@pytest.fixture
def dev():
    d = DeviceArrays(require_gpu())
    yield d
    d.free()


def _name(dtype):
    return np.dtype(dtype).name


def _csr(dev, X):
    return dev.put(X.indptr), dev.put(X.indices), dev.put(X.data), np.dtype(X.indices.dtype).name


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", [{}, dict(row_scale=True, dropout=0.3, seed=7, step=3, row_offset=11)],
                         ids=["plain", "all"])
def test_sparse_encoder(dev, dtype, index_dtype, kw):
    mod, rng = dev.mod, np.random.default_rng(0)
    n_rows, n_items, h = 29, 41, 37  # h not a multiple of 32: partial warps
    X = make_csr(n_rows, n_items, 0.3, dtype, index_dtype, seed=1)
    W = rng.standard_normal((n_items, h)).astype(dtype)
    b = rng.standard_normal(h).astype(dtype)
    kw = dict(kw)
    rs = rng.uniform(0.1, 2.0, n_rows).astype(dtype) if kw.pop("row_scale", False) else None
    drop, seed, step, off = kw.get("dropout", 0.0), kw.get("seed", 0), kw.get("step", 0), kw.get("row_offset", 0)
    ip, ix, xd, idt = _csr(dev, X)
    Z = dev.empty((n_rows, h), dtype)
    mod.sparse_encoder_forward(ip, ix, xd, idt, n_rows, n_items, X.nnz, dev.put(W), dev.put(b), dev.put(rs), h, drop,
                               seed, step, off, dev.empty((X.nnz,), dtype), Z, _name(dtype))
    want = ref.ref_sparse_encoder_forward(X, W, b, row_scale=rs, dropout=drop, seed=seed, step=step, row_offset=off)
    assert_close(dev.get(Z, (n_rows, h), dtype), want, dtype)
    # backward: dW for the present items
    dZ = rng.standard_normal((n_rows, h)).astype(dtype)
    items, ptr, rows, pos = item_major_host(X)
    dW = dev.empty((items.size, h), dtype)
    mod.sparse_encoder_backward(xd, X.nnz, dev.put(items), dev.put(ptr), dev.put(rows), dev.put(pos), items.size,
                                n_rows, dev.put(dZ), dev.put(rs), h, drop, seed, step, off,
                                dev.empty((X.nnz,), dtype), dW, _name(dtype))
    r_items, r_dW, _ = ref.ref_sparse_encoder_backward(X, dZ, row_scale=rs, dropout=drop, seed=seed, step=step,
                                                       row_offset=off)
    np.testing.assert_array_equal(items, r_items)
    assert_close(dev.get(dW, (items.size, h), dtype), r_dW, dtype)


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_decoder(dev, dtype, index_dtype):
    mod, rng = dev.mod, np.random.default_rng(1)
    n_rows, n_items, h = 23, 31, 70
    M = make_csr(n_rows, n_items, 0.35, dtype, index_dtype, seed=2)
    H = rng.standard_normal((n_rows, h)).astype(dtype)
    V = rng.standard_normal((n_items, h)).astype(dtype)
    c = rng.standard_normal(n_items).astype(dtype)
    ip, ix, _, idt = _csr(dev, M)
    Hd, Vd = dev.put(H), dev.put(V)
    out = dev.empty((M.nnz,), dtype)
    mod.masked_decoder_forward(ip, ix, idt, n_rows, n_items, M.nnz, Hd, Vd, dev.put(c), h, out, _name(dtype))
    assert_close(dev.get(out, (M.nnz,), dtype), ref.ref_masked_decoder_forward(M, H, V, c), dtype)
    d_out = rng.standard_normal(M.nnz).astype(dtype)
    items, ptr, rows, pos = item_major_host(M)
    dH, dV, dc = dev.empty((n_rows, h), dtype), dev.empty((items.size, h), dtype), dev.empty((items.size,), dtype)
    mod.masked_decoder_backward(ip, ix, idt, n_rows, n_items, M.nnz, dev.put(ptr), dev.put(rows), dev.put(pos),
                                items.size, Hd, Vd, dev.put(d_out), h, dev.empty((M.nnz,), dtype), dH, dV, dc,
                                _name(dtype))
    r_dH, r_items, r_dV, r_dc = ref.ref_masked_decoder_backward(M, H, V, d_out)
    np.testing.assert_array_equal(items, r_items)
    assert_close(dev.get(dH, (n_rows, h), dtype), r_dH, dtype)
    assert_close(dev.get(dV, (items.size, h), dtype), r_dV, dtype)
    assert_close(dev.get(dc, (items.size,), dtype), r_dc, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_mse_and_kl(dev, dtype):
    mod, rng = dev.mod, np.random.default_rng(2)
    n = 300_001  # more than kMaxBlocks·256: the grid-stride loop and the partials both matter
    pred, target = rng.standard_normal(n).astype(dtype), rng.standard_normal(n).astype(dtype)
    grad, partials, loss = dev.empty((n,), dtype), dev.empty((mod.loss_scratch_size,), np.float64), dev.empty((1,),
                                                                                                         np.float64)
    mod.masked_mse(dev.put(pred), dev.put(target), n, 0.25, grad, partials, loss, _name(dtype))
    r_loss, r_grad = ref.ref_masked_mse(pred, target, scale=0.25)
    np.testing.assert_allclose(dev.get(loss, (1,), np.float64)[0], r_loss, rtol=1e-9)
    assert_close(dev.get(grad, (n,), dtype), r_grad, dtype)
    mu, lv = rng.standard_normal((97, 13)).astype(dtype), rng.standard_normal((97, 13)).astype(dtype)
    dmu, dlv = dev.empty(mu.shape, dtype), dev.empty(mu.shape, dtype)
    mod.gaussian_kl(dev.put(mu), dev.put(lv), mu.size, 0.3, dmu, dlv, partials, loss, _name(dtype))
    r_loss, r_dmu, r_dlv = ref.ref_gaussian_kl(mu, lv, scale=0.3)
    np.testing.assert_allclose(dev.get(loss, (1,), np.float64)[0], r_loss, rtol=1e-6)
    assert_close(dev.get(dmu, mu.shape, dtype), r_dmu, dtype)
    assert_close(dev.get(dlv, mu.shape, dtype), r_dlv, dtype)


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_multinomial_loss_grad(dev, dtype, index_dtype):
    mod, rng = dev.mod, np.random.default_rng(3)
    n_rows, n_items = 17, 1500  # items > threads per block
    X = make_csr(n_rows, n_items, 0.05, dtype, index_dtype, seed=4)
    logits = (3 * rng.standard_normal((n_rows, n_items))).astype(dtype)
    c = rng.standard_normal(n_items).astype(dtype)
    ip, ix, xd, idt = _csr(dev, X)
    L = dev.put(logits)
    loss = dev.empty((1,), np.float64)
    mod.multinomial_loss_grad(L, dev.put(c), ip, ix, xd, idt, n_rows, n_items, X.nnz, 0.5,
                              dev.empty((n_rows,), np.float64), loss, _name(dtype))
    r_loss, r_grad = ref.ref_multinomial_loss_grad(logits, X, c, scale=0.5)
    np.testing.assert_allclose(dev.get(loss, (1,), np.float64)[0], r_loss, rtol=1e-5 if dtype == np.float32 else 1e-9)
    assert_close(dev.get(L, (n_rows, n_items), dtype), r_grad, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(kernels.ACTIVATIONS))
def test_activations(dev, dtype, name):
    mod, rng = dev.mod, np.random.default_rng(4)
    code, alpha = kernels.ACTIVATIONS[name]
    Z = (2 * rng.standard_normal((33, 65))).astype(dtype)
    dY = rng.standard_normal(Z.shape).astype(dtype)
    Zd, Y, dZ = dev.put(Z), dev.empty(Z.shape, dtype), dev.empty(Z.shape, dtype)
    mod.activation_forward(code, alpha, Zd, Z.size, Y, _name(dtype))
    y = dev.get(Y, Z.shape, dtype)
    assert_close(y, ref.ref_activation_forward(name, Z), dtype)
    mod.activation_backward(code, alpha, Zd, Y, dev.put(dY), Z.size, dZ, _name(dtype))
    assert_close(dev.get(dZ, Z.shape, dtype), ref.ref_activation_backward(name, Z, y, dY), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_and_draws_match_the_cpu(dev, dtype):
    """Philox draws are a pure function of (seed, step, row, column): the GPU's dropout masks and
    uniforms equal the CPU's exactly; normals agree to the libm's rounding."""
    mod, rng = dev.mod, np.random.default_rng(5)
    X = rng.standard_normal((45, 77)).astype(dtype)
    Y = dev.empty(X.shape, dtype)
    mod.dropout(dev.put(X), 45, 77, 0.4, 2**40 + 3, 9, 100, Y, _name(dtype))
    cpu = kernels.dropout(X, 0.4, seed=2**40 + 3, step=9, row_offset=100, n_threads=1)
    np.testing.assert_array_equal(dev.get(Y, X.shape, dtype) == 0, cpu == 0)
    assert_close(dev.get(Y, X.shape, dtype), cpu, dtype)
    U = dev.empty((31, 53), dtype)
    mod.random_uniform(31, 53, 5, 2, 7, U, _name(dtype))
    np.testing.assert_array_equal(dev.get(U, (31, 53), dtype),
                                  kernels.random_uniform((31, 53), seed=5, step=2, row_offset=7, dtype=dtype))
    N = dev.empty((31, 53), dtype)
    mod.random_normal(31, 53, 5, 2, 7, N, _name(dtype))
    assert_close(dev.get(N, (31, 53), dtype),
                 ref.ref_random_normal((31, 53), seed=5, step=2, row_offset=7), dtype, scale=1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_optimisers(dev, dtype):
    mod, rng = dev.mod, np.random.default_rng(6)
    shape = (57, 33)
    p, g = rng.standard_normal(shape).astype(dtype), rng.standard_normal(shape).astype(dtype)
    m, v = (0.1 * rng.standard_normal(shape)).astype(dtype), rng.uniform(0, 1, shape).astype(dtype)
    n = p.size
    # Adam (L2) at step 3
    P, Md, Vd = dev.put(p), dev.put(m), dev.put(v)
    mod.adam_step(P, dev.put(g), Md, Vd, n, 3, 1e-2, 0.9, 0.999, 1e-8, 0.01, False, _name(dtype))
    rp, rm, rv = ref.ref_adam_step(p, g, m, v, t=3, lr=1e-2, weight_decay=0.01)
    assert_close(dev.get(P, shape, dtype), rp, dtype)
    assert_close(dev.get(Md, shape, dtype), rm, dtype)
    assert_close(dev.get(Vd, shape, dtype), rv, dtype)
    # row-compact Adam equals dense Adam with zeros outside the rows (AdamW here)
    rows = np.array([2, 5, 40], dtype=np.int64)
    slot = np.full(shape[0], -1, dtype=np.int64)
    slot[rows] = np.arange(rows.size)
    P, Md, Vd = dev.put(p), dev.put(m), dev.put(v)
    mod.adam_step_rows(P, shape[0], shape[1], dev.put(slot), dev.put(g[rows]), rows.size, Md, Vd, 2, 1e-2, 0.9, 0.999,
                       1e-8, 0.1, True, _name(dtype))
    dense = np.zeros_like(g)
    dense[rows] = g[rows]
    rp, rm, rv = ref.ref_adam_step(p, dense, m, v, t=2, lr=1e-2, weight_decay=0.1, decoupled=True)
    assert_close(dev.get(P, shape, dtype), rp, dtype)
    # SGD with Nesterov momentum
    P, Vel = dev.put(p), dev.put(m)
    mod.sgd_step(P, dev.put(g), Vel, n, 0.1, 0.9, True, 0.01, _name(dtype))
    rp, rvel = ref.ref_sgd_step(p, g, m, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    assert_close(dev.get(P, shape, dtype), rp, dtype)
    assert_close(dev.get(Vel, shape, dtype), rvel, dtype)
    # RProp: signs flip for some entries
    prev = np.where(rng.random(shape) < 0.5, g, -g).astype(dtype)
    st = np.full(shape, 0.01, dtype)
    P, Q, S = dev.put(p), dev.put(prev), dev.put(st)
    mod.rprop_step(P, dev.put(g), Q, S, n, 0.5, 1.2, 1e-6, 50.0, _name(dtype))
    rp, rq, rs = ref.ref_rprop_step(p, g, prev, st)
    assert_close(dev.get(P, shape, dtype), rp, dtype)
    assert_close(dev.get(Q, shape, dtype), rq, dtype)
    assert_close(dev.get(S, shape, dtype), rs, dtype)


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_topk_keys_rank_like_the_oracle(dev, dtype, index_dtype):
    mod, rng = dev.mod, np.random.default_rng(7)
    n_rows, n_items, k = 19, 300, 25
    S = rng.integers(-5, 5, (n_rows, n_items)).astype(dtype)  # many ties: the lower index must win
    S[3, ::7] = np.nan
    S[4, :] = -np.inf
    E = make_csr(n_rows, n_items, 0.2, dtype, index_dtype, seed=8)
    cand = np.sort(rng.choice(n_items, 200, replace=False))
    allowed = np.zeros(n_items, dtype=np.uint8)
    allowed[cand] = 1
    ip, ix, _, idt = _csr(dev, E)
    key_dtype = np.uint32 if dtype == np.float32 else np.uint64
    keys = dev.empty((n_rows, n_items), key_dtype)
    mod.topk_keys(dev.put(S), n_rows, n_items, ip, ix, E.nnz, idt, dev.put(allowed), keys, _name(dtype))
    K = dev.get(keys, (n_rows, n_items), key_dtype)
    order = np.argsort(K, axis=1, kind="stable")[:, :k]  # what CudaBackend.topk does with CuPy
    valid = np.take_along_axis(K, order, axis=1) != np.iinfo(key_dtype).max
    idx = np.where(valid, order, -1)
    r_idx, _ = ref.ref_topk(S, k, exclude=E, candidates=cand)
    np.testing.assert_array_equal(idx, r_idx)


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_gram(dev, dtype, index_dtype):
    mod = dev.mod
    X = make_csr(61, 45, 0.2, dtype, index_dtype, seed=9)
    col_ptr, rows, pos = full_column_pointers(X)
    ip, ix, xd, idt = _csr(dev, X)
    G = dev.empty((45, 45), dtype)
    mod.sparse_gram(ip, ix, xd, idt, 61, 45, X.nnz, dev.put(col_ptr), dev.put(rows), dev.put(pos), G, _name(dtype))
    assert_close(dev.get(G, (45, 45), dtype), ref.ref_sparse_gram(X), dtype)
    # binary data (EASE's case): integer counts, exact and symmetric
    B = X.copy()
    B.data = np.ones_like(X.data)
    mod.sparse_gram(ip, ix, dev.put(B.data), idt, 61, 45, X.nnz, dev.put(col_ptr), dev.put(rows), dev.put(pos), G,
                    _name(dtype))
    got = dev.get(G, (45, 45), dtype)
    np.testing.assert_array_equal(got, kernels.sparse_gram(B, n_threads=1))
    np.testing.assert_array_equal(got, got.T)
