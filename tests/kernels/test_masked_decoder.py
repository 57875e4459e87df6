"""masked_decoder: the masked decoder out_k = H[r]·V[j] + c[j] (SDDMM) and its gradients vs the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DTYPES, INDEX_DTYPES, THREADS, assert_close, empty_csr, make_csr, readonly, writable

from aerec import _reference as ref
from aerec import kernels

N_ROWS, N_ITEMS, H = 23, 37, 5


def _problem(dtype, index_dtype, n_rows=N_ROWS, n_items=N_ITEMS, h=H, seed=0, density=0.3, special=True):
    rng = np.random.default_rng(seed)
    mask = make_csr(n_rows, n_items, density, dtype, index_dtype, seed=seed + 1, special=special)
    Hm = readonly(rng.standard_normal((n_rows, h)), dtype)
    V = readonly(rng.standard_normal((n_items, h)), dtype)
    c = readonly(rng.standard_normal(n_items), dtype)
    d_out = readonly(rng.standard_normal(mask.nnz), dtype)
    return mask, Hm, V, c, d_out


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_matches_reference(isa, dtype, index_dtype, n_threads, bias):
    mask, Hm, V, c, _ = _problem(dtype, index_dtype)
    c = c if bias else None
    out = kernels.masked_decoder_forward(mask, Hm, V, c, n_threads=n_threads)
    assert out.dtype == dtype and out.shape == (mask.nnz,)
    assert_close(out, ref.ref_masked_decoder_forward(mask, Hm, V, c), dtype)


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_matches_reference(isa, dtype, index_dtype, n_threads):
    mask, Hm, V, _, d_out = _problem(dtype, index_dtype)
    dH, items, dV, dc = kernels.masked_decoder_backward(mask, Hm, V, d_out, n_threads=n_threads)
    r_dH, r_items, r_dV, r_dc = ref.ref_masked_decoder_backward(mask, Hm, V, d_out)
    assert items.dtype == np.int64
    np.testing.assert_array_equal(items, r_items)
    assert items.size == N_ITEMS - 1
    assert dH.dtype == dtype and dH.shape == (N_ROWS, H)
    assert dV.dtype == dtype and dV.shape == (items.size, H)
    assert dc.dtype == dtype and dc.shape == (items.size,)
    assert_close(dH, r_dH, dtype)
    assert_close(dV, r_dV, dtype)
    assert_close(dc, r_dc, dtype)
    np.testing.assert_array_equal(dH[0], np.zeros(H, dtype))  # empty row: no gradient


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_rows(isa, dtype, index_dtype, n_threads):
    mask = empty_csr(0, N_ITEMS, dtype, index_dtype)
    Hm = readonly(np.zeros((0, H)), dtype)
    V = readonly(np.ones((N_ITEMS, H)), dtype)
    c = readonly(np.ones(N_ITEMS), dtype)
    out = kernels.masked_decoder_forward(mask, Hm, V, c, n_threads=n_threads)
    assert out.shape == (0,) and out.dtype == dtype
    dH, items, dV, dc = kernels.masked_decoder_backward(mask, Hm, V, readonly(np.zeros(0), dtype),
                                                        n_threads=n_threads)
    assert dH.shape == (0, H) and items.shape == (0,) and dV.shape == (0, H) and dc.shape == (0,)


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_zero_nnz(isa, dtype, index_dtype, n_threads):
    mask = empty_csr(4, N_ITEMS, dtype, index_dtype)
    rng = np.random.default_rng(1)
    Hm = readonly(rng.standard_normal((4, H)), dtype)
    V = readonly(rng.standard_normal((N_ITEMS, H)), dtype)
    out = kernels.masked_decoder_forward(mask, Hm, V, n_threads=n_threads)
    assert out.shape == (0,)
    dH, items, dV, dc = kernels.masked_decoder_backward(mask, Hm, V, readonly(np.zeros(0), dtype),
                                                        n_threads=n_threads)
    np.testing.assert_array_equal(dH, np.zeros((4, H), dtype))
    assert items.shape == (0,) and dV.shape == (0, H) and dc.shape == (0,)


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_single_item(isa, dtype, index_dtype, n_threads):
    mask, Hm, V, c, d_out = _problem(dtype, index_dtype, n_rows=6, n_items=1, special=False, density=0.6, seed=3)
    assert mask.nnz > 0
    out = kernels.masked_decoder_forward(mask, Hm, V, c, n_threads=n_threads)
    assert_close(out, ref.ref_masked_decoder_forward(mask, Hm, V, c), dtype)
    dH, items, dV, dc = kernels.masked_decoder_backward(mask, Hm, V, d_out, n_threads=n_threads)
    r_dH, r_items, r_dV, r_dc = ref.ref_masked_decoder_backward(mask, Hm, V, d_out)
    np.testing.assert_array_equal(items, r_items)
    assert_close(dH, r_dH, dtype)
    assert_close(dV, r_dV, dtype)
    assert_close(dc, r_dc, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_hidden_size_one_and_wide(isa, dtype):
    """h = 1 (no SIMD body) and h = 67 (a SIMD body plus a remainder)."""
    for h in (1, 67):
        mask, Hm, V, c, d_out = _problem(dtype, np.int64, h=h, seed=h)
        out = kernels.masked_decoder_forward(mask, Hm, V, c, n_threads=2)
        assert_close(out, ref.ref_masked_decoder_forward(mask, Hm, V, c), dtype)
        dH, items, dV, dc = kernels.masked_decoder_backward(mask, Hm, V, d_out, n_threads=2)
        r_dH, r_items, r_dV, r_dc = ref.ref_masked_decoder_backward(mask, Hm, V, d_out)
        assert_close(dH, r_dH, dtype)
        assert_close(dV, r_dV, dtype)
        assert_close(dc, r_dc, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_inputs_not_modified(isa, dtype):
    mask, Hm, V, c, d_out = _problem(dtype, np.int32)
    H2, V2, c2, d2 = writable(Hm), writable(V), writable(c), writable(d_out)
    kernels.masked_decoder_forward(mask, H2, V2, c2, n_threads=2)
    kernels.masked_decoder_backward(mask, H2, V2, d2, n_threads=2)
    for a, b in ((H2, Hm), (V2, V), (c2, c), (d2, d_out)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_determinism_across_threads(isa, dtype, index_dtype):
    """Bit-identical results for n_threads = 1, 2, 3 on a medium problem (a stated guarantee)."""
    mask, Hm, V, c, d_out = _problem(dtype, index_dtype, n_rows=300, n_items=500, h=64, density=0.05, seed=30)
    outs = []
    for nt in THREADS:
        out = kernels.masked_decoder_forward(mask, Hm, V, c, n_threads=nt)
        outs.append((out, *kernels.masked_decoder_backward(mask, Hm, V, d_out, n_threads=nt)))
    for other in outs[1:]:
        for a, o in zip(outs[0], other):
            assert np.array_equal(a, o)
    out, dH, items, dV, dc = outs[0]
    assert_close(out, ref.ref_masked_decoder_forward(mask, Hm, V, c), dtype)
    r_dH, r_items, r_dV, r_dc = ref.ref_masked_decoder_backward(mask, Hm, V, d_out)
    np.testing.assert_array_equal(items, r_items)
    assert_close(dH, r_dH, dtype)
    assert_close(dV, r_dV, dtype)
    assert_close(dc, r_dc, dtype)
