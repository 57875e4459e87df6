"""DeepAutoencoder: learns ML-100K, sparse and dense (re-feeding) gradients match finite differences
(tied and untied weights, several depths), unseen defaults, learning-rate schedule, divergence, the
biases baseline. What every estimator does (determinism, save/load, Ctrl-C, bad parameters, fold-in,
recommend) is in test_common.py."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _gradcheck import check_step_gradients
from _ratings import read_ml100k, split_entries, synthetic_ratings

import aerec
from aerec.engine import CpuBackend


@pytest.fixture(scope="module")
def ratings():
    return split_entries(synthetic_ratings(n_users=200), 0.2, seed=1)


def small(**kw):
    params = dict(hidden_dims=(16, 8), n_epochs=10, batch_size=16, learning_rate=0.05, dropout=0.2, random_state=0)
    return aerec.DeepAutoencoder(**{**params, **kw})


@pytest.mark.data
def test_ml100k_u1_rmse():
    """A few epochs on u1.base (defaults but smaller batches, no re-feeding for speed): below the
    item-mean (1.033) and global-mean (1.154) baselines on u1.test; measured 0.997."""
    train, test = read_ml100k("u1.base"), read_ml100k("u1.test")
    model = aerec.DeepAutoencoder(n_epochs=8, batch_size=32, refeed=0, n_threads=1, random_state=0).fit(train)
    rmse = -model.score(train, test)
    assert rmse < 1.02, rmse
    assert model.loss_curve_[-1] < model.loss_curve_[0]


@pytest.mark.parametrize("refeed", [0, 1, 2])
def test_refeed_runs_and_loss_decreases(ratings, refeed):
    train, test = ratings
    model = small(refeed=refeed, n_epochs=20, baseline=None).fit(train)  # the raw network learning from scratch
    assert len(model.refeed_loss_curve_) == (20 if refeed else 0)
    assert model.n_updates_ == 20 * int(np.ceil(train.shape[0] / 16)) * (1 + refeed)
    assert model.loss_curve_[-1] < 0.6 * model.loss_curve_[0]
    mean_rmse = np.sqrt(np.mean((test.data - train.data.mean()) ** 2))  # 0.84; measured 0.74-0.75
    assert -model.score(train, test) < mean_rmse - 0.05


def _numeric_check(model, step, rng):
    """The accumulated parameter gradients of ``step()`` (→ loss) against central differences."""

    def loss():
        for p in model._params:
            p.set_dense_grad().fill(0)
        return step()

    check_step_gradients(model._params, loss, rng, n_checks=5)


@pytest.mark.parametrize("constrained", [False, True])
@pytest.mark.parametrize("hidden_dims,activation,last", [((6,), "selu", True), ((7, 5, 3), "elu", False),
                                                         ((6, 4), "tanh", False), ((5, 4), "swish", True)])
def test_gradients_match_finite_differences(ratings, constrained, hidden_dims, activation, last):
    X = sp.csr_array(ratings[0][:12], dtype=np.float64)
    model = small(hidden_dims=hidden_dims, activation=activation, last_layer_activations=last, constrained=constrained,
                  dropout=0.3, dtype="float64")
    model._check_params()
    model.dtype_, model.rating_mean_ = np.dtype(np.float64), 3.5
    rng = np.random.default_rng(0)
    model._params = model._build(list(hidden_dims), X.shape[1], np.random.RandomState(0))
    for p in model._params:  # move away from the zero-bias initialisation
        p.value += 0.1 * rng.standard_normal(p.value.shape)
    if constrained:
        assert model.output_coef_ is model.encoder_coefs_[0]
    be = CpuBackend(1)
    _numeric_check(model, lambda: model._sparse_step(be, X, 7, 3, want_dense=False)[0], rng)
    dense = model._sparse_step(be, X, 7, 3, want_dense=True)[1]
    np.testing.assert_allclose(dense, model._dense_output(be, model._forward(be, X, train=True, seed=7, step=3)[0]))
    _numeric_check(model, lambda: model._dense_step(be, dense, 7, 4, want_dense=False)[0], rng)
    # with a baseline: sparse targets differ from the inputs, the dense step reads output + baseline
    targets = X.data - 3.5 + 0.3 * rng.standard_normal(X.nnz)
    _numeric_check(model, lambda: model._sparse_step(be, X, 7, 3, want_dense=False, targets=targets)[0], rng)
    base = 0.2 * rng.standard_normal(dense.shape)  # input = dense + base, target = dense
    _numeric_check(model, lambda: model._dense_step(be, dense, 7, 4, want_dense=False, base=base)[0], rng)


def test_constrained_weights_stay_tied_after_load(ratings, tmp_path):
    """constrained=True: the output layer is the first encoder layer, one array, after a load too
    (the round trip itself is in test_common.py)."""
    model = small(constrained=True, n_epochs=1).fit(ratings[0])
    assert model.output_coef_ is model.encoder_coefs_[0]
    model.save(tmp_path / "deep.npz")
    loaded = aerec.load(tmp_path / "deep.npz")
    assert loaded.output_coef_ is loaded.encoder_coefs_[0]


@pytest.mark.parametrize("unseen", ["default", "mean"])
def test_unseen_users_and_items(ratings, unseen):
    train = ratings[0].tolil()
    train[:, 3] = 0  # no training ratings for item 3
    train = sp.csr_array(train)
    train.eliminate_zeros()
    model = small(unseen=unseen, n_epochs=2).fit(train)
    expect = 3.0 if unseen == "default" else train.data.mean()
    new_users = sp.csr_array((np.array([5.0], dtype=np.float32), ([1], [0])), shape=(2, train.shape[1]))
    P = model.predict(new_users)  # row 0: a new user with no ratings; row 1: one rating
    np.testing.assert_allclose(P[0], expect, rtol=1e-6)
    np.testing.assert_allclose(P[:, 3], expect, rtol=1e-6)
    assert not np.allclose(P[1, :3], expect)
    assert P.min() >= 1 and P.max() <= 5


def test_learning_rate_schedule():
    model = aerec.DeepAutoencoder(learning_rate=0.1, lr_decay=0.9, lr_milestones=(2, 4), lr_gamma=0.5)
    np.testing.assert_allclose([model._learning_rate(e) for e in range(5)], [0.1, 0.09, 0.0405, 0.03645, 0.0164025])


def test_adam_and_activation_aliases(ratings):
    train, test = ratings
    for act in ("lrelu", "none", "sigmoid", "relu"):
        model = small(optimizer="adam", learning_rate=3e-3, activation=act, last_layer_activations=False,
                      n_epochs=3).fit(train)
        assert np.isfinite(model.loss_curve_).all()


def test_diverging_fit_raises_clearly(ratings):
    with pytest.raises(FloatingPointError, match="learning_rate"):
        small(learning_rate=1e6, n_epochs=3, last_layer_activations=False, activation="relu").fit(ratings[0])


@pytest.mark.parametrize("refeed", [0, 1])
def test_baseline_predictions_are_biases_plus_the_network(ratings, refeed):
    """baseline='biases': predictions are μ + b_u + b_i + the network's output (clipped); the re-feeding
    step reads the full prediction. (Determinism and save/load with the baseline: test_common.py.)"""
    from aerec.models._rating import row_biases

    train = ratings[0]
    a = small(n_threads=1, baseline="biases", refeed=refeed, dtype="float64", early_stopping=True).fit(train)
    X = sp.csr_array(train, dtype=np.float64)
    be = CpuBackend(1)
    net = a._dense_output(be, a._forward(be, X)[0])
    bu = row_biases(X, a.rating_mean_, a.item_bias_, a.baseline_l2)
    expect = np.clip(net + a.rating_mean_ + bu[:, None] + a.item_bias_[None, :], a.rating_min_, a.rating_max_)
    seen = np.bincount(X.indices, minlength=X.shape[1]) > 0
    np.testing.assert_allclose(a.predict(train)[:, seen], expect[:, seen], rtol=1e-10, atol=1e-10)
    plain = small(refeed=refeed, dtype="float64", baseline=None).fit(train)
    assert plain.item_bias_ is None and not np.array_equal(plain.predict(train), a.predict(train))


def test_files_from_before_the_baseline_load_as_models_without_it(ratings, tmp_path, monkeypatch):
    train = ratings[0]
    model = small(n_epochs=2, baseline=None).fit(train)
    old = {k: v for k, v in model.get_params().items() if k not in ("baseline", "baseline_l2")}
    monkeypatch.setattr(aerec.DeepAutoencoder, "get_params", lambda self, deep=True: dict(old))
    model.save(tmp_path / "old.npz")
    monkeypatch.undo()
    loaded = aerec.load(tmp_path / "old.npz")
    assert loaded.baseline is None and loaded.item_bias_ is None
    np.testing.assert_array_equal(loaded.predict(train), model.predict(train))
