"""topk: top-k per row with exclusion, candidates, ties, NaN and −inf, vs the full-sort oracle."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import DTYPES, INDEX_DTYPES, THREADS, empty_csr, freeze_csr, make_csr, readonly

from aerec import _reference as ref
from aerec import kernels

N_ROWS, N_ITEMS = 23, 150  # > two 64-item blocks, so the block-skipping path runs


_REF_CACHE = {}


def _cached_ref(key, scores, k, **kw):
    """The oracle is a slow Python loop; compute it once per distinct input."""
    if key not in _REF_CACHE:
        _REF_CACHE[key] = ref.ref_topk(scores, k, **kw)
    return _REF_CACHE[key]


def _scores(dtype, n_rows=N_ROWS, n_items=N_ITEMS, seed=0, *, ties=True, nan=True, neginf=True):
    rng = np.random.default_rng(seed)
    s = rng.standard_normal((n_rows, n_items))
    if ties:  # few distinct values: many ties, inside and across blocks
        s = np.round(s * 2) / 2
    if nan:
        s[rng.random(s.shape) < 0.1] = np.nan
    if neginf:
        s[rng.random(s.shape) < 0.05] = -np.inf
    return readonly(s, dtype)


def assert_topk_equal(got, want, dtype, k, n_rows):
    idx, val = got
    r_idx, r_val = want
    assert idx.dtype == np.int64 and idx.shape == (n_rows, k)
    assert val.dtype == dtype and val.shape == (n_rows, k)
    np.testing.assert_array_equal(idx, r_idx)
    np.testing.assert_array_equal(val, r_val.astype(dtype))  # scores are copied, so exact
    assert not np.isnan(val).any()


CASES = {
    "plain": dict(),
    "exclude": dict(exclude=True),
    "candidates": dict(candidates=True),
    "exclude_and_candidates": dict(exclude=True, candidates=True),
}


@pytest.mark.parametrize("k", [1, 5, 60, 200])  # 200 > N_ITEMS: every row is padded
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_topk_matches_reference(isa, dtype, index_dtype, n_threads, case, k):
    scores = _scores(dtype)
    kw = {}
    if CASES[case].get("exclude"):
        kw["exclude"] = make_csr(N_ROWS, N_ITEMS, 0.2, dtype, index_dtype, seed=5)
    if CASES[case].get("candidates"):
        rng = np.random.default_rng(6)
        cand = rng.choice(N_ITEMS, 70, replace=True)  # unordered, with duplicates
        kw["candidates"] = readonly(cand.astype(index_dtype))
    got = kernels.topk(scores, k, n_threads=n_threads, **kw)
    want = _cached_ref((np.dtype(dtype).name, np.dtype(index_dtype).name, case, k), scores, k, **kw)
    assert_topk_equal(got, want, dtype, k, N_ROWS)
    idx = got[0]
    if "exclude" in kw:
        ex = kw["exclude"]
        for r in range(N_ROWS):
            assert not set(idx[r][idx[r] >= 0]) & set(ex.indices[ex.indptr[r]:ex.indptr[r + 1]])
    if "candidates" in kw:
        assert set(idx[idx >= 0]) <= set(kw["candidates"].tolist())


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_ties_rank_lower_index_first(isa, dtype, n_threads):
    scores = readonly(np.zeros((3, 200)), dtype)  # all equal
    idx, val = kernels.topk(scores, 10, n_threads=n_threads)
    np.testing.assert_array_equal(idx, np.tile(np.arange(10), (3, 1)))
    np.testing.assert_array_equal(val, np.zeros((3, 10), dtype))
    s = np.zeros((1, 200))
    s[0, [150, 7, 90, 3]] = 1.0  # four tied maxima in different blocks
    idx, _ = kernels.topk(readonly(s, dtype), 6, n_threads=n_threads)
    np.testing.assert_array_equal(idx[0], [3, 7, 90, 150, 0, 1])


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_padding_when_k_exceeds_eligible(isa, dtype, n_threads):
    s = np.array([[0.5, np.nan, 2.0, np.nan, -1.0],
                  [np.nan] * 5,
                  [1.0, 2.0, 3.0, 4.0, 5.0]])
    ex = sp.csr_array(np.array([[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 0, 1, 1]], dtype=dtype))
    ex = freeze_csr(ex, np.int64)
    idx, val = kernels.topk(readonly(s, dtype), 4, exclude=ex, n_threads=n_threads)
    np.testing.assert_array_equal(idx, [[2, 0, 4, -1], [-1, -1, -1, -1], [2, -1, -1, -1]])
    np.testing.assert_array_equal(val, np.array([[2.0, 0.5, -1.0, -np.inf], [-np.inf] * 4,
                                                 [3.0, -np.inf, -np.inf, -np.inf]], dtype))


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_never_returned_and_neginf_ranks_last(isa, dtype, n_threads):
    s = np.full((2, 130), np.nan)
    s[0, 100] = -np.inf
    s[0, 5] = -np.inf
    s[0, 64] = 1.0
    s[1, :] = -np.inf
    s[1, 129] = np.nan
    idx, val = kernels.topk(readonly(s, dtype), 4, n_threads=n_threads)
    # −inf scores are eligible (a real item with the lowest score), ordered by index
    np.testing.assert_array_equal(idx, [[64, 5, 100, -1], [0, 1, 2, 3]])
    np.testing.assert_array_equal(val, np.array([[1.0, -np.inf, -np.inf, -np.inf], [-np.inf] * 4], dtype))
    assert_topk_equal((idx, val), ref.ref_topk(s, 4), dtype, 4, 2)


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_positive_infinity_and_large_values(isa, dtype, n_threads):
    s = np.random.default_rng(3).standard_normal((4, 140))
    s[:, 139] = np.inf
    s[:, 70] = np.finfo(dtype).max
    s[2, 0] = np.inf
    idx, val = kernels.topk(readonly(s, dtype), 3, n_threads=n_threads)
    assert_topk_equal((idx, val), ref.ref_topk(readonly(s, dtype), 3), dtype, 3, 4)
    np.testing.assert_array_equal(idx[2, :3], [0, 139, 70])


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_candidates_forms(isa, dtype, index_dtype):
    scores = _scores(dtype, seed=2)
    k = 8
    want = ref.ref_topk(scores, k, candidates=np.array([3, 10, 64, 65, 149]))
    for cand in ([149, 3, 65, 10, 64, 3, 3], np.array([3, 10, 64, 65, 149], dtype=index_dtype),
                 readonly(np.array([65, 64, 149, 10, 3], dtype=index_dtype))):
        assert_topk_equal(kernels.topk(scores, k, candidates=cand, n_threads=2), want, dtype, k, N_ROWS)
    # an empty candidate list leaves nothing eligible
    idx, val = kernels.topk(scores, 3, candidates=np.array([], dtype=np.int64))
    assert (idx == -1).all() and (val == -np.inf).all()


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_shapes(isa, dtype, index_dtype, n_threads):
    idx, val = kernels.topk(readonly(np.zeros((0, 10)), dtype), 3, exclude=empty_csr(0, 10, dtype, index_dtype),
                            n_threads=n_threads)
    assert idx.shape == (0, 3) and val.shape == (0, 3) and idx.dtype == np.int64 and val.dtype == dtype
    idx, val = kernels.topk(readonly(np.zeros((2, 0)), dtype), 3, n_threads=n_threads)
    assert (idx == -1).all() and (val == -np.inf).all() and idx.shape == (2, 3)
    # exclusion list with no entries changes nothing
    s = _scores(dtype, seed=4)
    assert_topk_equal(kernels.topk(s, 5, exclude=empty_csr(N_ROWS, N_ITEMS, dtype, index_dtype), n_threads=n_threads),
                      ref.ref_topk(s, 5), dtype, 5, N_ROWS)


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_single_item(isa, dtype, n_threads):
    s = readonly(np.array([[0.3], [np.nan], [-np.inf]]), dtype)
    idx, val = kernels.topk(s, 2, n_threads=n_threads)
    np.testing.assert_array_equal(idx, [[0, -1], [-1, -1], [0, -1]])
    assert_topk_equal((idx, val), ref.ref_topk(s, 2), dtype, 2, 3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_exclusion_of_the_best_items(isa, dtype):
    """Excluding every row's current best items (including the first of each block) forces the next ones."""
    s = _scores(dtype, seed=7, nan=False, neginf=False, ties=False)
    top_idx, _ = kernels.topk(s, 10)
    ex = sp.csr_array((np.ones(top_idx.size, dtype), np.sort(top_idx, axis=1).ravel(),
                       np.arange(0, top_idx.size + 1, 10)), shape=s.shape)
    ex = freeze_csr(ex, np.int32)
    idx, _ = kernels.topk(s, 10, exclude=ex, n_threads=3)
    want_idx, _ = kernels.topk(s, 20)
    np.testing.assert_array_equal(idx, want_idx[:, 10:])


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_determinism_across_threads(isa, dtype, index_dtype):
    """Bit-identical for n_threads = 1, 2, 3 on a 300 × 500 problem."""
    scores = _scores(dtype, n_rows=300, n_items=500, seed=11)
    ex = make_csr(300, 500, 0.05, dtype, index_dtype, seed=12)
    cand = np.random.default_rng(13).choice(500, 300, replace=False)
    results = []
    for nt in THREADS:
        results.append(kernels.topk(scores, 20, exclude=ex, n_threads=nt)
                       + kernels.topk(scores, 20, exclude=ex, candidates=cand, n_threads=nt))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)
    assert_topk_equal(results[0][:2], ref.ref_topk(scores, 20, exclude=ex), dtype, 20, 300)
    assert_topk_equal(results[0][2:], ref.ref_topk(scores, 20, exclude=ex, candidates=cand), dtype, 20, 300)


LONG_ITEMS = 1100  # 4 chunks of 256 items = 64 groups: the floor from group maxima runs when k + n_excluded ≤ 32


@pytest.mark.parametrize("k", [1, 5, 24])
@pytest.mark.parametrize("case", ["plain", "exclude", "exclude_best", "mostly_missing", "negative", "near_ties"])
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_topk_long_rows_match_reference(isa, dtype, n_threads, case, k):
    """Rows long enough for the floor computed from group maxima (ties, NaN, −inf, exclusions of the
    very items that set the floor, rows of mostly NaN/−inf where groups have no finite maximum)."""
    n_rows = 9
    scores = _scores(dtype, n_rows, LONG_ITEMS, seed=11).astype(np.float64)
    kw = {}
    if case == "mostly_missing":
        rng = np.random.default_rng(12)
        scores[rng.random(scores.shape) < 0.97] = np.nan
        scores[:3, :] = -np.inf
        scores[3, ::37] = 1.0  # a few finite items, ties
    if case == "negative":  # keys of negative values run backwards; −0 and +0 tie
        scores = -1000.0 - np.abs(scores) * 10.0**np.arange(n_rows)[:, None]
        scores[0, ::7] = -0.0
        scores[0, 3::7] = 0.0
    if case == "near_ties":  # values that share the top 24 key bits the floor is selected on
        scores = 1.0 + np.random.default_rng(14).integers(0, 64, scores.shape) * np.finfo(np.float32).eps
    if case == "exclude":
        kw["exclude"] = make_csr(n_rows, LONG_ITEMS, 0.005, dtype, np.int32, seed=13)
    if case == "exclude_best":  # exclude each row's 6 best items (the maxima the floor is built from)
        best = np.argsort(-np.nan_to_num(scores, nan=-np.inf), axis=1, kind="stable")[:, :6]
        rows = np.repeat(np.arange(n_rows), 6)
        kw["exclude"] = sp.csr_array((np.ones(rows.size), (rows, best.ravel())), shape=scores.shape)
        kw["exclude"].sort_indices()
    scores = readonly(scores, dtype)
    got = kernels.topk(scores, k, n_threads=n_threads, **kw)
    assert_topk_equal(got, ref.ref_topk(scores, k, **kw), dtype, k, n_rows)
