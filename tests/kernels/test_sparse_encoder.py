"""sparse_encoder: the sparse encoder Z = D·drop(X)·W + b and its gradients, native vs the float64 oracle."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DTYPES, INDEX_DTYPES, THREADS, assert_close, empty_csr, freeze_csr, make_csr, readonly, writable

from aerec import _reference as ref
from aerec import kernels

N_ROWS, N_ITEMS, H = 23, 37, 5

# name -> keyword arguments (b is handled separately: True means "pass a bias")
CASES = {
    "plain": dict(),
    "bias": dict(bias=True),
    "row_scale": dict(row_scale=True),
    "dropout": dict(dropout=0.3, seed=7, step=3),
    "dropout_row_offset": dict(dropout=0.5, seed=2**40 + 5, step=2**33 + 1, row_offset=1000),
    "all": dict(bias=True, row_scale=True, dropout=0.2, seed=11, step=1, row_offset=17),
}


def _problem(dtype, index_dtype, case, n_rows=N_ROWS, n_items=N_ITEMS, h=H, seed=0):
    rng = np.random.default_rng(seed)
    X = make_csr(n_rows, n_items, 0.3, dtype, index_dtype, seed=seed + 1)
    W = readonly(rng.standard_normal((n_items, h)), dtype)
    kw = dict(CASES[case])
    b = readonly(rng.standard_normal(h), dtype) if kw.pop("bias", False) else None
    if kw.pop("row_scale", False):
        kw["row_scale"] = readonly(rng.uniform(0.1, 2.0, n_rows), dtype)
    dZ = readonly(rng.standard_normal((n_rows, h)), dtype)
    return X, W, b, dZ, kw


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_matches_reference(isa, dtype, index_dtype, n_threads, case):
    X, W, b, _, kw = _problem(dtype, index_dtype, case)
    Z = kernels.sparse_encoder_forward(X, W, b, n_threads=n_threads, **kw)
    assert Z.dtype == dtype and Z.shape == (N_ROWS, H) and Z.flags.c_contiguous
    want = ref.ref_sparse_encoder_forward(X, W, b, **kw)
    assert_close(Z, want, dtype)
    # the empty row 0 is exactly the bias (or zero)
    np.testing.assert_array_equal(Z[0], np.zeros(H, dtype) if b is None else b)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_matches_reference(isa, dtype, index_dtype, n_threads, case):
    X, _, _, dZ, kw = _problem(dtype, index_dtype, case)
    items, dW, db = kernels.sparse_encoder_backward(X, dZ, n_threads=n_threads, **kw)
    r_items, r_dW, r_db = ref.ref_sparse_encoder_backward(X, dZ, **kw)
    assert items.dtype == np.int64
    np.testing.assert_array_equal(items, r_items)
    assert items.size == N_ITEMS - 1  # every item but the never-used one
    assert dW.dtype == dtype and dW.shape == (items.size, H)
    assert db.dtype == dtype and db.shape == (H,)
    assert_close(dW, r_dW, dtype)
    assert_close(db, r_db, dtype)


def test_dropout_actually_drops(isa):
    """dropout > 0 changes the result, and the same key reproduces it; another step does not."""
    X, W, _, _, _ = _problem(np.float64, np.int32, "plain")
    base = kernels.sparse_encoder_forward(X, W, n_threads=1)
    a = kernels.sparse_encoder_forward(X, W, dropout=0.5, seed=1, step=0, n_threads=1)
    b = kernels.sparse_encoder_forward(X, W, dropout=0.5, seed=1, step=0, n_threads=2)
    c = kernels.sparse_encoder_forward(X, W, dropout=0.5, seed=1, step=1, n_threads=1)
    assert not np.allclose(a, base)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_row_offset_equals_batch_slicing(isa, dtype, index_dtype, n_threads):
    """Rows [s, e) with row_offset=s give the same bits as rows [s, e) of the whole batch."""
    X, W, b, dZ, _ = _problem(dtype, index_dtype, "bias")
    kw = dict(dropout=0.4, seed=99, step=5)
    full = kernels.sparse_encoder_forward(X, W, b, n_threads=n_threads, **kw)
    s, e = 5, 17
    part = freeze_csr(X[s:e], index_dtype)
    Zp = kernels.sparse_encoder_forward(part, W, b, row_offset=s, n_threads=n_threads, **kw)
    np.testing.assert_array_equal(Zp, full[s:e])
    # and the backward pass of the slice equals the oracle's backward of the slice at that offset
    items, dW, _ = kernels.sparse_encoder_backward(part, readonly(dZ[s:e]), row_offset=s, n_threads=n_threads, **kw)
    r_items, r_dW, _ = ref.ref_sparse_encoder_backward(part, dZ[s:e], row_offset=s, **kw)
    np.testing.assert_array_equal(items, r_items)
    assert_close(dW, r_dW, dtype)


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [False, True])
def test_zero_rows(isa, dtype, index_dtype, n_threads, bias):
    X = empty_csr(0, N_ITEMS, dtype, index_dtype)
    W = readonly(np.ones((N_ITEMS, H)), dtype)
    b = readonly(np.arange(H), dtype) if bias else None
    Z = kernels.sparse_encoder_forward(X, W, b, dropout=0.5, n_threads=n_threads)
    assert Z.shape == (0, H) and Z.dtype == dtype
    items, dW, db = kernels.sparse_encoder_backward(X, readonly(np.zeros((0, H)), dtype), n_threads=n_threads)
    assert items.shape == (0,) and items.dtype == np.int64
    assert dW.shape == (0, H) and dW.dtype == dtype
    np.testing.assert_array_equal(db, np.zeros(H, dtype))


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_nnz(isa, dtype, index_dtype, n_threads):
    n_rows = 6
    X = empty_csr(n_rows, N_ITEMS, dtype, index_dtype)
    rng = np.random.default_rng(3)
    W = readonly(rng.standard_normal((N_ITEMS, H)), dtype)
    b = readonly(rng.standard_normal(H), dtype)
    rs = readonly(rng.uniform(0.5, 1.5, n_rows), dtype)
    Z = kernels.sparse_encoder_forward(X, W, b, row_scale=rs, dropout=0.1, n_threads=n_threads)
    np.testing.assert_array_equal(Z, np.broadcast_to(b, (n_rows, H)))
    dZ = readonly(rng.standard_normal((n_rows, H)), dtype)
    items, dW, db = kernels.sparse_encoder_backward(X, dZ, row_scale=rs, n_threads=n_threads)
    assert items.shape == (0,) and dW.shape == (0, H)
    assert_close(db, dZ.astype(np.float64).sum(axis=0), dtype)


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_single_item(isa, dtype, index_dtype, n_threads):
    """A catalogue of one item (n_items = 1), some rows holding it."""
    X = make_csr(5, 1, 0.6, dtype, index_dtype, seed=4, special=False)
    rng = np.random.default_rng(5)
    W = readonly(rng.standard_normal((1, H)), dtype)
    b = readonly(rng.standard_normal(H), dtype)
    Z = kernels.sparse_encoder_forward(X, W, b, n_threads=n_threads)
    assert_close(Z, ref.ref_sparse_encoder_forward(X, W, b), dtype)
    dZ = readonly(rng.standard_normal((5, H)), dtype)
    items, dW, db = kernels.sparse_encoder_backward(X, dZ, n_threads=n_threads)
    r_items, r_dW, r_db = ref.ref_sparse_encoder_backward(X, dZ)
    np.testing.assert_array_equal(items, r_items)
    assert_close(dW, r_dW, dtype)
    assert_close(db, r_db, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mixed_index_dtypes_are_accepted(isa, dtype):
    """indptr int64 with indices int32 (scipy can produce this) is promoted, not rejected."""
    X, W, b, _, _ = _problem(dtype, np.int32, "bias")
    Y = X.copy()
    Y.indptr = np.array(Y.indptr, dtype=np.int64)
    assert Y.indptr.dtype != Y.indices.dtype
    np.testing.assert_array_equal(kernels.sparse_encoder_forward(Y, W, b, n_threads=1),
                                  kernels.sparse_encoder_forward(X, W, b, n_threads=1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_inputs_not_modified(isa, dtype):
    """Writable inputs come back unchanged (the kernel writes only its outputs)."""
    X, W, b, dZ, kw = _problem(dtype, np.int64, "all")
    W2, b2, dZ2 = writable(W), writable(b), writable(dZ)
    rs0 = kw.pop("row_scale")
    rs = writable(rs0)
    kernels.sparse_encoder_forward(X, W2, b2, row_scale=rs, n_threads=2, **kw)
    kernels.sparse_encoder_backward(X, dZ2, row_scale=rs, n_threads=2, **kw)
    np.testing.assert_array_equal(W2, W)
    np.testing.assert_array_equal(b2, b)
    np.testing.assert_array_equal(dZ2, dZ)
    np.testing.assert_array_equal(rs, rs0)


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_determinism_across_threads(isa, dtype, index_dtype):
    """Bit-identical results for n_threads = 1, 2, 3 on a medium problem (a stated guarantee)."""
    n_rows, n_items, h = 300, 500, 64
    rng = np.random.default_rng(21)
    X = make_csr(n_rows, n_items, 0.05, dtype, index_dtype, seed=22)
    W = readonly(rng.standard_normal((n_items, h)), dtype)
    b = readonly(rng.standard_normal(h), dtype)
    rs = readonly(rng.uniform(0.1, 1.0, n_rows), dtype)
    dZ = readonly(rng.standard_normal((n_rows, h)), dtype)
    kw = dict(row_scale=rs, dropout=0.25, seed=3, step=9, row_offset=40)
    outs = []
    for nt in THREADS:
        Z = kernels.sparse_encoder_forward(X, W, b, n_threads=nt, **kw)
        items, dW, db = kernels.sparse_encoder_backward(X, dZ, n_threads=nt, **kw)
        outs.append((Z, items, dW, db))
    for other in outs[1:]:
        for a, o in zip(outs[0], other):
            assert np.array_equal(a, o)
    # and the medium problem agrees with the oracle too
    Z, items, dW, db = outs[0]
    assert_close(Z, ref.ref_sparse_encoder_forward(X, W, b, **kw), dtype)
    r_items, r_dW, r_db = ref.ref_sparse_encoder_backward(X, dZ, **kw)
    np.testing.assert_array_equal(items, r_items)
    assert_close(dW, r_dW, dtype)
    assert_close(db, r_db, dtype)
