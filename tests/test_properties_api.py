"""Property-based tests (hypothesis) of the public estimator API over random sparse matrices and
parameters, every estimator at tiny sizes and one or two epochs:

* fit never crashes (an input without any interaction may be refused with a ValueError);
* predictions and recommendation scores are finite (rating models: inside the training range when
  clipped);
* ``recommend`` never returns an excluded (already seen) item, a non-candidate or an out-of-range
  index; padding (−1, −inf) comes only after the real items, and scores never increase along a list;
* predictions are invariant to the order the rows are given in: scoring a row permutation of X gives
  the same permutation of the scores; for the closed-form models (EASE, Popularity) fitting on
  permuted rows gives the same model too.

The kernels' own properties (oracles, arbitrary CSR arrays at the bindings) are in
``tests/kernels/test_properties.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aerec

EXAMPLES = 30
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def interactions(draw, explicit=False, min_users=1, max_users=14, max_items=12):
    """A random users × items CSR (float32) with, at hypothesis' choice, an empty row, a row holding
    every item and an item nobody has; ratings 1–5 for the rating models, ones otherwise."""
    n_users = draw(st.integers(min_users, max_users))
    n_items = draw(st.integers(1, max_items))
    density = draw(st.sampled_from([0.0, 0.1, 0.3, 0.7, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    mask = rng.random((n_users, n_items)) < density
    if draw(st.booleans()):
        mask[rng.integers(n_users)] = True  # a row with every item
    if draw(st.booleans()):
        mask[rng.integers(n_users)] = False  # a row without any
    if n_items > 1 and draw(st.booleans()):
        mask[:, rng.integers(n_items)] = False  # an item nobody has
    values = rng.integers(1, 6, mask.shape).astype(np.float32) if explicit else np.ones(mask.shape, np.float32)
    return sp.csr_array(np.where(mask, values, 0).astype(np.float32))


def _check_recommendations(idx, val, X, k, candidates=None, exclude_seen=True):
    n_items = X.shape[1]
    assert idx.shape == val.shape == (X.shape[0], k) and idx.dtype == np.int64
    for r in range(X.shape[0]):
        real = idx[r] >= 0
        n_real = int(real.sum())
        assert real[:n_real].all() and not real[n_real:].any(), idx[r]  # padding only at the tail
        assert (idx[r][~real] == -1).all() and np.isneginf(val[r][~real]).all()
        got = idx[r][real]
        assert got.size == np.unique(got).size and (got < n_items).all()
        assert np.isfinite(val[r][real]).all(), val[r]
        assert (np.diff(val[r][real].astype(np.float64)) <= 0).all(), val[r]  # best first
        seen = set(X.indices[X.indptr[r]:X.indptr[r + 1]].tolist())
        if exclude_seen:
            assert not seen & set(got.tolist())
        allowed = set(range(n_items)) if candidates is None else set(np.asarray(candidates).tolist())
        assert set(got.tolist()) <= allowed
        eligible = allowed - seen if exclude_seen else allowed
        assert n_real == min(k, len(eligible))  # nothing eligible is left out while a slot is padding


IMPLICIT = {
    "EASE": lambda p: aerec.EASE(l2=p["l2"]),
    "Popularity": lambda p: aerec.Popularity(),
    "MultVAE": lambda p: aerec.MultVAE(hidden_dims=(p["h"],), n_components=2, n_epochs=p["epochs"], batch_size=p["bs"],
                                       dropout=p["dropout"], anneal_steps=4,
                                       random_state=p["seed"], n_threads=p["threads"]),
    "MultDAE": lambda p: aerec.MultDAE(n_components=p["h"], n_epochs=p["epochs"], batch_size=p["bs"],
                                       dropout=p["dropout"], random_state=p["seed"], n_threads=p["threads"]),
}
EXPLICIT = {
    "AutoRec-user": lambda p: aerec.AutoRec(item_based=False, n_components=p["h"], n_epochs=p["epochs"],
                                            batch_size=p["bs"], dropout=p["dropout"], random_state=p["seed"],
                                            n_threads=p["threads"]),
    "AutoRec-item": lambda p: aerec.AutoRec(item_based=True, n_components=p["h"], n_epochs=p["epochs"],
                                            batch_size=p["bs"], dropout=p["dropout"], random_state=p["seed"],
                                            n_threads=p["threads"]),
    "DeepAutoencoder": lambda p: aerec.DeepAutoencoder(hidden_dims=(p["h"], 2), n_epochs=p["epochs"],
                                                       batch_size=p["bs"], dropout=p["dropout"], refeed=p["epochs"] - 1,
                                                       random_state=p["seed"], n_threads=p["threads"]),
}
params = st.fixed_dictionaries({
    "l2": st.sampled_from([0.5, 10.0, 500.0]),
    "h": st.integers(1, 6),
    "epochs": st.integers(1, 2),
    "bs": st.integers(1, 20),
    "dropout": st.sampled_from([0.0, 0.5, 0.9]),
    "seed": st.integers(0, 2**31 - 1),
    "threads": st.integers(1, 2),
})


def _fit(make, X):
    """Fit; an input without any interaction may be refused (a documented ValueError), nothing else."""
    try:
        return make().fit(X)
    except ValueError as exc:
        assert X.nnz == 0 or "no ratings" in str(exc) or "no interactions" in str(exc), exc
        assert X.nnz == 0, exc
        return None


@pytest.mark.parametrize("name", list(IMPLICIT))
@SETTINGS
@given(X=interactions(), p=params, k=st.integers(1, 15), with_candidates=st.booleans(), exclude_seen=st.booleans(),
       perm_seed=st.integers(0, 2**32 - 1))
def test_implicit_estimators(name, X, p, k, with_candidates, exclude_seen, perm_seed):
    model = _fit(lambda: IMPLICIT[name](p), X)
    if model is None:
        return
    S = model.predict(X)
    assert S.shape == X.shape and np.isfinite(S).all()
    rng = np.random.default_rng(perm_seed)
    candidates = (np.sort(rng.choice(X.shape[1], size=max(1, X.shape[1] // 2), replace=False))
                  if with_candidates else None)
    idx, val = model.recommend(X, k=k, items=candidates, exclude_seen=exclude_seen, batch_size=p["bs"])
    _check_recommendations(idx, val, X, k, candidates, exclude_seen)
    # rows in another order: the same scores, permuted
    perm = rng.permutation(X.shape[0])
    np.testing.assert_allclose(model.predict(X[perm]), S[perm], rtol=1e-5, atol=1e-6)
    idx_p, val_p = model.recommend(X[perm], k=k, items=candidates, exclude_seen=exclude_seen)
    np.testing.assert_allclose(val_p, val[perm], rtol=1e-5, atol=1e-6)
    if name in ("EASE", "Popularity"):  # closed form: the fitted model does not depend on the row order
        refit = IMPLICIT[name](p).fit(X[perm])
        np.testing.assert_allclose(refit.predict(X), S, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", list(EXPLICIT))
@SETTINGS
@given(X=interactions(explicit=True, min_users=2), p=params, k=st.integers(1, 15), exclude_seen=st.booleans(),
       perm_seed=st.integers(0, 2**32 - 1))
def test_rating_estimators(name, X, p, k, exclude_seen, perm_seed):
    model = _fit(lambda: EXPLICIT[name](p), X)
    if model is None:
        return
    P = model.predict(X)
    assert P.shape == X.shape and np.isfinite(P).all()
    assert (P >= model.rating_min_ - 1e-5).all() and (P <= model.rating_max_ + 1e-5).all()  # clip=True
    idx, val = model.recommend(X, k=k, exclude_seen=exclude_seen, batch_size=p["bs"])
    _check_recommendations(idx, val, X, k, None, exclude_seen)
    if name == "AutoRec-item":
        return  # its rows are the training users themselves (documented): there is no other order to give
    perm = np.random.default_rng(perm_seed).permutation(X.shape[0])
    np.testing.assert_allclose(model.predict(X[perm]), P[perm], rtol=1e-5, atol=1e-5)
    _, val_p = model.recommend(X[perm], k=k, exclude_seen=exclude_seen)
    np.testing.assert_allclose(val_p, val[perm], rtol=1e-5, atol=1e-5)
