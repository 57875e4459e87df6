"""gemm_f32, the float32 training GEMM: against the float64 oracle within the float32 bound for every
operand layout (transposed, sliced, negative strides) and every edge of the blocking (tile edges, several
kc-blocks, more rows than one A block, more columns than one B block), accumulate, bit-identical results
for any n_threads, NaN/inf propagation, a central-difference gradient check, validation, and the backend
routing float32 products through it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import THREADS

from aerec import _native, kernels
from aerec import _reference as ref
from aerec.engine import backend as backend_mod


def _tile():
    return _native.cpu_module().gemm_f32_tile()  # (rows, columns, largest kc) of the active variant


def _operand(rng, shape, layout):
    """A float32 matrix of ``shape`` in a layout: 'c' contiguous, 't' a transposed view, 's' a strided
    slice of a bigger array, 'n' reversed rows (a negative stride)."""
    m, n = shape
    if layout == "c":
        return rng.standard_normal((m, n)).astype(np.float32)
    if layout == "t":
        return rng.standard_normal((n, m)).astype(np.float32).T
    if layout == "s":
        return rng.standard_normal((2 * m + 1, 3 * n + 2)).astype(np.float32)[1::2, 2::3]
    return rng.standard_normal((m, n)).astype(np.float32)[::-1]


def _check(A, B, got, C0=None):
    want = ref.ref_gemm_f32(A, B, C0)
    bound = ref.ref_gemm_f32_bound(A, B, C0)
    err = np.abs(got.astype(np.float64) - want)
    assert np.all(err <= bound), f"max error / bound = {np.max(err / np.maximum(bound, 1e-300)):.3g}"


def _shapes():
    mr, nr, kc = _tile()
    return [(1, 1, 1), (mr, kc, nr), (mr + 1, kc + 1, nr + 1), (2 * mr - 1, 2 * kc + 5, 3 * nr - 3),
            (37, 200, 70), (5, 3, 600), (130, 17, 1)]


@pytest.mark.parametrize("layout_a", ["c", "t", "s", "n"])
@pytest.mark.parametrize("layout_b", ["c", "t", "s", "n"])
def test_gemm_f32_matches_oracle_for_every_layout(isa, layout_a, layout_b):
    rng = np.random.default_rng(["ctsn".index(layout_a), "ctsn".index(layout_b)])  # not hash(): salted per run
    for M, K, N in _shapes():
        A, B = _operand(rng, (M, K), layout_a), _operand(rng, (K, N), layout_b)
        got = kernels.gemm_f32(A, B)
        assert got.shape == (M, N) and got.dtype == np.float32
        _check(A, B, got)


@pytest.mark.parametrize("n_threads", THREADS)
def test_gemm_f32_accumulate_adds_to_out(isa, n_threads):
    rng = np.random.default_rng(1)
    mr, nr, kc = _tile()
    for M, K, N in [(mr * 3 + 2, kc + 7, nr * 2 + 5), (4, 9, 3)]:
        A, B = _operand(rng, (M, K), "t"), _operand(rng, (K, N), "c")
        C0 = rng.standard_normal((M, N)).astype(np.float32)
        out = C0.copy()
        assert kernels.gemm_f32(A, B, out=out, accumulate=True, n_threads=n_threads) is out
        _check(A, B, out, C0)


def test_gemm_f32_beyond_one_block_in_every_dimension():
    """More rows than one packed A block (3,072), more columns than one B block (512), K over several
    kc-blocks: the loops over blocks, and the double-buffered packing that alternates between them."""
    rng = np.random.default_rng(2)
    A = _operand(rng, (3100, 50), "c")
    B = _operand(rng, (50, 9), "t")
    _check(A, B, kernels.gemm_f32(A, B, n_threads=2))
    A = _operand(rng, (29, 1000), "c")
    B = _operand(rng, (1000, 1100), "c")
    _check(A, B, kernels.gemm_f32(A, B, n_threads=2))


def test_gemm_f32_is_identical_for_any_thread_count(isa):
    rng = np.random.default_rng(3)
    mr, nr, kc = _tile()
    for M, K, N, la, lb in [(300, 2 * kc + 3, 700, "c", "c"), (128, 1000, 512, "c", "t"),
                            (900, 128, 300, "t", "c"), (11, 50, 40, "s", "n")]:
        A, B = _operand(rng, (M, K), la), _operand(rng, (K, N), lb)
        outs = [kernels.gemm_f32(A, B, n_threads=t) for t in (1, 2, 3, 4)]
        for o in outs[1:]:
            np.testing.assert_array_equal(o, outs[0])


def test_gemm_f32_empty_dimensions():
    z = kernels.gemm_f32(np.ones((3, 0), np.float32), np.ones((0, 4), np.float32))
    np.testing.assert_array_equal(z, np.zeros((3, 4), np.float32))
    out = np.full((3, 4), 2.0, np.float32)
    kernels.gemm_f32(np.ones((3, 0), np.float32), np.ones((0, 4), np.float32), out=out, accumulate=True)
    np.testing.assert_array_equal(out, np.full((3, 4), 2.0, np.float32))
    assert kernels.gemm_f32(np.ones((0, 5), np.float32), np.ones((5, 4), np.float32)).shape == (0, 4)
    assert kernels.gemm_f32(np.ones((3, 5), np.float32), np.ones((5, 0), np.float32)).shape == (3, 0)


def test_gemm_f32_propagates_nan_and_inf(isa):
    rng = np.random.default_rng(4)
    A = rng.standard_normal((40, 70)).astype(np.float32)
    B = rng.standard_normal((70, 50)).astype(np.float32)
    A[3, 10] = np.nan
    A[7, 20] = np.inf
    B[5, 33] = -np.inf
    got = kernels.gemm_f32(A, B)
    want = A.astype(np.float64) @ B.astype(np.float64)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    assert np.isnan(got[3]).all()  # a NaN in row 3 of A reaches every column


def test_gemm_f32_gradient_central_difference():
    """L(A) = Σ G∘(A·B): dL/dA = G·Bᵀ, computed with the kernel on a transposed view, against central
    differences of L evaluated with the kernel (float64 sums of its float32 products)."""
    rng = np.random.default_rng(5)
    A = rng.standard_normal((9, 14)).astype(np.float32)
    B = rng.standard_normal((14, 37)).astype(np.float32)
    G = rng.standard_normal((9, 37)).astype(np.float32)
    grad = kernels.gemm_f32(G, B.T)

    def loss(a):
        return float(np.sum(G.astype(np.float64) * kernels.gemm_f32(a, B)))

    h = 1e-2
    for i, j in [(0, 0), (4, 7), (8, 13), (2, 5)]:
        Ap, Am = A.copy(), A.copy()
        Ap[i, j] += h
        Am[i, j] -= h
        num = (loss(Ap) - loss(Am)) / (2 * h)
        assert abs(num - grad[i, j]) <= 2e-3 * (1 + abs(grad[i, j]))


def test_gemm_f32_out_aliasing_an_operand_gets_the_right_product():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 40)).astype(np.float32)
    A, B = X[:20, :30].copy(), X[:30, 20:].copy()
    want = ref.ref_gemm_f32(A, B)
    kernels.gemm_f32(X[:20, :30], X[:30, 20:], out=X[:20, 20:])  # out overlaps both operands
    np.testing.assert_allclose(X[:20, 20:], want, rtol=1e-5, atol=1e-4)


def test_gemm_f32_strided_out():
    rng = np.random.default_rng(7)
    A, B = _operand(rng, (20, 30), "c"), _operand(rng, (30, 10), "c")
    big = np.zeros((20, 30), np.float32)
    kernels.gemm_f32(A, B, out=big[:, ::3])  # columns not contiguous: computed aside, then copied in
    _check(A, B, big[:, ::3])
    assert np.all(big[:, 1::3] == 0)


def _misaligned(shape):
    """A float32 array whose data starts one byte past an alignment boundary (np.frombuffer at offset 1)."""
    n = int(np.prod(shape))
    buf = np.zeros(4 * n + 1, np.uint8)
    a = np.frombuffer(buf.data, dtype=np.float32, count=n, offset=1).reshape(shape)
    assert not a.flags.aligned and a.flags.writeable
    return a


def test_gemm_f32_misaligned_arrays_are_copied_by_the_wrapper_and_refused_by_the_binding():
    rng = np.random.default_rng(9)
    A0 = rng.standard_normal((13, 40)).astype(np.float32)
    B = rng.standard_normal((40, 33)).astype(np.float32)
    A = _misaligned(A0.shape)
    A[...] = A0
    _check(A0, B, kernels.gemm_f32(A, B))
    out = _misaligned((13, 33))
    assert kernels.gemm_f32(A0, B, out=out) is out
    _check(A0, B, np.array(out))
    mod = _native.cpu_module()
    with pytest.raises(ValueError, match="aligned"):
        mod.gemm_f32(A, B, np.empty((13, 33), np.float32), False, 1)


def test_gemm_f32_rejects_bad_input():
    a = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="float32"):
        kernels.gemm_f32(a.astype(np.float64), np.ones((4, 2), np.float32))
    with pytest.raises(TypeError, match="NumPy array"):
        kernels.gemm_f32([[1.0]], np.ones((1, 2), np.float32))
    with pytest.raises(ValueError, match="2-D"):
        kernels.gemm_f32(np.ones(4, np.float32), np.ones((4, 2), np.float32))
    with pytest.raises(ValueError, match="do not chain"):
        kernels.gemm_f32(a, np.ones((5, 2), np.float32))
    with pytest.raises(ValueError, match="shape"):
        kernels.gemm_f32(a, np.ones((4, 2), np.float32), out=np.empty((3, 3), np.float32))
    ro = np.empty((3, 2), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        kernels.gemm_f32(a, np.ones((4, 2), np.float32), out=ro)
    with pytest.raises(ValueError, match="needs out"):
        kernels.gemm_f32(a, np.ones((4, 2), np.float32), accumulate=True)
    with pytest.raises(ValueError, match="n_threads"):
        kernels.gemm_f32(a, np.ones((4, 2), np.float32), n_threads=0)


def test_gemm_f32_binding_checks_what_the_wrapper_checks():
    """The module itself refuses what the Python layer would have caught: it is the last line."""
    mod = _native.cpu_module()
    a, b = np.ones((3, 4), np.float32), np.ones((4, 2), np.float32)
    with pytest.raises(ValueError, match="chain"):
        mod.gemm_f32(a, np.ones((5, 2), np.float32), np.empty((3, 2), np.float32), False, 1)
    with pytest.raises(ValueError, match="out"):
        mod.gemm_f32(a, b, np.empty((2, 3), np.float32), False, 1)
    with pytest.raises(ValueError, match="share memory"):
        X = np.ones((4, 4), np.float32)
        mod.gemm_f32(X[:3, :], X, X[1:, :], False, 1)
    with pytest.raises(ValueError, match="contiguous"):
        mod.gemm_f32(a, b, np.empty((3, 4), np.float32)[:, ::2], False, 1)
    with pytest.raises(ValueError, match="n_threads"):
        mod.gemm_f32(a, b, np.empty((3, 2), np.float32), False, 0)
    with pytest.raises(TypeError, match="float32"):
        mod.gemm_f32(a.astype(np.float64), b, np.empty((3, 2), np.float32), False, 1)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_backend_matmul_runs_float32_products_natively(monkeypatch, n_threads):
    """CpuBackend.matmul sends float32 products to gemm_f32 when the vectorised module is active, and
    float64 ones (or all, with USE_NATIVE_GEMM off) to NumPy's BLAS; both agree with the oracle."""
    calls = []
    real = kernels.gemm_f32
    monkeypatch.setattr(kernels, "gemm_f32", lambda *a, **k: calls.append(1) or real(*a, **k))
    be = backend_mod.CpuBackend(n_threads)
    rng = np.random.default_rng(8)
    A, B = rng.standard_normal((64, 300)).astype(np.float32), rng.standard_normal((300, 90)).astype(np.float32)
    _check(A, B, be.matmul(A, B.T.copy().T))
    assert len(calls) == (1 if kernels.gemm_f32_native() else 0)
    be.matmul(A.astype(np.float64), B.astype(np.float64))
    assert len(calls) == (1 if kernels.gemm_f32_native() else 0)
    monkeypatch.setattr(backend_mod, "USE_NATIVE_GEMM", False)
    _check(A, B, be.matmul(A, B))
    assert len(calls) == (1 if kernels.gemm_f32_native() else 0)
