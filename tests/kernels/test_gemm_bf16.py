"""gemm_bf16, the bfloat16 scoring GEMM: rounding vs the oracle bit for bit, the AMX product vs the float64
oracle of the rounded operands, determinism across threads, the fallback, validation."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import THREADS

from aerec import _reference as ref
from aerec import kernels

AMX = kernels.amx_bf16_available()


def _operands(M, K, N, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((M, K)).astype(np.float32)
    B = (0.05 * rng.standard_normal((K, N))).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    return A, B, bias


def _bound(A, B):
    """Float32 accumulation of K exact products: |error| ≤ K·eps32·Σ|a||b| per element (loose, not sharp)."""
    return A.shape[1] * 2.0**-23 * (np.abs(ref.ref_bf16_round(A)).astype(np.float64)
                                    @ np.abs(ref.ref_bf16_round(B)).astype(np.float64)) + 1e-6


def test_bf16_round_matches_oracle_bitwise(isa):
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.standard_normal(5000).astype(np.float32),
                        (rng.standard_normal(5000) * 1e30).astype(np.float32),
                        np.array([0.0, -0.0, np.inf, -np.inf, 1e-40, -1e-45, 3.4028235e38], np.float32)])
    # exact ties: the low 16 bits are 0x8000, so even/odd upper halves round differently
    ties = (np.arange(1000, dtype=np.uint32) << 16 | 0x8000).astype(np.uint32) + np.uint32(0x3F000000)
    x = np.concatenate([x, ties.view(np.float32)])
    got = kernels.bf16_round(x)
    np.testing.assert_array_equal(got.view(np.uint32), ref.ref_bf16_round(x).view(np.uint32))
    assert np.all(got.view(np.uint32) & 0xFFFF == 0)
    assert np.isnan(kernels.bf16_round(np.array([np.nan], np.float32))[0])


def test_bf16_round_is_nearest():
    x = np.float32(1.0) + np.float32(2.0**-8) * np.array([0.49, 0.51, 1.0, 1.49, 1.51], np.float32)
    # bfloat16 keeps 7 mantissa bits: near 1 the grid is 2^-7, so x rounds up past 1 + 2^-8 (a tie: to even)
    np.testing.assert_array_equal(kernels.bf16_round(x), np.array([1, 1, 1, 1 + 2**-7, 1 + 2**-7], np.float32))
    # 1 + 2^-8 is a tie between 1 and 1 + 2^-7: ties go to the even mantissa (1.0)
    assert kernels.bf16_round(np.array([1 + 2**-8], np.float32))[0] == 1.0
    assert kernels.bf16_round(np.array([1 + 3 * 2**-8], np.float32))[0] == 1 + 2**-6
    assert kernels.bf16_round(np.array([1 + 0.6 * 2**-7], np.float32))[0] == 1 + 2**-7


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("shape", [(1, 1, 1), (5, 33, 17), (37, 600, 100), (64, 64, 48), (33, 31, 129)])
def test_gemm_bf16_matches_oracle(isa, shape, n_threads):
    A, B, bias = _operands(*shape, seed=sum(shape))
    got = kernels.gemm_bf16(A, kernels.pack_bf16(B), bias, n_threads=n_threads)
    assert got.dtype == np.float32 and got.shape == (shape[0], shape[2])
    want = ref.ref_gemm_bf16(A, B, bias)
    assert np.all(np.abs(got - want) <= _bound(A, B))
    # and bfloat16 is what it says: the float32 product differs by far more than the accumulation error
    if shape[1] >= 31:
        exact = A.astype(np.float64) @ B.astype(np.float64) + bias
        assert np.abs(exact - want).max() > 20 * np.abs(got - want).max()


def test_gemm_bf16_without_bias_and_empty_rows():
    A, B, _ = _operands(20, 40, 30, seed=1)
    W = kernels.pack_bf16(B)
    np.testing.assert_allclose(kernels.gemm_bf16(A, W), ref.ref_gemm_bf16(A, B), atol=1e-5)
    assert kernels.gemm_bf16(A[:0], W).shape == (0, 30)


def test_gemm_bf16_deterministic_across_threads():
    A, B, bias = _operands(300, 200, 1000, seed=4)
    W = kernels.pack_bf16(B)
    results = [kernels.gemm_bf16(A, W, bias, n_threads=n) for n in THREADS]
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])


def test_gemm_bf16_fallback_matches_oracle(monkeypatch):
    """AEREC_AMX=0 (or a CPU without AMX): an sgemm of the rounded operands, same meaning."""
    monkeypatch.setenv("AEREC_AMX", "0")
    assert not kernels.amx_bf16_available()
    A, B, bias = _operands(50, 70, 90, seed=2)
    W = kernels.pack_bf16(B)
    assert W.packed is None and "fallback" in repr(W)
    got = kernels.gemm_bf16(A, W, bias)
    assert np.all(np.abs(got - ref.ref_gemm_bf16(A, B, bias)) <= _bound(A, B))


@pytest.mark.skipif(not AMX, reason="this CPU/OS has no AMX-BF16")
def test_gemm_bf16_amx_weights_need_amx(monkeypatch):
    A, B, _ = _operands(4, 8, 8)
    W = kernels.pack_bf16(B)
    assert W.packed is not None and "amx" in repr(W)
    monkeypatch.setenv("AEREC_AMX", "0")
    with pytest.raises(ValueError, match="pack them again"):
        kernels.gemm_bf16(A, W)


def test_gemm_bf16_rejects_bad_input():
    A, B, bias = _operands(4, 8, 6)
    W = kernels.pack_bf16(B)
    with pytest.raises(TypeError, match="BF16Weights"):
        kernels.gemm_bf16(A, B)
    with pytest.raises(TypeError, match="float32"):
        kernels.gemm_bf16(A.astype(np.float64), W)
    with pytest.raises(ValueError, match="columns"):
        kernels.gemm_bf16(A[:, :5].copy(), W)
    with pytest.raises(ValueError, match="C-contiguous"):
        kernels.gemm_bf16(np.asfortranarray(A), W)
    with pytest.raises(ValueError, match="bias"):
        kernels.gemm_bf16(A, W, bias[:3].copy())
    with pytest.raises(TypeError, match="float32"):
        kernels.pack_bf16(B.astype(np.float64))
    with pytest.raises(ValueError, match="at least one"):
        kernels.pack_bf16(np.zeros((0, 3), np.float32))


@pytest.mark.skipif(not AMX, reason="this CPU/OS has no AMX-BF16")
def test_native_gemm_bf16_checks_the_packed_size(isa):
    """The binding never trusts a packed array it did not size: a wrong length is refused."""
    mod = kernels._mod()
    A, B, _ = _operands(4, 40, 20)
    P = kernels.pack_bf16(B).packed
    with pytest.raises(ValueError, match="packed"):
        mod.gemm_bf16(A, P[:-1].copy(), 20, None, 1)
    with pytest.raises(ValueError, match="packed"):
        mod.gemm_bf16(A, P, 40, None, 1)  # N larger than what was packed
    with pytest.raises(TypeError, match="packed"):
        mod.gemm_bf16(A, P.astype(np.int32), 20, None, 1)


@pytest.mark.skipif(not AMX, reason="this CPU/OS has no AMX-BF16")
def test_native_optional_arrays_are_never_converted(isa):
    """An optional argument given as a list is refused: a converted temporary would be freed before
    the kernel reads it (or, for state, updated and thrown away)."""
    mod = kernels._mod()
    A, B, _ = _operands(4, 8, 6)
    with pytest.raises(TypeError, match="bias: expected a NumPy array"):
        mod.gemm_bf16(A, kernels.pack_bf16(B).packed, 6, [np.float32(2.0)] * 6, 1)
    with pytest.raises(ValueError, match="too large"):
        mod.gemm_bf16(A, kernels.pack_bf16(B).packed, 2**62, None, 1)


def test_bf16_weights_are_read_only():
    W = kernels.pack_bf16(np.ones((8, 6), np.float32))
    with pytest.raises(AttributeError):
        W.shape = (4, 12)
    arr = W.packed if W.packed is not None else W.rounded
    assert not arr.flags.writeable
