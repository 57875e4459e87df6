"""AutoRec (item- and user-based): learns ML-100K, gradients match finite differences, unseen defaults,
item-based row checks, the biases baseline. What every estimator does (determinism, save/load, Ctrl-C,
bad parameters, fold-in, recommend) is in test_common.py."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _gradcheck import check_step_gradients
from _ratings import ML100K, read_ml100k, split_entries, synthetic_ratings

import aerec
from aerec.engine import CpuBackend
from aerec.engine.params import Parameter


@pytest.fixture(scope="module")
def ratings():
    return split_entries(synthetic_ratings(), 0.2, seed=1)


def small(**kw):
    # input_dropout off: these tests train a few epochs on a tiny matrix (the denoising default slows that)
    params = dict(n_components=24, n_epochs=15, batch_size=16, l2=10.0, learning_rate=0.01, input_dropout=0.0,
                  random_state=0)
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
    model = small(optimizer=optimizer, item_based=item_based, n_epochs=40, baseline=None).fit(train)
    assert model.loss_curve_[-1] < 0.5 * model.loss_curve_[0]
    mean_rmse = np.sqrt(np.mean((test.data - train.data.mean()) ** 2))  # 0.91
    assert -model.score(train, test) < mean_rmse - 0.05


@pytest.mark.parametrize("separate_inputs", [False, True])
@pytest.mark.parametrize("input_dropout", [0.0, 0.5])
@pytest.mark.parametrize("item_based", [True, False])
@pytest.mark.parametrize("optimizer", ["adam", "rprop"])
def test_gradients_match_finite_differences(ratings, item_based, optimizer, input_dropout, separate_inputs):
    """The hand-assembled gradient of the objective / N against central differences (float64).
    ``separate_inputs``: the encoder reads other values than the targets (as with a baseline)."""
    X = ratings[0][:30, :20]
    X = X[:, np.flatnonzero(np.diff(X.tocsc().indptr))]  # drop empty columns
    S = aerec.models._rating.transpose_csr(X) if item_based else sp.csr_array(X)
    S = sp.csr_array(S, dtype=np.float64)
    model = small(item_based=item_based, optimizer=optimizer, n_components=5, activation="tanh",
                  output_activation="selu", dtype="float64", input_dropout=input_dropout)
    rng = np.random.default_rng(0)
    n_in, h = S.shape[1], 5
    params = [Parameter("W", 0.3 * rng.standard_normal((n_in, h))), Parameter("b", 0.1 * rng.standard_normal(h)),
              Parameter("V", 0.3 * rng.standard_normal((n_in, h))), Parameter("c", 3 + 0.1 * rng.standard_normal(n_in))]
    be = CpuBackend(1)
    inputs = S.data + rng.standard_normal(S.nnz) if separate_inputs else None

    def loss():
        for p in params:
            p.set_dense_grad().fill(0)
        return model._accumulate(be, S, params, 1.0 / S.nnz, 0, 0, 0, inputs=inputs) / S.nnz

    check_step_gradients(params, loss, rng)


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


@pytest.mark.parametrize("item_based", [True, False])
def test_input_dropout_mask_is_applied(ratings, item_based):
    """The input mask really changes training (test_common.py checks the determinism around it)."""
    train = ratings[0]
    kw = dict(item_based=item_based, dropout=0.2, early_stopping=True, validation_fraction=0.1, n_threads=1)
    masked, plain = small(input_dropout=0.3, **kw).fit(train), small(input_dropout=0.0, **kw).fit(train)
    assert not np.array_equal(masked.W_, plain.W_)


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


def test_weights_that_cannot_fit_are_refused_up_front(ratings, monkeypatch):
    """Item-based weights scale with the users (8 users × h arrays with grads and Adam state)."""
    import aerec.models.autorec

    train = ratings[0]
    monkeypatch.setattr(aerec.models.autorec, "available_memory_bytes", lambda: 1000)
    with pytest.raises(MemoryError, match=r"users as inputs and n_components=8 .*GiB.*item_based=False"):
        small(n_components=8).fit(train)
    with pytest.raises(MemoryError, match=r"items as inputs"):
        small(n_components=8, item_based=False).fit(train)
    monkeypatch.setattr(aerec.models.autorec, "available_memory_bytes", lambda: None)  # unknown: no refusal
    small(n_components=8, n_epochs=1).fit(train)


# ---- baseline='biases': r̂ = μ + b_u + b_i + network(raw ratings), trained on the residuals ---------------


def _ridge_biases_oracle(X, mu, lam):
    """float64 oracle: the exact minimiser of Σ(r − μ − b_u − b_i)² + λ(‖b_u‖² + ‖b_i‖²) by a dense
    least-squares solve of the stacked design [one-hot user | one-hot item; √λ·I]."""
    coo = sp.coo_array(X)
    n_u, n_i = X.shape
    A = np.zeros((coo.nnz + n_u + n_i, n_u + n_i))
    A[np.arange(coo.nnz), coo.row] = 1.0
    A[np.arange(coo.nnz), n_u + coo.col] = 1.0
    A[coo.nnz:, :] = np.sqrt(lam) * np.eye(n_u + n_i)
    rhs = np.concatenate([coo.data - mu, np.zeros(n_u + n_i)])
    sol = np.linalg.lstsq(A, rhs, rcond=None)[0]
    return sol[:n_u], sol[n_u:]


@pytest.mark.parametrize("lam", [0.5, 5.0, 50.0])
def test_rating_biases_match_the_ridge_oracle(ratings, lam):
    from aerec.models._rating import rating_biases, row_biases

    X = sp.csr_array(ratings[0][:40, :30], dtype=np.float64)
    mu = X.data.mean()
    bu_ref, bi_ref = _ridge_biases_oracle(X, mu, lam)
    bi = rating_biases(X, mu, lam)
    np.testing.assert_allclose(bi, bi_ref, atol=1e-8)
    np.testing.assert_allclose(row_biases(X, mu, bi, lam), bu_ref, atol=1e-8)  # users fold in exactly


def test_rating_biases_exact_where_alternating_updates_are_slow():
    """A dense, strongly coupled matrix (every user rates most items), where 20 alternating sweeps
    stay far from the minimiser: the solve must still match the oracle."""
    from aerec.models._rating import rating_biases

    rng = np.random.default_rng(5)
    full = 3.5 + rng.normal(0, 1, (60, 1)) + rng.normal(0, 1, (1, 25)) + 0.3 * rng.standard_normal((60, 25))
    X = sp.csr_array(np.where(rng.random((60, 25)) < 0.9, full, 0.0))
    mu = X.data.mean()
    _, bi_ref = _ridge_biases_oracle(X, mu, 0.5)
    np.testing.assert_allclose(rating_biases(X, mu, 0.5), bi_ref, atol=1e-8)


def test_rating_biases_handle_empty_rows_and_columns_without_penalty(ratings):
    from aerec.models._rating import rating_biases, row_biases

    X = sp.csr_array(ratings[0][:40, :30], dtype=np.float64).tolil()
    X[3, :] = 0
    X[:, 4] = 0
    X = sp.csr_array(X)
    X.eliminate_zeros()
    bi = rating_biases(X, X.data.mean(), 0.0)
    assert np.isfinite(bi).all() and bi[4] == 0.0
    bu = row_biases(X, X.data.mean(), bi, 0.0)
    assert np.isfinite(bu).all() and bu[3] == 0.0


@pytest.mark.parametrize("item_based", [True, False])
def test_baseline_predictions_are_biases_plus_the_network(ratings, item_based):
    """predict = clip(μ + b_u + b_i + f(g(r·W + b)·Vᵀ + c)), the network reading the raw ratings; the
    user biases come from the history passed in."""
    from aerec.models._rating import row_biases

    train, test = ratings
    model = small(item_based=item_based, baseline="biases", baseline_l2=3.0, dtype="float64").fit(train)
    assert model.item_bias_.shape == (train.shape[1],)
    X = sp.csr_array(train, dtype=np.float64)
    mu = model.rating_mean_
    bu = row_biases(X, mu, model.item_bias_, 3.0)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    if item_based:  # samples are item columns: pred[u, i] = V[u]·g(W_ᵀ r_i + b) + c[u]
        net = (sig(X.T @ model.W_ + model.b_) @ model.V_.T).T + model.c_[:, None]
    else:
        net = sig(X @ model.W_ + model.b_) @ model.V_.T + model.c_[None, :]
    expect = np.clip(mu + bu[:, None] + model.item_bias_[None, :] + net, model.rating_min_, model.rating_max_)
    np.testing.assert_allclose(model.predict(train), expect, rtol=1e-10, atol=1e-10)
    coo = test.tocoo()
    rmse = np.sqrt(np.mean((expect[coo.row, coo.col] - coo.data) ** 2))
    assert np.isclose(-model.score(train, test), rmse, rtol=1e-9)


def test_baseline_helps_where_biases_carry_the_signal():
    """Ratings = strong user and item offsets + a weak low-rank part: with the biases baseline the
    same network (same seed, epochs) predicts clearly better than without it."""
    rng = np.random.default_rng(3)
    n_u, n_i = 150, 100
    full = 3.5 + rng.normal(0, 0.8, (n_u, 1)) + rng.normal(0, 0.8, (1, n_i)) + 0.3 * rng.standard_normal((n_u, n_i))
    mask = rng.random((n_u, n_i)) < 0.08
    train, test = split_entries(sp.csr_array(np.where(mask, np.clip(full, 1, 5), 0.0).astype(np.float32)), 0.2, seed=2)
    kw = dict(n_components=16, n_epochs=40, batch_size=16, l2=20.0, learning_rate=0.01, random_state=0)
    plain = -aerec.AutoRec(baseline=None, **kw).fit(train).score(train, test)
    based = -aerec.AutoRec(baseline="biases", **kw).fit(train).score(train, test)
    assert based < plain - 0.05, (based, plain)


def test_baseline_arrays_must_match_the_parameters(ratings):
    """A file's arrays must be the baseline's: a missing item_bias, or one model's state loaded into a
    model with another baseline, is refused (the round trip itself is in test_common.py)."""
    train = ratings[0]
    model = small(item_based=False, baseline="biases", n_epochs=1).fit(train)
    state = model._get_fitted_state()
    del state["arrays"]["item_bias"]
    with pytest.raises(ValueError, match="unexpected arrays"):
        aerec.AutoRec(**model.get_params())._set_fitted_state(state["arrays"], state["scalars"])
    state = small(n_epochs=1, baseline=None).fit(train)._get_fitted_state()  # no baseline, loaded with one
    with pytest.raises(ValueError, match="unexpected arrays"):
        small(baseline="biases")._set_fitted_state(state["arrays"], state["scalars"])


@pytest.mark.data
def test_douban_baseline_beats_its_biases():
    """The E2 Douban split, a short run: the I-AutoRec with the biases baseline must beat the biases
    alone (0.734 here) — the network must add to them — and the published target 0.74."""
    from aerec.datasets import load_monti
    from aerec.models._rating import rating_biases, row_biases

    path = ML100K.parent / "douban_monti"
    if not path.is_dir():
        pytest.skip(f"Douban is not available ({path} is absent)")
    train, test = load_monti(path)
    train, test = sp.csr_array(train, dtype=np.float64), sp.csr_array(test)
    mu = train.data.mean()
    bi = rating_biases(train, mu, 5.0)
    bu = row_biases(train, mu, bi, 5.0)
    coo = test.tocoo()
    biases_only = np.sqrt(np.mean((np.clip(mu + bu[coo.row] + bi[coo.col], 1, 5) - coo.data) ** 2))
    model = aerec.AutoRec(baseline="biases", input_dropout=0.5, l2=50.0, dropout=0.5, n_components=300,
                          learning_rate=1e-3, lr_decay=0.99, n_epochs=15, random_state=0).fit(train)
    rmse = -model.score(train, test)
    assert rmse < min(0.74, biases_only - 0.005), (rmse, biases_only)


def test_files_from_before_the_baseline_load_as_models_without_it(ratings, tmp_path, monkeypatch):
    """A file written by an aerec without ``baseline``/``input_dropout`` has neither in its header:
    it loads as the model it was (no baseline, no input dropout), not with today's defaults."""
    train = ratings[0]
    model = small(n_epochs=2, baseline=None).fit(train)
    params = model.get_params()
    old = {k: v for k, v in params.items() if k not in ("baseline", "baseline_l2", "input_dropout")}
    monkeypatch.setattr(aerec.AutoRec, "get_params", lambda self, deep=True: dict(old))
    model.save(tmp_path / "old.npz")
    monkeypatch.undo()
    loaded = aerec.load(tmp_path / "old.npz")
    assert loaded.baseline is None and loaded.input_dropout == 0.0 and loaded.item_bias_ is None
    np.testing.assert_array_equal(loaded.predict(train), model.predict(train))
