"""losses: fused losses (masked MSE, multinomial NLL with log-softmax, Gaussian KL) vs the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DTYPES, INDEX_DTYPES, THREADS, assert_close, empty_csr, make_csr, readonly, tol, writable

from aerec import _reference as ref
from aerec import kernels

N_ROWS, N_ITEMS = 23, 37


def assert_loss_close(got, want, dtype):
    assert isinstance(got, float)
    rtol, atol = tol(dtype, abs(want))
    assert got == pytest.approx(want, rel=rtol, abs=atol)


# ---- masked MSE --------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1.0, 0.25, -2.0])
@pytest.mark.parametrize("n", [0, 1, 1000, 9000])  # 9000 > the 4096-element reduction block
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_mse_matches_reference(isa, dtype, n_threads, n, scale):
    rng = np.random.default_rng(n)
    pred = readonly(rng.standard_normal(n), dtype)
    target = readonly(rng.integers(1, 6, n), dtype)
    loss, grad = kernels.masked_mse(pred, target, scale=scale, n_threads=n_threads)
    r_loss, r_grad = ref.ref_masked_mse(pred, target, scale=scale)
    assert grad.dtype == dtype and grad.shape == (n,)
    assert_loss_close(loss, r_loss, dtype)
    assert_close(grad, r_grad, dtype)
    if n == 0:
        assert loss == 0.0


# ---- multinomial log-likelihood ------------------------------------------------------------------


def _multinomial_problem(dtype, index_dtype, n_rows=N_ROWS, n_items=N_ITEMS, seed=0, density=0.3, special=True):
    rng = np.random.default_rng(seed)
    X = make_csr(n_rows, n_items, density, dtype, index_dtype, seed=seed + 1, special=special, values=(1.0, 3.0))
    logits = (3.0 * rng.standard_normal((n_rows, n_items))).astype(dtype)
    c = readonly(rng.standard_normal(n_items), dtype)
    return X, logits, c


@pytest.mark.parametrize("scale", [1.0, 0.5])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_multinomial_matches_reference(isa, dtype, index_dtype, n_threads, bias, scale):
    X, logits, c = _multinomial_problem(dtype, index_dtype)
    c = c if bias else None
    r_loss, r_grad = ref.ref_multinomial_loss_grad(logits, X, c, scale=scale)
    buf = writable(logits)
    loss = kernels.multinomial_loss_grad(buf, X, c, scale=scale, n_threads=n_threads)
    assert buf.dtype == dtype
    assert_loss_close(loss, r_loss, dtype)
    assert_close(buf, r_grad, dtype)
    np.testing.assert_array_equal(buf[0], np.zeros(N_ITEMS, dtype))  # an empty row has no gradient


@pytest.mark.parametrize("dtype", DTYPES)
def test_multinomial_extreme_logits(isa, dtype):
    """Large logits (±80) stay finite thanks to the max shift."""
    X, logits, c = _multinomial_problem(dtype, np.int32, seed=5)
    logits = (logits * 25.0).clip(-80, 80).astype(dtype)
    r_loss, r_grad = ref.ref_multinomial_loss_grad(logits, X, c)
    buf = writable(logits)
    loss = kernels.multinomial_loss_grad(buf, X, c, n_threads=2)
    assert np.isfinite(loss) and np.isfinite(buf).all()
    assert_loss_close(loss, r_loss, dtype)
    assert_close(buf, r_grad, dtype)


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_multinomial_zero_rows_and_zero_nnz(isa, dtype, index_dtype, n_threads):
    X = empty_csr(0, N_ITEMS, dtype, index_dtype)
    buf = np.zeros((0, N_ITEMS), dtype)
    assert kernels.multinomial_loss_grad(buf, X, n_threads=n_threads) == 0.0
    X = empty_csr(3, N_ITEMS, dtype, index_dtype)
    buf = np.random.default_rng(0).standard_normal((3, N_ITEMS)).astype(dtype)
    loss = kernels.multinomial_loss_grad(buf, X, readonly(np.ones(N_ITEMS), dtype), n_threads=n_threads)
    assert loss == 0.0
    np.testing.assert_array_equal(buf, np.zeros((3, N_ITEMS), dtype))


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_multinomial_single_item(isa, dtype, index_dtype, n_threads):
    """One item: softmax is 1, so the loss and the gradient are both 0."""
    X, logits, c = _multinomial_problem(dtype, index_dtype, n_items=1, n_rows=5, special=False, density=0.6, seed=2)
    r_loss, r_grad = ref.ref_multinomial_loss_grad(logits, X, c)
    buf = writable(logits)
    loss = kernels.multinomial_loss_grad(buf, X, c, n_threads=n_threads)
    assert_loss_close(loss, r_loss, dtype)
    assert_close(buf, r_grad, dtype, scale=1.0)


def test_multinomial_readonly_logits_rejected(isa):
    X, logits, c = _multinomial_problem(np.float64, np.int32)
    with pytest.raises(ValueError, match="read-only"):
        kernels.multinomial_loss_grad(readonly(logits), X, c)


# ---- Gaussian KL -------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [1.0, 0.3])
@pytest.mark.parametrize("shape", [(0, 4), (1, 1), (23, 5), (100, 50)])  # 5000 > one reduction block
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_kl_matches_reference(isa, dtype, n_threads, shape, scale):
    rng = np.random.default_rng(shape[0])
    mu = readonly(rng.standard_normal(shape), dtype)
    logvar = readonly(rng.uniform(-3, 2, shape), dtype)
    loss, dmu, dlv = kernels.gaussian_kl(mu, logvar, scale=scale, n_threads=n_threads)
    r_loss, r_dmu, r_dlv = ref.ref_gaussian_kl(mu, logvar, scale=scale)
    assert dmu.shape == shape and dlv.shape == shape and dmu.dtype == dtype and dlv.dtype == dtype
    assert_loss_close(loss, r_loss, dtype)
    assert_close(dmu, r_dmu, dtype)
    assert_close(dlv, r_dlv, dtype)


def test_gaussian_kl_is_zero_at_the_prior(isa):
    mu = readonly(np.zeros((4, 3)))
    lv = readonly(np.zeros((4, 3)))
    loss, dmu, dlv = kernels.gaussian_kl(mu, lv, n_threads=2)
    assert loss == 0.0
    assert not dmu.any() and not dlv.any()


# ---- determinism -------------------------------------------------------------------------------


@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_multinomial_determinism_across_threads(isa, dtype, index_dtype):
    """Loss (==) and gradient (bit for bit) do not depend on n_threads (300 × 500 problem)."""
    X, logits, c = _multinomial_problem(dtype, index_dtype, n_rows=300, n_items=500, density=0.05, seed=41)
    results = []
    for nt in THREADS:
        buf = writable(logits)
        results.append((kernels.multinomial_loss_grad(buf, X, c, scale=0.7, n_threads=nt), buf))
    for loss, grad in results[1:]:
        assert loss == results[0][0]
        assert np.array_equal(grad, results[0][1])
    r_loss, r_grad = ref.ref_multinomial_loss_grad(logits, X, c, scale=0.7)
    assert_loss_close(results[0][0], r_loss, dtype)
    assert_close(results[0][1], r_grad, dtype)


@pytest.mark.parametrize("n", [300 * 64, 300 * 500])
@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_mse_determinism_across_threads(isa, dtype, n):
    """Loss (==) and gradient (bit for bit) do not depend on n_threads (several 4096-element blocks).

    Several draws: a rounding difference between code paths shows up in the last bit of the sum
    for some data only.
    """
    for seed in range(8):
        rng = np.random.default_rng([n, seed])
        pred = readonly(rng.standard_normal(n), dtype)
        target = readonly(rng.standard_normal(n), dtype)
        results = [kernels.masked_mse(pred, target, scale=0.5, n_threads=nt) for nt in THREADS]
        losses = [r[0] for r in results]
        assert losses[1:] == losses[:1] * 2, f"seed {seed}: loss by n_threads {THREADS}: {losses}"
        for _, grad in results[1:]:
            assert np.array_equal(grad, results[0][1])


@pytest.mark.parametrize("shape", [(300, 64), (300, 500)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_gaussian_kl_determinism_across_threads(isa, dtype, shape):
    for seed in range(4):
        rng = np.random.default_rng([shape[1], seed])
        mu = readonly(rng.standard_normal(shape), dtype)
        lv = readonly(rng.standard_normal(shape), dtype)
        results = [kernels.gaussian_kl(mu, lv, scale=0.2, n_threads=nt) for nt in THREADS]
        losses = [r[0] for r in results]
        assert losses[1:] == losses[:1] * 2, f"seed {seed}: loss by n_threads {THREADS}: {losses}"
        for _, dmu, dlv in results[1:]:
            assert np.array_equal(dmu, results[0][1])
            assert np.array_equal(dlv, results[0][2])
