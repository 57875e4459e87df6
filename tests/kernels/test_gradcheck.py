"""Central-difference gradient checks (float64) of every backward pass against the NATIVE forward.

The loss of a layer is ``sum(forward(...) * R)`` for a fixed random R, so its gradient with respect
to the layer's output is R; every coordinate of every input is perturbed by ±eps.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import INDEX_DTYPES, central_difference, make_csr, readonly

from aerec import kernels

EPS = 1e-6
RTOL, ATOL = 1e-6, 1e-7
N_USERS, N_ITEMS, H = 7, 11, 3


def numgrad(loss, x, eps=EPS):
    """Central differences of the scalar ``loss()`` with respect to every entry of ``x``
    (modified in place, restored)."""
    g = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), g.reshape(-1)
    for i in range(flat.size):
        gflat[i] = central_difference(loss, flat, i, eps)
    return g


def check(analytic, numeric, what):
    np.testing.assert_allclose(analytic, numeric, rtol=RTOL, atol=ATOL, err_msg=what)


ENCODER_CASES = {
    "plain": dict(),
    "row_scale": dict(row_scale=True),
    "dropout": dict(dropout=0.3, seed=123, step=4, row_offset=9),
    "row_scale_dropout": dict(row_scale=True, dropout=0.5, seed=2**33 + 1, step=2**32 + 7),
}


@pytest.mark.parametrize("case", list(ENCODER_CASES))
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_sparse_encoder_gradients(isa, index_dtype, case):
    rng = np.random.default_rng(1)
    X = make_csr(N_USERS, N_ITEMS, 0.4, np.float64, index_dtype, seed=2)
    W = rng.standard_normal((N_ITEMS, H))
    b = rng.standard_normal(H)
    R = readonly(rng.standard_normal((N_USERS, H)))
    kw = dict(ENCODER_CASES[case])
    if kw.pop("row_scale", False):
        kw["row_scale"] = readonly(rng.uniform(0.2, 2.0, N_USERS))

    def loss():
        return float(np.sum(kernels.sparse_encoder_forward(X, W, b, n_threads=1, **kw) * R))

    items, dW, db = kernels.sparse_encoder_backward(X, R, n_threads=2, **kw)
    num_W = numgrad(loss, W)
    num_b = numgrad(loss, b)
    check(dW, num_W[items], "dW (present items)")
    absent = np.setdiff1d(np.arange(N_ITEMS), items)
    assert absent.size >= 1  # make_csr leaves one item unused
    check(np.zeros((absent.size, H)), num_W[absent], "dW (absent items) must be zero")
    check(db, num_b, "db")
    if "dropout" in kw:  # dropout actually dropped something, so the check is not the plain one
        plain = kernels.sparse_encoder_backward(X, R, row_scale=kw.get("row_scale"), n_threads=2)[1]
        assert not np.allclose(plain, dW)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_masked_decoder_gradients(isa, index_dtype, bias):
    rng = np.random.default_rng(3)
    mask = make_csr(N_USERS, N_ITEMS, 0.4, np.float64, index_dtype, seed=4)
    Hm = rng.standard_normal((N_USERS, H))
    V = rng.standard_normal((N_ITEMS, H))
    c = rng.standard_normal(N_ITEMS)
    r = readonly(rng.standard_normal(mask.nnz))

    def loss():
        return float(np.sum(kernels.masked_decoder_forward(mask, Hm, V, c if bias else None, n_threads=1) * r))

    dH, items, dV, dc = kernels.masked_decoder_backward(mask, Hm, V, r, n_threads=2)
    check(dH, numgrad(loss, Hm), "dH")
    num_V = numgrad(loss, V)
    check(dV, num_V[items], "dV (present items)")
    absent = np.setdiff1d(np.arange(N_ITEMS), items)
    check(np.zeros((absent.size, H)), num_V[absent], "dV (absent items) must be zero")
    if bias:
        num_c = numgrad(loss, c)
        check(dc, num_c[items], "dc (present items)")
        check(np.zeros(absent.size), num_c[absent], "dc (absent items)")


@pytest.mark.parametrize("scale", [1.0, 0.3])
def test_masked_mse_gradient(isa, scale):
    rng = np.random.default_rng(5)
    pred = rng.standard_normal(20)
    target = readonly(rng.standard_normal(20))
    _, grad = kernels.masked_mse(pred, target, scale=scale, n_threads=2)
    check(grad, numgrad(lambda: kernels.masked_mse(pred, target, scale=scale, n_threads=1)[0], pred), "dpred")


@pytest.mark.parametrize("scale", [1.0, 0.3])
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_multinomial_gradient(isa, index_dtype, scale):
    rng = np.random.default_rng(6)
    X = make_csr(N_USERS, N_ITEMS, 0.4, np.float64, index_dtype, seed=7, values=(1.0, 3.0))
    logits = rng.standard_normal((N_USERS, N_ITEMS)) * 2
    c = rng.standard_normal(N_ITEMS)

    def loss():
        return kernels.multinomial_loss_grad(logits.copy(), X, c, scale=scale, n_threads=1)

    grad = logits.copy()
    kernels.multinomial_loss_grad(grad, X, c, scale=scale, n_threads=2)
    check(grad, numgrad(loss, logits), "dlogits")
    # the bias enters every row: dc is the column sum of the logits' gradient
    check(grad.sum(axis=0), numgrad(loss, c), "dc = column sums of dlogits")


@pytest.mark.parametrize("scale", [1.0, 0.3])
def test_gaussian_kl_gradients(isa, scale):
    rng = np.random.default_rng(8)
    mu = rng.standard_normal((N_USERS, H))
    lv = rng.uniform(-2, 1, (N_USERS, H))
    _, dmu, dlv = kernels.gaussian_kl(mu, lv, scale=scale, n_threads=2)

    def loss():
        return kernels.gaussian_kl(mu, lv, scale=scale, n_threads=1)[0]

    check(dmu, numgrad(loss, mu), "dmu")
    check(dlv, numgrad(loss, lv), "dlogvar")


def _act_cases():
    for name in sorted(kernels.ACTIVATIONS):
        yield name, None
    yield "elu", 0.7
    yield "leaky_relu", 0.2


@pytest.mark.parametrize("name,alpha", list(_act_cases()))
def test_activation_gradients(isa, name, alpha):
    rng = np.random.default_rng(9)
    # |z| > 0.1 keeps every perturbation on one side of the kinks at 0
    Z = rng.uniform(0.1, 3.0, (N_USERS, H)) * rng.choice([-1.0, 1.0], (N_USERS, H))
    dY = readonly(rng.standard_normal((N_USERS, H)))

    def loss():
        return float(np.sum(kernels.activation_forward(name, Z, alpha=alpha, n_threads=1) * dY))

    Y = kernels.activation_forward(name, Z, alpha=alpha, n_threads=2)
    dZ = kernels.activation_backward(name, readonly(Z), Y, dY, alpha=alpha, n_threads=2)
    check(dZ, numgrad(loss, Z), f"d{name}")


def test_dropout_gradient(isa):
    """The backward pass of dropout is the same call on the upstream gradient (same key)."""
    rng = np.random.default_rng(10)
    X = rng.standard_normal((N_USERS, N_ITEMS))
    R = readonly(rng.standard_normal((N_USERS, N_ITEMS)))
    key = dict(seed=77, step=3, row_offset=5)

    def loss():
        return float(np.sum(kernels.dropout(X, 0.4, n_threads=1, **key) * R))

    grad = kernels.dropout(R, 0.4, n_threads=2, **key)
    check(grad, numgrad(loss, X), "ddropout")
    assert (grad == 0).any() and (grad != 0).any()
