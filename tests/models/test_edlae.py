"""EDLAE (Steck 2020): the full-rank closed form against a float64 NumPy oracle and against EASE
(dropout 0), the low-rank ALS against its own objective (an independent optimiser on a tiny problem,
the full-rank optimum at k = n_items), and its parameter checks. The shared behaviour is in
test_common.py."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp

import aerec
from aerec.datasets import make_synthetic


def _dense(X):
    return (X.toarray() > 0).astype(np.float64)


def _penalty(Xd, l2, p):
    g = np.einsum("ui,ui->i", Xd, Xd)
    return p / (1 - p) * g + l2


def _full_rank_oracle(Xd, l2, p):
    """B = I − P·diagMat(1 ⊘ diag(P)), P = (XᵀX + Λ)⁻¹, Λ = p/(1−p)·diagMat(diag(XᵀX)) + λI."""
    P = np.linalg.inv(Xd.T @ Xd + np.diag(_penalty(Xd, l2, p)))
    return np.eye(P.shape[0]) - P @ np.diag(1 / np.diag(P))


def _objective(Xd, l2, p, B):
    """‖X − X·L‖² + ‖Λ^{1/2}L‖², L = B with its diagonal set to zero (full emphasis)."""
    L = B - np.diag(np.diag(B))
    return float(np.sum((Xd - Xd @ L) ** 2) + np.sum(_penalty(Xd, l2, p)[:, None] * L**2))


@pytest.fixture(scope="module")
def data():
    return make_synthetic((200, 40, 3000), random_state=1)


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-9), ("float32", 2e-4)])
@pytest.mark.parametrize("p", [0.1, 0.33, 0.5])
def test_full_rank_matches_the_closed_form(data, dtype, tol, p):
    B = _full_rank_oracle(_dense(data), 20.0, p)
    assert np.abs(np.diag(B)).max() < 1e-12
    model = aerec.EDLAE(l2=20.0, dropout=p, dtype=dtype).fit(data)
    np.testing.assert_allclose(model.B_, B, atol=tol * np.abs(B).max())
    assert not hasattr(model, "transform")  # the codes are the low-rank form's


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_no_dropout_is_ease_bit_for_bit(dtype):
    X = sp.random(600, 700, density=0.05, format="csr", random_state=3)  # several tiles of the blocked inverse
    ease = aerec.EASE(l2=10.0, dtype=dtype).fit(X)
    edlae = aerec.EDLAE(l2=10.0, dropout=0.0, dtype=dtype).fit(X)
    np.testing.assert_array_equal(edlae.B_, ease.B_)


def test_full_rank_is_the_constrained_optimum(data):
    """Any zero-diagonal perturbation of B raises the objective (B is its minimiser)."""
    Xd = _dense(data)
    B = aerec.EDLAE(l2=20.0, dropout=0.3, dtype="float64").fit(data).B_
    f = _objective(Xd, 20.0, 0.3, B)
    rng = np.random.RandomState(0)
    for _ in range(5):
        E = rng.randn(*B.shape) * 1e-3
        np.fill_diagonal(E, 0)
        assert _objective(Xd, 20.0, 0.3, B + E) > f


def test_low_rank_form_rank_scores_and_codes(data):
    k = 5
    model = aerec.EDLAE(l2=20.0, dropout=0.3, n_components=k, dtype="float64").fit(data)
    U, V = model.U_, model.V_
    assert U.shape == V.shape == (40, k) and not hasattr(model, "B_")
    assert np.linalg.matrix_rank(U @ V.T) == k
    Xd = _dense(data)
    L = U @ V.T
    np.fill_diagonal(L, 0)
    np.testing.assert_allclose(model.predict(data), Xd @ L, atol=1e-10)
    np.testing.assert_allclose(model.transform(data), Xd @ U, atol=1e-10)


def test_low_rank_als_lowers_the_objective_towards_full_rank(data):
    """More sweeps never raise the objective, a higher rank fits better, and the full rank bounds all."""
    Xd = _dense(data)
    full = _objective(Xd, 20.0, 0.3, _full_rank_oracle(Xd, 20.0, 0.3))
    previous_k = np.inf
    for k in (2, 5, 10, 20):
        fs = []
        for n_iter in (0, 2, 10):
            m = aerec.EDLAE(l2=20.0, dropout=0.3, n_components=k, n_iter=n_iter, dtype="float64").fit(data)
            fs.append(_objective(Xd, 20.0, 0.3, m.U_ @ m.V_.T))
        assert fs[0] >= fs[1] - 1e-9 and fs[1] >= fs[2] - 1e-9
        assert full <= fs[-1] < previous_k
        previous_k = fs[-1]


def test_low_rank_at_full_rank_is_the_closed_form(data):
    Xd = _dense(data)
    B = _full_rank_oracle(Xd, 20.0, 0.3)
    m = aerec.EDLAE(l2=20.0, dropout=0.3, n_components=40, dtype="float64").fit(data)
    L = m.U_ @ m.V_.T
    np.fill_diagonal(L, 0)
    np.testing.assert_allclose(L, B, atol=1e-7 * np.abs(B).max())


def test_low_rank_reaches_an_independent_optimisers_minimum():
    """A tiny problem (12 items, rank 3): L-BFGS from random starts on f(U, V) finds nothing better."""
    X = sp.random(80, 12, density=0.3, format="csr", random_state=4)
    Xd, l2, p, n, k = _dense(X), 5.0, 0.25, 12, 3
    m = aerec.EDLAE(l2=l2, dropout=p, n_components=k, n_iter=200, dtype="float64").fit(X)
    ours = _objective(Xd, l2, p, m.U_ @ m.V_.T)

    def f(x):
        U, V = x[:n * k].reshape(n, k), x[n * k:].reshape(n, k)
        L = U @ V.T
        np.fill_diagonal(L, 0)
        lam = _penalty(Xd, l2, p)
        R = Xd @ L - Xd
        S = Xd.T @ R + lam[:, None] * L  # ½ ∂f/∂L
        np.fill_diagonal(S, 0)
        return _objective(Xd, l2, p, L), np.concatenate([(2 * S @ V).ravel(), (2 * S.T @ U).ravel()])

    rng = np.random.RandomState(0)
    best = min(scipy.optimize.minimize(f, rng.randn(2 * n * k) * 0.3, jac=True, method="L-BFGS-B",
                                       options={"maxiter": 5000, "gtol": 1e-10}).fun for _ in range(8))
    assert ours <= best * (1 + 1e-6)
    assert ours >= best * (1 - 1e-3)  # and the optimiser does find it: the objective is the same


def test_low_rank_bit_identical_for_any_thread_count():
    X = sp.random(600, 700, density=0.05, format="csr", random_state=3)
    fits = [aerec.EDLAE(l2=10.0, n_components=20, n_iter=2, n_threads=t).fit(X) for t in (1, 2, 1)]
    for f in fits[1:]:
        np.testing.assert_array_equal(fits[0].U_, f.U_)
        np.testing.assert_array_equal(fits[0].V_, f.V_)


@pytest.mark.parametrize("params, match", [
    (dict(dropout=1.0), "dropout"), (dict(dropout=-0.1), "dropout"), (dict(dropout=float("nan")), "dropout"),
    (dict(n_components=0), "n_components"), (dict(n_components=-2), "n_components"),
    (dict(n_components=41), r"n_components must be None \(full rank\) or an integer in \[1, n_items = 40\]"),
    (dict(n_components=2.0), "n_components"), (dict(n_iter=-1), "n_iter"), (dict(l2=0.0), "l2"),
])
def test_bad_hyperparameters_refused(data, params, match):
    with pytest.raises((ValueError, TypeError), match=match):
        aerec.EDLAE(**params).fit(data)


def test_refuses_what_will_not_fit():
    X = sp.csr_array(np.eye(10, 3000, dtype=np.float32))
    with pytest.raises(MemoryError, match="EDLAE with 3,000 items needs two"):
        aerec.EDLAE(max_memory=1000).fit(X)
    with pytest.raises(MemoryError, match="EDLAE with 3,000 items needs three"):
        aerec.EDLAE(n_components=10, max_memory=1000).fit(X)


def test_refit_switches_form(data):
    model = aerec.EDLAE(l2=20.0, n_components=4).fit(data)
    model.set_params(n_components=None).fit(data)
    assert hasattr(model, "B_") and not hasattr(model, "U_")
    np.testing.assert_array_equal(model.B_, aerec.EDLAE(l2=20.0).fit(data).B_)
