"""Property-based tests (hypothesis) over random sparse structures: the kernels never crash, give
finite results matching the oracle, top-k never returns an excluded, non-candidate or
out-of-range item, and arbitrary (possibly malformed) CSR arrays fed to the raw bindings either
work or raise ValueError/TypeError — never crash. Also run under the sanitizer build in CI."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aerec import _native, kernels
from aerec import _reference as ref

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def csr_matrices(draw, max_rows=12, max_cols=15, dtype=np.float64):
    n_rows = draw(st.integers(0, max_rows))
    n_cols = draw(st.integers(1, max_cols))
    mask = draw(st.lists(st.booleans(), min_size=n_rows * n_cols, max_size=n_rows * n_cols))
    dense = np.zeros((n_rows, n_cols), dtype=dtype)
    vals = draw(st.lists(st.floats(-3, 3, allow_nan=False, width=32), min_size=n_rows * n_cols,
                         max_size=n_rows * n_cols))
    if n_rows:
        dense[np.array(mask).reshape(n_rows, n_cols)] = np.array(vals, dtype=dtype).reshape(n_rows, n_cols)[
            np.array(mask).reshape(n_rows, n_cols)]
    X = sp.csr_array(dense)
    idx = draw(st.sampled_from([np.int32, np.int64]))
    X.indptr, X.indices = X.indptr.astype(idx), X.indices.astype(idx)
    return X


@SETTINGS
@given(X=csr_matrices(), h=st.integers(1, 5), dropout=st.sampled_from([0.0, 0.3]), n_threads=st.integers(1, 3))
def test_sparse_encoder_matches_oracle(X, h, dropout, n_threads):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((X.shape[1], h))
    Z = kernels.sparse_encoder_forward(X, W, dropout=dropout, seed=3, step=1, n_threads=n_threads)
    np.testing.assert_allclose(Z, ref.ref_sparse_encoder_forward(X, W, dropout=dropout, seed=3, step=1), atol=1e-10)
    dZ = rng.standard_normal((X.shape[0], h))
    items, dW, db = kernels.sparse_encoder_backward(X, dZ, dropout=dropout, seed=3, step=1, n_threads=n_threads)
    r_items, r_dW, r_db = ref.ref_sparse_encoder_backward(X, dZ, dropout=dropout, seed=3, step=1)
    np.testing.assert_array_equal(items, r_items)
    np.testing.assert_allclose(dW, r_dW, atol=1e-10)


@SETTINGS
@given(X=csr_matrices(dtype=np.float32), k=st.integers(1, 20), with_candidates=st.booleans(),
       nan_share=st.sampled_from([0.0, 0.2]), n_threads=st.integers(1, 3))
def test_topk_never_returns_forbidden_items(X, k, with_candidates, nan_share, n_threads):
    rng = np.random.default_rng(1)
    scores = rng.standard_normal(X.shape).astype(np.float32)
    scores[rng.random(X.shape) < nan_share] = np.nan
    scores[:, ::3] = np.round(scores[:, ::3])  # ties
    candidates = rng.choice(X.shape[1], size=max(1, X.shape[1] // 2), replace=False) if with_candidates else None
    idx, val = kernels.topk(scores, k, exclude=X, candidates=candidates, n_threads=n_threads)
    r_idx, r_val = ref.ref_topk(scores, k, exclude=X, candidates=candidates)
    np.testing.assert_array_equal(idx, r_idx)
    np.testing.assert_array_equal(val, r_val.astype(np.float32))
    for r in range(X.shape[0]):
        got = idx[r][idx[r] >= 0]
        assert got.max(initial=-1) < X.shape[1]
        assert not set(got) & set(X[[r]].indices)
        if candidates is not None:
            assert set(got) <= set(candidates)
        assert np.isfinite(val[r][idx[r] >= 0]).all() or np.isinf(val[r][idx[r] >= 0]).any()


@SETTINGS
@given(n_rows=st.integers(0, 6), n_cols=st.integers(0, 6),
       indptr=st.lists(st.integers(-3, 12), min_size=0, max_size=8),
       indices=st.lists(st.integers(-3, 9), min_size=0, max_size=10),
       idx_dtype=st.sampled_from([np.int32, np.int64]))
def test_raw_bindings_never_crash_on_arbitrary_csr(n_rows, n_cols, indptr, indices, idx_dtype):
    """Whatever arrays arrive, the C++ checks them before touching memory: a result or a clean error."""
    m = _native.cpu_module()
    ip = np.array(indptr, dtype=idx_dtype)
    ix = np.array(indices, dtype=idx_dtype)
    data = np.ones(ix.size)
    h = 2
    calls = [
        lambda: m.sparse_encoder_forward(ip, ix, data, n_cols, np.ones((n_cols, h)), None, None, 0.0, 0, 0, 0, 2),
        lambda: m.sparse_encoder_backward(ip, ix, data, n_cols, np.ones((max(ip.size - 1, 0), h)), None, 0.0, 0, 0,
                                          0, 2),
        lambda: m.masked_decoder_forward(ip, ix, n_cols, np.ones((max(ip.size - 1, 0), h)), np.ones((n_cols, h)),
                                         None, 2),
        lambda: m.masked_decoder_backward(ip, ix, n_cols, np.ones((max(ip.size - 1, 0), h)), np.ones((n_cols, h)),
                                          np.ones(ix.size), 2),
        lambda: m.multinomial_loss_grad(np.zeros((max(ip.size - 1, 0), n_cols)), None, ip, ix, data, 1.0, 2),
        lambda: m.topk(np.zeros((max(ip.size - 1, 0), n_cols)), 2, ip, ix, None, 2),
        lambda: m.sparse_gram(ip, ix, data, n_cols, 2),
    ]
    for call in calls:
        try:
            call()
        except (ValueError, TypeError):
            pass


@pytest.mark.parametrize("n_threads", [1, 2])
def test_activations_finite_on_extremes(n_threads):
    z = np.array([-1e30, -1e4, -88.0, -20.0, -1e-7, 0.0, 1e-7, 20.0, 88.0, 1e4, 1e30], dtype=np.float32)
    for name in kernels.ACTIVATIONS:
        y = kernels.activation_forward(name, z, n_threads=n_threads)
        dz = kernels.activation_backward(name, z, y, np.ones_like(z), n_threads=n_threads)
        if name in ("identity", "relu", "leaky_relu", "elu", "selu", "swish"):
            continue  # unbounded above by design
        assert np.isfinite(y).all() and np.isfinite(dz).all(), name
