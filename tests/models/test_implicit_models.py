"""Behaviour specific to the implicit-feedback estimators: they learn planted structure, EASE matches
its closed form, MultVAE/MultDAE recommend in bfloat16 and find the exact float32 top-k. What every
estimator does (determinism, save/load, Ctrl-C, bad parameters, fold-in, recommend) is in
test_common.py."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import aerec
from aerec.datasets import make_synthetic
from aerec.metrics import ndcg_at_k
from aerec.model_selection import holdout_users as split_users


@pytest.fixture(scope="module")
def data():
    X = make_synthetic((1500, 400, 40000), random_state=3)
    train, fold_in, target = split_users(X, 0.2, np.random.RandomState(0))
    return train, fold_in, target


def _ndcg(model, fold_in, target):
    idx, _ = model.recommend(fold_in, k=100)
    return float(np.nanmean(ndcg_at_k(idx, target, 100)))


def small_vae(**kw):
    params = dict(hidden_dims=(64,), n_components=16, n_epochs=15, batch_size=100, anneal_steps=300, random_state=0)
    return aerec.MultVAE(**{**params, **kw})


def small_dae(**kw):
    params = dict(n_components=32, n_epochs=15, batch_size=100, random_state=0)
    return aerec.MultDAE(**{**params, **kw})


@pytest.mark.parametrize("make", [small_vae, small_dae, lambda: aerec.EASE(l2=50.0)], ids=["vae", "dae", "ease"])
def test_beats_popularity_on_planted_structure(data, make):
    train, fold_in, target = data
    pop = _ndcg(aerec.Popularity().fit(train), fold_in, target)
    model = make().fit(train)
    assert _ndcg(model, fold_in, target) > pop + 0.05


@pytest.mark.parametrize("make", [small_vae, small_dae], ids=["vae", "dae"])
def test_loss_decreases_and_curves_recorded(data, make):
    model = make().fit(data[0])
    assert len(model.loss_curve_) == model.n_iter_ == 15
    assert model.loss_curve_[-1] < model.loss_curve_[0]


def test_early_stopping_keeps_best_epoch(data):
    train, fold_in, target = data
    model = small_vae(n_epochs=8).fit(train, X_val=fold_in, y_val=target)
    assert len(model.validation_scores_) == 8
    assert model.best_epoch_ == int(np.argmax(model.validation_scores_))
    # the kept weights are the best epoch's: scoring them again reproduces the recorded maximum
    assert _ndcg(model, fold_in, target) == pytest.approx(max(model.validation_scores_), abs=1e-6)


def test_validation_fraction_and_patience(data):
    model = small_dae(n_epochs=30, early_stopping=True, validation_fraction=0.2, patience=2).fit(data[0])
    assert model.n_iter_ <= 30 and len(model.validation_scores_) == model.n_iter_


def test_ease_matches_closed_form():
    X = make_synthetic((200, 60, 3000), random_state=1)
    lam = 20.0
    Xd = X.toarray().astype(np.float64)
    P = np.linalg.inv(Xd.T @ Xd + lam * np.eye(60))
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0)
    for dtype, tol in (("float64", 1e-9), ("float32", 2e-4)):
        model = aerec.EASE(l2=lam, dtype=dtype).fit(X)
        np.testing.assert_allclose(model.B_, B, atol=tol * np.abs(B).max())
    pos = aerec.EASE(l2=lam, positive=True, dtype="float64").fit(X)
    np.testing.assert_allclose(pos.B_, np.maximum(B, 0), atol=1e-9 * np.abs(B).max())


def test_ease_refuses_what_will_not_fit():
    X = sp.csr_array(np.eye(10, 3000, dtype=np.float32))
    with pytest.raises(MemoryError, match="3,000 items"):
        aerec.EASE(max_memory=1000).fit(X)


def test_diverging_fit_raises_clearly(data):
    with pytest.raises(FloatingPointError, match="learning_rate"):
        small_dae(learning_rate=1e30, n_epochs=3).fit(data[0])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ease_blocked_inverse_bit_identical_across_runs_and_threads(dtype):
    """700 items: EASE's blocked inverse runs several 256-wide tiles on the thread pool (test_common.py's
    tiny catalogue fits in one tile)."""
    X = sp.random(600, 700, density=0.05, format="csr", random_state=3)
    fits = [aerec.EASE(l2=10.0, dtype=dtype, n_threads=t).fit(X) for t in (1, 2, 3, 2)]
    for f in fits[1:]:
        np.testing.assert_array_equal(fits[0].B_, f.B_)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("positive", [False, True])
def test_ease_fit_gram_is_fit(dtype, positive):
    """fit_gram(XᵀX summed over row blocks) runs fit's code from G on: the same B, bit for bit, and G
    left unmodified; 700 items (several tiles of the blocked inverse)."""
    from aerec import kernels

    X = sp.random(600, 700, density=0.05, format="csr", random_state=4)
    want = aerec.EASE(l2=10.0, dtype=dtype, positive=positive).fit(X)
    Xb = sp.csr_array(X, dtype=np.float32)
    Xb.data[:] = 1
    G = sum(kernels.sparse_gram(Xb[s:s + 150]).astype(np.float64) for s in range(0, 600, 150))
    G0 = G.copy()
    got = aerec.EASE(l2=10.0, dtype=dtype, positive=positive).fit_gram(G)
    np.testing.assert_array_equal(got.B_, want.B_)
    np.testing.assert_array_equal(G, G0)
    assert got.n_features_in_ == 700 and got.dtype_ == np.dtype(dtype)
    np.testing.assert_array_equal(got.recommend(X[:10], k=5)[0], want.recommend(X[:10], k=5)[0])


def test_ease_fit_gram_refuses_what_is_not_a_gram_matrix():
    with pytest.raises(ValueError, match="square"):
        aerec.EASE().fit_gram(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        aerec.EASE().fit_gram(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match="l2"):
        aerec.EASE(l2=-1.0).fit_gram(np.eye(3))


@pytest.mark.parametrize("make", [small_vae, small_dae], ids=["vae", "dae"])
@pytest.mark.parametrize("amx", ["native", "fallback"])
def test_recommend_bfloat16_is_the_bf16_output_layer(data, make, amx, monkeypatch):
    """precision='bfloat16': the scores are the hidden layer times the bf16-rounded output weights (the
    oracle), seen items excluded, best first, the same for any n_threads, and close to float32."""
    from aerec import _reference as ref
    from aerec import kernels

    if amx == "fallback":
        monkeypatch.setenv("AEREC_AMX", "0")
    elif not kernels.amx_bf16_available():
        pytest.skip("this CPU/OS has no AMX-BF16")
    train, fold_in, target = data
    model = make(n_epochs=5).fit(train)
    idx, scores = model.recommend(fold_in, k=30, precision="bfloat16")
    assert idx.shape == scores.shape == (fold_in.shape[0], 30) and scores.dtype == np.float32
    for u in range(fold_in.shape[0]):
        assert not set(idx[u]) & set(fold_in[[u]].indices)
    assert np.all(np.diff(scores, axis=1) <= 0)
    # the oracle: float32 layers up to the output layer, then bf16(H)·bf16(W) + b in float64
    from aerec.engine import CpuBackend

    be = CpuBackend(1)
    enc = model._encode(be, fold_in, model.coefs_, model.intercepts_, train=False)
    H = model._decode_hidden(be, enc[0] if isinstance(enc, tuple) else enc, model.coefs_, model.intercepts_)
    want = ref.ref_gemm_bf16(np.ascontiguousarray(H, np.float32), model.coefs_[-1], model.intercepts_[-1])
    np.testing.assert_allclose(scores, np.take_along_axis(want, idx, axis=1), rtol=1e-5, atol=1e-5)
    want[fold_in.nonzero()] = -np.inf
    assert np.all(scores[:, -1] >= np.sort(want, axis=1)[:, -30] - 1e-5)  # nothing better was left out
    for n in (1, 3):
        model.n_threads_ = n  # inference uses the thread count resolved at fit
        i2, s2 = model.recommend(fold_in, k=30, precision="bfloat16")
        np.testing.assert_array_equal(i2, idx)
        np.testing.assert_array_equal(s2, scores)
    i32, _ = model.recommend(fold_in, k=30)
    overlap = np.mean([np.intersect1d(a, b).size / 30 for a, b in zip(idx, i32)])
    assert overlap > 0.9


@pytest.mark.parametrize("make", [small_vae, small_dae], ids=["vae", "dae"])
@pytest.mark.parametrize("route", ["screened", "scored", "few_rows", "too_big"])
def test_recommend_float32_is_the_exact_top_k(data, make, route, monkeypatch):
    """Float32 recommend returns the top-k of the float64-accurate scores H·W + b: exactly through the
    bfloat16 screen (kernels.screened_topk, chosen where AMX is and k is a small share of the items; the
    kernel's tests cover its fallback screen), or by scoring every item in float32 (up to near-ties)."""
    from aerec import _reference as ref
    from aerec import kernels
    from aerec.models import vae as vae_module

    calls = []
    real = kernels.screened_topk
    monkeypatch.setattr(kernels, "screened_topk", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    if route == "scored":  # k too large a share of the items
        monkeypatch.setattr(vae_module, "SCREEN_ITEMS_PER_K", 10**9)
    elif route == "few_rows":  # fewer rows than preparing the screen pays for (300 < SCREEN_MIN_ROWS)
        monkeypatch.setattr(vae_module, "SCREEN_ITEMS_PER_K", 4)
    elif route == "too_big":  # the prepared copies would not fit the memory allowed for them
        monkeypatch.setattr(vae_module, "SCREEN_ITEMS_PER_K", 4)
        monkeypatch.setattr(vae_module, "SCREEN_MIN_ROWS", 1)
        monkeypatch.setattr(vae_module, "SCREEN_MAX_BYTES", 1000)
    elif not kernels.amx_bf16_available():
        pytest.skip("this CPU/OS has no AMX-BF16: recommend scores every item")
    else:
        monkeypatch.setattr(vae_module, "SCREEN_ITEMS_PER_K", 4)  # 400 items: k = 30 qualifies
        monkeypatch.setattr(vae_module, "SCREEN_MIN_ROWS", 1)
    train, fold_in, _ = data
    model = make(n_epochs=5).fit(train)
    from aerec.engine import CpuBackend

    be = CpuBackend(1)
    enc = model._encode(be, fold_in, model.coefs_, model.intercepts_, train=False)
    H = np.ascontiguousarray(model._decode_hidden(be, enc[0] if isinstance(enc, tuple) else enc, model.coefs_,
                                                  model.intercepts_), np.float32)
    want_idx, want_val = ref.ref_screened_topk(H, model.coefs_[-1], 30, model.intercepts_[-1], exclude=fold_in)
    results = []
    for n in (1, 2, 3):
        model.n_threads_ = n
        results.append(model.recommend(fold_in, k=30))
    idx, scores = results[0]
    for i2, s2 in results[1:]:
        np.testing.assert_array_equal(i2, idx)
        np.testing.assert_array_equal(s2, scores)
    assert scores.dtype == np.float32 and np.all(np.diff(scores, axis=1) <= 0)
    if route != "screened":
        assert not calls
        assert np.mean(idx == want_idx) > 0.99
        np.testing.assert_allclose(scores, want_val, rtol=1e-5, atol=1e-5)
    else:
        assert calls
        np.testing.assert_array_equal(idx, want_idx)
        np.testing.assert_array_equal(scores, want_val.astype(np.float32))


def test_prepared_output_weights_are_reused_only_while_unchanged(data, monkeypatch):
    """The bfloat16 tiles (and Wᵀ) prepared for scoring are kept on the model for the next recommend —
    never across a refit or an in-place edit of the weights, and never pickled."""
    import pickle

    from aerec import _reference as ref
    from aerec import kernels

    packs = []
    real = kernels.pack_bf16
    monkeypatch.setattr(kernels, "pack_bf16", lambda *a, **kw: packs.append(kw.get("keep_exact")) or real(*a, **kw))
    train, fold_in, _ = data
    model = small_vae(n_epochs=2).fit(train)
    first = model.recommend(fold_in, k=10, precision="bfloat16")
    second = model.recommend(fold_in, k=10, precision="bfloat16")
    assert len(packs) == 1
    np.testing.assert_array_equal(first[0], second[0])
    assert b"_scoring_cache" not in pickle.dumps(model)
    model.coefs_[-1][:, 5] += 3.0  # in place: the fingerprint changes, the weights are prepared again
    edited = model.recommend(fold_in, k=10, precision="bfloat16")
    assert len(packs) == 2
    from aerec.engine import CpuBackend

    be = CpuBackend(1)
    H = model._decode_hidden(be, model._encode(be, fold_in, model.coefs_, model.intercepts_, train=False)[0],
                             model.coefs_, model.intercepts_)
    want = ref.ref_gemm_bf16(np.ascontiguousarray(H, np.float32), model.coefs_[-1], model.intercepts_[-1])
    np.testing.assert_allclose(edited[1], np.take_along_axis(want, edited[0], axis=1), rtol=1e-5, atol=1e-5)
    model.fit(train)
    assert "_scoring_cache" not in model.__dict__
    model.recommend(fold_in, k=10, precision="bfloat16")
    assert len(packs) == 3


def test_recommend_bfloat16_float64_model_and_bad_precision(data):
    train, fold_in, _ = data
    model = small_vae(n_epochs=2, dtype="float64").fit(train)
    idx, scores = model.recommend(fold_in[:20], k=10, precision="bfloat16")
    assert scores.dtype == np.float64 and idx.shape == (20, 10)
    with pytest.raises(ValueError, match="precision must be"):
        model.recommend(fold_in, k=10, precision="float16")
    with pytest.raises(ValueError, match="EASE does not support precision='bfloat16'"):
        aerec.EASE(l2=50.0).fit(train).recommend(fold_in, k=10, precision="bfloat16")
