"""AutoRec (item- and user-based): learns ML-100K, gradients match finite differences, same seed →
same weights for any thread count, save/load, unseen defaults, item-based row checks, Ctrl-C."""

from __future__ import annotations

import os
import pickle
import signal
import threading

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

import aerec
from aerec.engine import CpuBackend
from aerec.engine.layers import Parameter

from _ratings import read_ml100k, split_entries, synthetic_ratings


@pytest.fixture(scope="module")
def ratings():
    return split_entries(synthetic_ratings(), 0.2, seed=1)


def small(**kw):
    params = dict(n_components=24, n_epochs=15, batch_size=16, l2=10.0, learning_rate=0.01, random_state=0)
    return aerec.AutoRec(**{**params, **kw})


@pytest.mark.data
@pytest.mark.parametrize("item_based,bound", [(True, 0.96), (False, 1.02)])
def test_ml100k_u1_rmse(item_based, bound):
    """A few epochs on u1.base: far below the global-mean baseline (~1.15) on u1.test."""
    train, test = read_ml100k("u1.base"), read_ml100k("u1.test")
    model = aerec.AutoRec(item_based=item_based, n_epochs=12, l2=100.0, learning_rate=3e-3, random_state=0)
    model.fit(train)
    rmse = -model.score(train, test)
    assert rmse < bound, rmse
    assert model.loss_curve_[-1] < model.loss_curve_[0]


@pytest.mark.parametrize("optimizer", ["adam", "rprop"])
@pytest.mark.parametrize("item_based", [True, False])
def test_loss_decreases_and_beats_the_mean(ratings, optimizer, item_based):
    train, test = ratings
    model = small(optimizer=optimizer, item_based=item_based, n_epochs=40).fit(train)
    assert model.loss_curve_[-1] < 0.5 * model.loss_curve_[0]
    mean_rmse = np.sqrt(np.mean((test.data - train.data.mean()) ** 2))  # 0.91
    assert -model.score(train, test) < mean_rmse - 0.05


@pytest.mark.parametrize("input_dropout", [0.0, 0.5])
@pytest.mark.parametrize("item_based", [True, False])
@pytest.mark.parametrize("optimizer", ["adam", "rprop"])
def test_gradients_match_finite_differences(ratings, item_based, optimizer, input_dropout):
    """The hand-assembled gradient of the objective / N against central differences (float64)."""
    X = ratings[0][:30, :20]
    X = X[:, np.flatnonzero(np.diff(X.tocsc().indptr))]  # drop empty columns
    S = aerec._explicit.transpose_csr(X) if item_based else sp.csr_array(X)
    S = sp.csr_array(S, dtype=np.float64)
    model = small(item_based=item_based, optimizer=optimizer, n_components=5, activation="tanh",
                  output_activation="selu", dtype="float64", input_dropout=input_dropout)
    rng = np.random.default_rng(0)
    n_in, h = S.shape[1], 5
    params = [Parameter("W", 0.3 * rng.standard_normal((n_in, h))), Parameter("b", 0.1 * rng.standard_normal(h)),
              Parameter("V", 0.3 * rng.standard_normal((n_in, h))), Parameter("c", 3 + 0.1 * rng.standard_normal(n_in))]
    be = CpuBackend(1)

    def loss():
        for p in params:
            p.grad.fill(0)
        return model._accumulate(be, S, params, 1.0 / S.nnz, 0, 0, 0) / S.nnz

    loss()
    grads = [p.grad.copy() for p in params]
    for p, g in zip(params, grads):
        flat = p.value.reshape(-1)
        for k in rng.choice(flat.size, size=min(6, flat.size), replace=False):
            old = flat[k]
            flat[k] = old + 1e-6
            up = loss()
            flat[k] = old - 1e-6
            down = loss()
            flat[k] = old
            np.testing.assert_allclose(g.reshape(-1)[k], (up - down) / 2e-6, rtol=1e-5, atol=1e-8, err_msg=p.name)


@pytest.mark.parametrize("item_based", [True, False])
def test_same_seed_same_weights_for_any_thread_count(ratings, item_based):
    train = ratings[0]
    kw = dict(item_based=item_based, dropout=0.2, input_dropout=0.3, early_stopping=True, validation_fraction=0.1)
    a = small(n_threads=1, **kw).fit(train)
    b = small(n_threads=1, **kw).fit(train)
    c = small(n_threads=2, **kw).fit(train)
    for name in ("W_", "b_", "V_", "c_"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        np.testing.assert_array_equal(getattr(a, name), getattr(c, name))
    assert a.validation_scores_ == c.validation_scores_
    d = small(random_state=1, **kw).fit(train)
    assert not np.array_equal(a.W_, d.W_)
    e = small(n_threads=1, **{**kw, "input_dropout": 0.0}).fit(train)  # the input mask is really applied
    assert not np.array_equal(a.W_, e.W_)


def test_save_load_pickle_clone_round_trip(ratings, tmp_path):
    train, test = ratings
    for item_based in (True, False):
        model = small(item_based=item_based, n_epochs=3, unseen="mean").fit(train)
        path = tmp_path / f"autorec_{item_based}.npz"
        model.save(path)
        loaded = aerec.load(path)
        assert isinstance(loaded, aerec.AutoRec) and loaded.get_params() == model.get_params()
        np.testing.assert_array_equal(loaded.predict(train), model.predict(train))
        assert loaded.score(train, test) == model.score(train, test)
        np.testing.assert_array_equal(loaded.recommend(train, k=5)[0], model.recommend(train, k=5)[0])
        np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(train), model.predict(train))
        assert loaded.loss_curve_ == model.loss_curve_
    assert clone(model).get_params() == model.get_params()


def test_load_rejects_mismatched_arrays(ratings, tmp_path):
    model = small(n_epochs=1).fit(ratings[0])
    state = model._get_fitted_state()
    state["arrays"]["V"] = state["arrays"]["V"][:, :3]
    with pytest.raises(ValueError, match="V"):
        aerec.AutoRec(**model.get_params())._set_fitted_state(state["arrays"], state["scalars"])


@pytest.mark.parametrize("item_based", [True, False])
@pytest.mark.parametrize("unseen", ["default", "mean"])
def test_unseen_users_and_items_get_the_default(ratings, item_based, unseen):
    train = ratings[0].tolil()
    train[5, :] = 0  # a user without training ratings
    train[:, 7] = 0  # an item without training ratings
    train = sp.csr_array(train)
    train.eliminate_zeros()
    model = small(item_based=item_based, unseen=unseen, default_rating=2.5, n_epochs=3).fit(train)
    expect = 2.5 if unseen == "default" else train.data.mean()
    P = model.predict(train)
    np.testing.assert_allclose(P[5], expect, rtol=1e-6)
    np.testing.assert_allclose(P[:, 7], expect, rtol=1e-6)
    assert P.min() >= train.data.min() and P.max() <= train.data.max()  # clipped
    y = sp.csr_array(([4.0, 4.0], ([5, 0], [0, 7])), shape=train.shape, dtype=np.float32)
    assert np.isclose(-model.score(train, y), abs(4.0 - expect), rtol=1e-5)


def test_clip_off_and_mean_default(ratings):
    train = ratings[0]
    model = small(clip=False, n_epochs=3, output_activation="identity").fit(train)
    P = model.predict(train)
    assert P.shape == train.shape and np.isfinite(P).all()


def test_item_based_needs_the_training_users(ratings):
    train, test = ratings
    model = small(n_epochs=2).fit(train)
    for call in (lambda: model.predict(train[:10]), lambda: model.score(train[:10], test[:10]),
                 lambda: model.recommend(train[:10]), lambda: model.transform(train[:10])):
        with pytest.raises(ValueError, match="same 120 users"):
            call()
    assert model.transform(train).shape == (train.shape[0], 24)
    user = small(item_based=False, n_epochs=2).fit(train)
    assert user.predict(train[:10]).shape == (10, train.shape[1])  # user-based folds in any rows
    assert user.transform(train[:10]).shape == (10, 24)


def test_recommend_excludes_seen_and_respects_candidates(ratings):
    train = ratings[0]
    model = small(n_epochs=3).fit(train)
    idx, scores = model.recommend(train, k=5)
    assert idx.shape == scores.shape == (train.shape[0], 5)
    for u in range(train.shape[0]):
        assert not set(idx[u]) & set(train[[u]].indices)
        assert np.all(np.diff(scores[u]) <= 0)
    idx, _ = model.recommend(train, k=3, items=np.arange(10))
    assert idx.max() < 10


def test_early_stopping_keeps_the_best_epoch(ratings):
    train, test = ratings
    model = small(early_stopping=True, n_epochs=30, learning_rate=0.02, l2=0.0, patience=3).fit(train)
    assert len(model.validation_scores_) == model.n_iter_
    assert model.best_epoch_ == int(np.argmin(model.validation_scores_))
    # an explicit validation set: predictions from the training ratings at y_val's entries
    model = small(n_epochs=5).fit(train, y_val=test)
    assert len(model.validation_scores_) == 5
    assert np.isclose(model.validation_scores_[model.best_epoch_], -model.score(train, test), rtol=1e-5)


def test_fit_with_y_trains_on_the_union(ratings):
    train, test = ratings
    a = small(n_epochs=2).fit(train, test)
    b = small(n_epochs=2).fit(train + test)
    np.testing.assert_array_equal(a.W_, b.W_)
    with pytest.raises(ValueError, match="disjoint"):
        small(n_epochs=1).fit(train, train)


def test_float64_and_dense_input(ratings):
    train = ratings[0]
    model = small(dtype="float64", n_epochs=2).fit(train.toarray())
    assert model.W_.dtype == np.float64 and model.predict(train).dtype == np.float64


def test_bad_parameters_are_named(ratings):
    train = ratings[0]
    for kw, match in [(dict(optimizer="lbfgs"), "optimizer"), (dict(unseen="zero"), "unseen"),
                      (dict(activation="softmax"), "activation"), (dict(n_components=0), "n_components"),
                      (dict(dropout=1.0), "dropout"), (dict(input_dropout=-0.1), "input_dropout"),
                      (dict(validation_fraction=1.5), "validation_fraction")]:
        with pytest.raises(ValueError, match=match):
            small(**kw).fit(train)
    with pytest.raises(ValueError, match="no ratings"):
        small().fit(sp.csr_array(train.shape, dtype=np.float32))


def test_ctrl_c_stops_between_batches(ratings):
    train = ratings[0]
    model = small(n_epochs=100_000, batch_size=4)
    timer = threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.warns(RuntimeWarning, match="interrupted"):
            model.fit(train)
    finally:
        timer.cancel()
    assert 0 < model.n_iter_ < 100_000
    assert np.isfinite(model.predict(train)).all()


def test_weights_that_cannot_fit_are_refused_up_front(ratings, monkeypatch):
    """Item-based weights scale with the users (8 users × h arrays with grads and Adam state)."""
    import aerec.autorec

    train = ratings[0]
    monkeypatch.setattr(aerec.autorec, "available_memory_bytes", lambda: 1000)
    with pytest.raises(MemoryError, match=r"users as inputs and n_components=8 .*GiB.*item_based=False"):
        small(n_components=8).fit(train)
    with pytest.raises(MemoryError, match=r"items as inputs"):
        small(n_components=8, item_based=False).fit(train)
    monkeypatch.setattr(aerec.autorec, "available_memory_bytes", lambda: None)  # unknown: no refusal
    small(n_components=8, n_epochs=1).fit(train)
