"""CDAE: the hand-written backward pass of one training step against central differences (float64,
dropout off, a fixed training mask), the negative sampler, and the fold-in of unseen users."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _gradcheck import check_step_gradients

from aerec import CDAE, Popularity
from aerec.datasets import make_synthetic
from aerec.engine import CpuBackend, Parameter
from aerec.metrics import ndcg_at_k
from aerec.model_selection import holdout_items
from aerec.models.cdae import negative_probability, sample_negatives


@pytest.mark.parametrize("loss,activation", [("logistic", "sigmoid"), ("squared", "sigmoid"), ("logistic", "tanh")])
@pytest.mark.parametrize("l2", [0.0, 0.01])
def test_train_step_gradients_match_central_differences(loss, activation, l2):
    rng = np.random.default_rng(0)
    n_users, n_items, h = 9, 13, 4
    X = sp.random(n_users, n_items, density=0.3, format="csr", random_state=1, dtype=np.float64)
    X.data[:] = 1
    rows = np.array([1, 2, 4, 7, 8])
    Xb = X[rows]
    indptr, indices, target = sample_negatives(Xb, 1.5, np.random.default_rng(3))
    mask = sp.csr_array((target, indices, indptr), shape=Xb.shape)
    model = CDAE(n_components=h, loss=loss, activation=activation, dropout=0.0, l2=l2, dtype="float64")
    model._check_params()
    params = [Parameter("W", rng.standard_normal((n_items, h))), Parameter("b", rng.standard_normal(h), decay=False),
              Parameter("V", rng.standard_normal((n_users, h))), Parameter("W_out", rng.standard_normal((n_items, h))),
              Parameter("b_out", rng.standard_normal(n_items), decay=False)]
    be = CpuBackend(1)

    def loss_value():
        for p in params:
            p.set_dense_grad().fill(0)
        return model._train_step(be, Xb, rows, params, mask, target, seed=5, step=2)

    def penalty(p, w, k):  # reported in the loss, applied as Adam's weight decay (2·l2·w) — to V's batch rows only
        return 2 * l2 * w if p.decay and (p.name != "V" or k // h in rows) else 0.0

    grads = check_step_gradients(params, loss_value, rng, n_checks=8, atol=1e-7, penalty_grad=penalty,
                                 entries=lambda p: np.r_[rows[:3] * h + 1, 0] if p.name == "V" else None)
    assert all(np.abs(g).max() > 0 for g in grads)  # row-compact gradients made dense
    assert not grads[2][np.setdiff1d(np.arange(n_users), rows)].any()  # only the batch's user vectors


def test_negatives_are_unobserved_unique_and_counted():
    X = make_synthetic((50, 40, 600), random_state=0)
    X = sp.vstack([X, sp.csr_array(np.ones((1, 40), np.float32))]).tocsr()  # a user with every item
    indptr, indices, target = sample_negatives(X, 3.0, np.random.default_rng(0))
    n_obs = np.diff(X.indptr)
    for r in range(X.shape[0]):
        cols, t = indices[indptr[r]:indptr[r + 1]], target[indptr[r]:indptr[r + 1]]
        assert np.all(np.diff(cols) > 0)  # sorted, unique
        obs = set(X.indices[X.indptr[r]:X.indptr[r + 1]])
        assert set(cols[t == 1]) == obs and not set(cols[t == 0]) & obs  # negatives never observed
        assert (t == 0).sum() <= min(3 * n_obs[r], 40 - n_obs[r])
    expected = ((40 - n_obs) * negative_probability(n_obs, 40, 3.0)).sum()  # draws less the duplicates merged
    assert abs((target == 0).sum() - expected) < 0.05 * expected
    again = sample_negatives(X, 3.0, np.random.default_rng(0))
    for a, b in zip(again, (indptr, indices, target)):
        np.testing.assert_array_equal(a, b)


def test_negatives_are_uniform_over_unobserved_items():
    X = sp.csr_array(np.array([[1, 0, 0, 1, 0, 0, 1, 0]], dtype=np.float64))
    counts = np.zeros(8)
    draws = np.random.default_rng(1)
    for _ in range(2000):
        indptr, indices, target = sample_negatives(X, 1.0, draws)
        counts[indices[target == 0]] += 1
    assert counts[[0, 3, 6]].sum() == 0
    p = negative_probability([3], 8, 1.0)[0]  # 3 draws among 5 free items
    np.testing.assert_allclose(counts[[1, 2, 4, 5, 7]] / 2000, p, atol=0.05)


def test_fold_in_recommends_better_than_popularity_for_new_users():
    """Planted clusters: users never seen in fit get their user vector by fold-in, and rank their
    held-out items better than random and than popularity."""
    X = make_synthetic((500, 120, 10000), random_state=3)
    train, new = X[:400], X[400:]
    history, heldout = holdout_items(new, 0.2, random_state=0)
    model = CDAE(n_components=16, n_epochs=40, learning_rate=0.01, random_state=0, n_threads=2).fit(train)
    ndcg = model.score(history, heldout)
    rng = np.random.default_rng(0)
    random_idx = np.array([rng.permutation(np.setdiff1d(np.arange(120), history[[u]].indices))[:100]
                           for u in range(history.shape[0])], dtype=object)
    random_ndcg = np.nanmean(ndcg_at_k(np.array([np.pad(r, (0, 100 - r.size), constant_values=-1)
                                                 for r in random_idx]), heldout, 100))
    assert ndcg > random_ndcg + 0.1
    assert ndcg > Popularity().fit(train).score(history, heldout)
    # the fold-in lowers the expected training loss of each new user compared with V_u = 0
    be = CpuBackend(1)
    base, U = model._fold_in(be, history)
    assert np.abs(U).max() > 0

    def expected_loss(U):
        Z = 1 / (1 + np.exp(-(base + U).astype(np.float64)))
        out = Z @ model.decoder_weights_.T.astype(np.float64) + model.decoder_bias_
        Y = history.toarray()
        p = negative_probability(np.diff(history.indptr), history.shape[1], model.negative_ratio)
        C = np.where(Y > 0, 1.0, p[:, None])
        return ((np.logaddexp(0, out) - Y * out) * C).sum(axis=1) + model.l2 * (U.astype(np.float64) ** 2).sum(1)

    assert np.all(expected_loss(U) < expected_loss(np.zeros_like(U)))
    # deterministic, and V_u = 0 with fold_in_steps=0
    np.testing.assert_array_equal(model._fold_in(be, history)[1], U)
    assert not model.set_params(fold_in_steps=0)._fold_in(be, history)[1].any()


def test_user_factors_cover_the_training_users_and_cuda_is_refused():
    X = make_synthetic((120, 50, 1500), random_state=3)
    model = CDAE(n_components=6, n_epochs=2, random_state=0).fit(X)
    assert model.user_factors_.shape == (120, 6) and np.abs(model.user_factors_).max() > 0
    es = CDAE(n_components=6, n_epochs=2, early_stopping=True, validation_fraction=0.25, random_state=0).fit(X)
    assert es.user_factors_.shape == (90, 6) and len(es.validation_scores_) == 2
    with pytest.raises(ValueError, match="device='cuda'"):
        CDAE(device="cuda").fit(X)
