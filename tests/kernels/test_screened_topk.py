"""screened_topk, the exact top-k screened in bfloat16: equal to the float64 oracle's top-k (ties, exclusion,
candidates, padding, NaN), also where the screen ranks wrongly (built near-ties at the bound), rows the
bound cannot cover (non-finite, near overflow), the fallback screen, threads, validation; and the bound
itself measured against the AMX kernel's actual error."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import INDEX_DTYPES, THREADS, make_csr, readonly

from aerec import _reference as ref
from aerec import kernels


def _operands(M, K, N, seed=0, bias_scale=0.3):
    rng = np.random.default_rng(seed)
    A = np.tanh(rng.standard_normal((M, K))).astype(np.float32)
    B = (rng.standard_normal((K, N)) / np.sqrt(K)).astype(np.float32)
    bias = (bias_scale * rng.standard_normal(N)).astype(np.float32)
    return A, B, bias


def assert_matches_oracle(got, want, k, M):
    idx, val = got
    assert idx.shape == (M, k) and idx.dtype == np.int64 and val.shape == (M, k) and val.dtype == np.float32
    np.testing.assert_array_equal(idx, want[0])
    # the scores are the float64 ones rounded to float32
    np.testing.assert_array_equal(val, want[1].astype(np.float32))


CASES = ["plain", "exclude", "candidates", "exclude_and_candidates"]


@pytest.mark.parametrize("k", [1, 7, 40, 500])  # 500 > the 300 items: padded rows
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_screened_topk_matches_oracle(isa, index_dtype, n_threads, case, k):
    M, K, N = 70, 96, 300
    A, B, bias = _operands(M, K, N, seed=k)
    W = kernels.pack_bf16(B, keep_exact=True)
    kw = {}
    if "exclude" in case:
        kw["exclude"] = make_csr(M, N, 0.1, np.float32, index_dtype, seed=3)
    if "candidates" in case:
        kw["candidates"] = readonly(np.random.default_rng(4).choice(N, 120).astype(index_dtype))
    got = kernels.screened_topk(A, W, k, bias, n_threads=n_threads, **kw)
    assert_matches_oracle(got, ref.ref_screened_topk(A, B, k, bias, **kw), k, M)


def test_screened_topk_without_bias_and_empty_rows():
    A, B, _ = _operands(20, 40, 200, seed=1)
    W = kernels.pack_bf16(B, keep_exact=True)
    assert_matches_oracle(kernels.screened_topk(A, W, 5), ref.ref_screened_topk(A, B, 5), 5, 20)
    idx, val = kernels.screened_topk(A[:0], W, 5)
    assert idx.shape == (0, 5) and val.shape == (0, 5)


def _near_ties(K=256, n_decoys=40):
    """Item 0 outranks every decoy exactly, but its bfloat16 screen ranks it below them all, by about
    0.77 of the bound e: a screen margin under that would lose it.

    The first half of a rounds down (1 + 0.49 step → 1), the second half up (1 + 0.51 step → 1 + step).
    Item 0 lives on the first half with weights just above a bfloat16 value c (rounding down): its screen
    is too low by about 0.7 e. The decoys live on the second half with weights just below p or p + u
    (rounding up): their screens are too high. Kept: decoys exactly below item 0 but screened above it."""
    H = K // 2
    step, u = 2.0**-7, 2.0**-9  # bfloat16 spacing in [1, 2) and in [0.25, 0.5)
    A = np.empty((1, K), np.float32)
    A[0, :H] = 1 + 0.49 * step
    A[0, H:] = 1 + 0.51 * step
    c = np.float32(0.25 + 25 * u)
    B = np.zeros((K, 1 + 2 * H), np.float32)
    B[:H, 0] = c + np.float32(0.49 * u)
    for m in range(2 * H):
        v = np.full(H, c - (2 if m < H else 1) * u, np.float32)
        v[: m % H] += np.float32(u)
        B[H:, 1 + m] = v - np.float32(0.49 * u)
    exact = A.astype(np.float64) @ B.astype(np.float64)
    screen = kernels.bf16_round(A).astype(np.float64) @ kernels.bf16_round(B).astype(np.float64)
    keep = np.flatnonzero((exact[0, 1:] < exact[0, 0]) & (screen[0, 1:] > screen[0, 0])) + 1
    keep = keep[np.argsort(-screen[0, keep])][:n_decoys]
    return A, np.ascontiguousarray(B[:, np.concatenate([[0], keep])])


def test_screen_ranks_wrongly_result_is_exact(isa):
    A, B = _near_ties()
    exact = A.astype(np.float64) @ B.astype(np.float64)
    W = kernels.pack_bf16(B, keep_exact=True)
    screen = kernels.gemm_bf16(A, W)
    assert B.shape[1] > 20 and np.argmax(exact[0]) == 0 and screen[0, 0] < screen[0, 1:].min()  # screen is wrong
    assert screen[0, 1:].max() - screen[0, 0] > 0.7 * _bound(A, W, np.zeros(B.shape[1], np.float32))[0]
    for k in (1, 3):
        assert_matches_oracle(kernels.screened_topk(A, W, k), ref.ref_screened_topk(A, B, k), k, 1)


def test_screened_topk_with_the_fallback_screen(monkeypatch):
    """AEREC_AMX=0: the screen is the sgemm of the rounded operands; the bound covers any summation order."""
    monkeypatch.setenv("AEREC_AMX", "0")
    A, B, bias = _operands(40, 64, 250, seed=5)
    W = kernels.pack_bf16(B, keep_exact=True)
    assert W.packed is None and "exact" in repr(W)
    assert_matches_oracle(kernels.screened_topk(A, W, 10, bias), ref.ref_screened_topk(A, B, 10, bias), 10, 40)
    A2, B2 = _near_ties()
    W2 = kernels.pack_bf16(B2, keep_exact=True)
    assert_matches_oracle(kernels.screened_topk(A2, W2, 1), ref.ref_screened_topk(A2, B2, 1), 1, 1)


@pytest.mark.parametrize("n_threads", THREADS)
def test_rows_the_bound_cannot_cover_are_rescored_in_full(n_threads):
    A, B, bias = _operands(12, 32, 180, seed=6)
    A[1, 3] = np.nan  # every score NaN: nothing returned
    A[2, 5] = np.inf  # ±inf and NaN scores
    A[3] *= np.float32(1e30)  # ‖a‖·‖w‖ beyond 2^120: the screen might overflow
    W = kernels.pack_bf16(B, keep_exact=True)
    got = kernels.screened_topk(A, W, 6, bias, n_threads=n_threads)
    with np.errstate(invalid="ignore", over="ignore"):
        want = ref.ref_screened_topk(A, B, 6, bias)
    assert_matches_oracle(got, want, 6, 12)
    assert (got[0][1] == -1).all()


def test_non_finite_weights_rescore_everything():
    A, B, bias = _operands(6, 16, 90, seed=7)
    B[2, 10] = np.inf
    W = kernels.pack_bf16(B, keep_exact=True)
    assert not np.isfinite(W.exact_norms[0])
    with np.errstate(invalid="ignore", over="ignore"):
        want = ref.ref_screened_topk(A, B, 4, bias)
    assert_matches_oracle(kernels.screened_topk(A, W, 4, bias), want, 4, 6)


def test_screened_topk_identical_across_threads():
    A, B, bias = _operands(300, 128, 2000, seed=8)
    W = kernels.pack_bf16(B, keep_exact=True)
    ex = make_csr(300, 2000, 0.02, np.float32, np.int32, seed=9)
    runs = [kernels.screened_topk(A, W, 25, bias, exclude=ex, n_threads=n) for n in THREADS]
    for idx, val in runs[1:]:
        np.testing.assert_array_equal(idx, runs[0][0])
        np.testing.assert_array_equal(val, runs[0][1])


def _bound(A, W, bias):
    """The per-row bound of screened_topk.h, recomputed here from the same quantities."""
    K = A.shape[1]
    n = 2 * K + 2
    gamma = n * 2.0**-24 / (1 - n * 2.0**-24)
    Ar = kernels.bf16_round(A).astype(np.float64)
    a_r = np.linalg.norm(Ar, axis=1)
    a_d = np.linalg.norm(A.astype(np.float64) - Ar, axis=1)
    wn, wr, wd = W.exact_norms
    return a_d * wn + a_r * wd + gamma * (a_r * wr + np.abs(bias).max()) + 2.0**-100 * (K + 1) * (1 + a_r + a_d + wn)


@pytest.mark.parametrize("K", [8, 600, 1500])
def test_the_screen_error_stays_within_the_bound(isa, K):
    """The bound the exactness rests on, against gemm_bf16's actual error (AMX here if available):
    random operands, and aligned ones where the rounding errors add up."""
    A, B, bias = _operands(50, K, 400, seed=K)
    for A_, B_ in ((A, B), (np.abs(A), np.abs(B))):
        W = kernels.pack_bf16(B_, keep_exact=True)
        err = np.abs(kernels.gemm_bf16(A_, W, bias).astype(np.float64)
                     - (A_.astype(np.float64) @ B_.astype(np.float64) + bias))
        e = _bound(A_, W, bias)
        assert (err <= e[:, None]).all()
        assert err.max() > 1e-3 * e.max()  # the bound is not vacuous on these operands
    A2, B2 = _near_ties(K=max(K, 16))
    W2 = kernels.pack_bf16(B2, keep_exact=True)
    z = np.zeros(B2.shape[1], np.float32)
    err = np.abs(kernels.gemm_bf16(A2, W2).astype(np.float64) - A2.astype(np.float64) @ B2.astype(np.float64))
    assert (err <= _bound(A2, W2, z)[:, None]).all() and err.max() > 0.3 * _bound(A2, W2, z).max()


def test_exact_norms_bound_the_columns():
    _, B, _ = _operands(1, 50, 80, seed=10)
    wn, wr, wd = kernels.pack_bf16(B, keep_exact=True).exact_norms
    R = kernels.bf16_round(B).astype(np.float64)
    for got, cols in ((wn, B.astype(np.float64)), (wr, R), (wd, B.astype(np.float64) - R)):
        true = np.linalg.norm(cols, axis=0).max()
        assert true <= got <= true * (1 + 1e-5)


def test_screened_topk_rejects_bad_input():
    A, B, bias = _operands(4, 8, 30)
    W = kernels.pack_bf16(B, keep_exact=True)
    with pytest.raises(ValueError, match="keep_exact"):
        kernels.screened_topk(A, kernels.pack_bf16(B), 3)
    with pytest.raises(TypeError, match="BF16Weights"):
        kernels.screened_topk(A, B, 3)
    with pytest.raises(ValueError, match="columns"):
        kernels.screened_topk(A[:, :5].copy(), W, 3)
    with pytest.raises(ValueError, match="bias"):
        kernels.screened_topk(A, W, 3, bias[:4].copy())
    with pytest.raises(ValueError, match="k"):
        kernels.screened_topk(A, W, 0)
    with pytest.raises(TypeError, match="float32"):
        kernels.screened_topk(A.astype(np.float64), W, 3)
    with pytest.raises(ValueError, match="exclude"):
        kernels.screened_topk(A, W, 3, exclude=sp.csr_array((5, 30)))
    with pytest.raises(ValueError, match="candidates"):
        kernels.screened_topk(A, W, 3, candidates=np.array([0, 30]))
    with pytest.raises(AttributeError, match="read-only"):
        W.exact_norms = (0.0, 0.0, 0.0)


def test_native_screened_topk_checks_every_shape(isa):
    """The binding sizes every array it reads from the others: a wrong one is refused, never read past."""
    mod = kernels._mod()
    A, B, bias = _operands(4, 8, 30)
    W = kernels.pack_bf16(B, keep_exact=True)
    S = kernels.gemm_bf16(A, W, bias)
    args = dict(screen=S, A=A, Wt=W.exact, bias=bias, norms=W.exact_norms, k=3, excl_indptr=None, excl_indices=None,
                candidates=None, n_threads=1)
    mod.screened_topk(**args)
    for name, bad, named in (("screen", S[:, :-1].copy(), "screen"), ("screen", S[:-1].copy(), "screen"),
                             ("A", A[:, :-1].copy(), "Wt"), ("A", A[:-1].copy(), "screen"),
                             ("Wt", W.exact[:-1].copy(), "screen"), ("bias", bias[:-1].copy(), "bias")):
        with pytest.raises(ValueError, match=named):
            mod.screened_topk(**{**args, name: bad})
    with pytest.raises(ValueError, match="norms"):
        mod.screened_topk(**{**args, "norms": (1.0, 2.0)})
    with pytest.raises(ValueError, match="out of range"):
        mod.screened_topk(**{**args, "candidates": np.array([0, 99], np.int64)})
    with pytest.raises(TypeError, match="bias: expected a NumPy array"):
        mod.screened_topk(**{**args, "bias": [0.0] * 30})
