"""What every estimator must do, written once and parametrised over a table of cases (one small, fast
constructor per estimator and per variant worth covering, each with its matching tiny data):

* the same seed gives bit-identical fitted state for any thread count, on a reused object too, and
  another seed gives another model;
* save → load and pickle → unpickle give the same fitted state, predictions, recommendations,
  scores and embeddings; a clone of a fitted model is unfitted with the same parameters;
* Ctrl-C during fit stops at a batch boundary, warns, and leaves a usable model;
* invalid hyperparameters raise an error naming the parameter;
* new users' rows fold in, each row's scores independent of the rows around it;
* recommend's contract (shape, best first, no seen items, the scores are predict's, ``items=``
  candidates, −1/−inf padding past the eligible items), ``score`` and ``transform``.

Where a behaviour does not apply to a case the parametrisation is skipped with the reason. What is
specific to one model stays in its own file (``test_autorec.py``, ``test_deep_ae.py``,
``test_implicit_models.py``).
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
import scipy.sparse as sp
from _ratings import split_entries, synthetic_ratings
from sklearn.base import clone

import aerec
from aerec import models
from aerec.datasets import make_synthetic
from aerec.metrics import ndcg_at_k
from aerec.model_selection import holdout_items
from aerec.persistence import registered_estimators

#: (train, held-out) parts of the same users' entries: ratings 1..5 and implicit 0/1.
DATA = {"ratings": split_entries(synthetic_ratings(n_users=60, n_items=40, density=0.3), 0.2, seed=1),
        "implicit": split_entries(make_synthetic((120, 50, 1500), random_state=3), 0.2, seed=1)}


@dataclass(frozen=True)
class Case:
    id: str
    make: Callable[..., object]  # make(**overrides) → an unfitted estimator
    data: str  # key of DATA
    trained: bool = True  # has a training loop: a seed, epochs, Ctrl-C
    folds_in: bool = True  # predicts for rows other than its training users
    width: int | None = None  # transform's output width; None: no transform

    def __str__(self):
        return self.id


def _with(cls, **defaults):
    return lambda **kw: cls(**{**defaults, **kw})


# Random parts switched on (dropout, input dropout, a validation split with early stopping) so that
# determinism has something to hold; a few epochs on a tiny matrix.
_AUTOREC = dict(n_components=8, n_epochs=4, batch_size=16, l2=10.0, learning_rate=0.01, dropout=0.2,
                input_dropout=0.3, early_stopping=True, validation_fraction=0.1, random_state=0)
_DEEP = dict(hidden_dims=(16, 8), n_epochs=4, batch_size=16, learning_rate=0.05, dropout=0.2, early_stopping=True,
             validation_fraction=0.1, random_state=0)
CASES = [
    Case("AutoRec-item", _with(aerec.AutoRec, item_based=True, **_AUTOREC), "ratings", width=8,
         folds_in=False),  # encodes items over the training users: its rows are those users (API.md)
    Case("AutoRec-user", _with(aerec.AutoRec, item_based=False, **_AUTOREC), "ratings", width=8),
    Case("DeepAutoencoder-refeed", _with(aerec.DeepAutoencoder, refeed=1, **_DEEP), "ratings", width=8),
    Case("DeepAutoencoder-constrained-float64",
         _with(aerec.DeepAutoencoder, refeed=0, constrained=True, dtype="float64", **_DEEP), "ratings", width=8),
    Case("MultVAE", _with(aerec.MultVAE, hidden_dims=(16,), n_components=8, n_epochs=4, batch_size=32, anneal_steps=20,
                          early_stopping=True, validation_fraction=0.2, random_state=0), "implicit", width=8),
    Case("MultDAE", _with(aerec.MultDAE, n_components=16, n_epochs=4, batch_size=32, early_stopping=True,
                          validation_fraction=0.2, random_state=0), "implicit", width=16),
    Case("CDAE", _with(aerec.CDAE, n_components=8, n_epochs=4, batch_size=32, learning_rate=0.01, fold_in_steps=3,
                       early_stopping=True, validation_fraction=0.2, random_state=0), "implicit", width=8),
    Case("EASE", _with(aerec.EASE, l2=10.0), "implicit", trained=False),  # closed form: no seed, no epochs
    Case("EDLAE", _with(aerec.EDLAE, l2=10.0, dropout=0.25), "implicit", trained=False),  # EASE's closed form
    Case("EDLAE-low-rank", _with(aerec.EDLAE, l2=10.0, dropout=0.25, n_components=8, n_iter=3), "implicit",
         trained=False, width=8),  # deterministic ALS: no seed, no epochs
    Case("Popularity", _with(aerec.Popularity), "implicit", trained=False),  # counts: no seed, no epochs
]
TRAINED = [c for c in CASES if c.trained]
#: one case per estimator class, for what depends on the class only (its parameters)
BY_CLASS = {}
for _c in CASES:
    BY_CLASS.setdefault(type(_c.make()).__name__, _c)

_FITTED = {}


def fitted(case):
    """The case fitted on its training data (shared: callers must not modify it)."""
    if case.id not in _FITTED:
        _FITTED[case.id] = case.make().fit(DATA[case.data][0])
    return _FITTED[case.id]


def state(model):
    """Everything a fitted model holds (the arrays and scalars its model file stores)."""
    s = model._get_fitted_state()
    return s["arrays"], s["scalars"]


def assert_same_state(a, b, *, ignore=()):
    (arr_a, sc_a), (arr_b, sc_b) = state(a), state(b)
    assert arr_a.keys() == arr_b.keys()
    for name in arr_a:
        np.testing.assert_array_equal(arr_a[name], arr_b[name], err_msg=name)
    assert {k: v for k, v in sc_a.items() if k not in ignore} == {k: v for k, v in sc_b.items() if k not in ignore}


def test_every_estimator_has_a_case():
    """The table covers every public estimator, and every one of them can be loaded from a file."""
    classes = {getattr(models, name) for name in models.__all__}
    assert {type(c.make()) for c in CASES} == classes == set(registered_estimators())


# ---- determinism ------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=str)
def test_same_seed_same_state_for_any_thread_count(case):
    """n_threads 1, 2 and 3 give bit-identical weights, curves, validation scores and predictions;
    refitting a used object (at 2 threads) reproduces the fresh 2-thread fit; another seed differs."""
    X = DATA[case.data][0]
    a, b, c = (case.make(n_threads=t).fit(X) for t in (1, 2, 3))
    assert_same_state(a, b, ignore=("n_threads_",))
    assert_same_state(a, c, ignore=("n_threads_",))
    np.testing.assert_array_equal(a.predict(X), c.predict(X))
    c.set_params(n_threads=2).fit(X)  # the same run again, on an object that was fitted before
    assert_same_state(b, c)
    if case.trained:
        d = case.make(n_threads=1, random_state=1).fit(X)
        arrays_a, arrays_d = state(a)[0], state(d)[0]
        assert any(not np.array_equal(arrays_a[k], arrays_d[k]) for k in arrays_a), "the seed is not used"


# ---- save / load, pickle, clone -----------------------------------------------------------------------


def _assert_same_outputs(case, got, want, X, y):
    np.testing.assert_array_equal(got.predict(X), want.predict(X))
    for g, w in zip(got.recommend(X, k=5), want.recommend(X, k=5)):
        np.testing.assert_array_equal(g, w)
    assert got.score(X, y) == want.score(X, y)
    if case.width is not None:
        np.testing.assert_array_equal(got.transform(X), want.transform(X))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_save_load_pickle_and_clone_round_trip(case, tmp_path):
    X, y = DATA[case.data]
    model = fitted(case)
    model.save(tmp_path / "m.npz")
    loaded = aerec.load(tmp_path / "m.npz")
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    assert_same_state(loaded, model)
    _assert_same_outputs(case, loaded, model, X, y)
    unpickled = pickle.loads(pickle.dumps(model))
    assert_same_state(unpickled, model)
    _assert_same_outputs(case, unpickled, model, X, y)
    c = clone(model)
    assert c.get_params() == model.get_params() and not hasattr(c, "n_features_in_")


# ---- Ctrl-C -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", TRAINED, ids=str)  # EASE and Popularity have no training loop to interrupt
def test_ctrl_c_stops_between_batches(case):
    """SIGINT during fit: training stops at a batch boundary, warns, and leaves a usable model."""
    X = DATA[case.data][0]
    n_epochs = 100_000
    model = case.make(n_epochs=n_epochs, batch_size=4, early_stopping=False)
    done = threading.Event()

    def interrupt_once_training():  # wait until an epoch has finished, however loaded the machine is
        deadline = time.monotonic() + 120
        while not done.is_set():
            if getattr(model, "n_iter_", 0) >= 1 or time.monotonic() > deadline:  # never leave fit running on
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=interrupt_once_training, daemon=True)
    thread.start()
    try:
        with pytest.warns(RuntimeWarning, match="interrupted"):
            model.fit(X)
    finally:
        done.set()
        thread.join()
    assert 1 <= model.n_iter_ < n_epochs
    assert model.n_updates_ >= model.n_iter_ and len(model.loss_curve_) == model.n_iter_
    rows = X if not case.folds_in else X[:5]
    assert np.isfinite(model.predict(rows)).all()
    assert model.recommend(rows, k=3)[0].shape == (rows.shape[0], 3)


# ---- invalid hyperparameters and data ---------------------------------------------------------------

#: bad values per parameter, tried on every estimator that has the parameter
BAD = {
    "learning_rate": [-1.0, 0.0, float("nan"), float("inf"), "fast"],
    "dropout": [1.0, -0.1, float("nan"), 2],
    "batch_size": [0, -1, 1.5, True],
    "n_epochs": [0, -1, 2.5, True],
    "n_components": [0, -3, 2.5],
    "hidden_dims": [(0,), (-1,), (4.5,), "abc", 5, (True,), (4, 0)],
    "early_stopping": ["yes", 1],
    "patience": [0, -1, 1.5],
    "positive": ["no"],
    "max_memory": [-1, 0, "lots", float("nan")],
    "input_dropout": [1.0, -0.1],
    "n_threads": [0, "two", 1.5],
    "device": ["tpu", 3],
    "dtype": ["float16", "int32", "banana"],
    "l2": [-1.0, float("nan"), float("inf"), "x"],
    "random_state": ["seed", 1.5, -1, True],
    "item_based": ["yes"],
    "refeed": [-1, 1.5],
    "momentum": [-0.5, 1.5],
    "beta_cap": [-1.0, float("nan")],
    "anneal_steps": [-1],
    "binarize": ["no"],
    "baseline": ["bias", "mean", True],
    "baseline_l2": [-1.0, float("nan"), "x"],
    "optimizer": ["lbfgs"],
    "unseen": ["zero"],
    "activation": ["softmax", "softplus"],
    "validation_fraction": [1.5],  # MultVAE/MultDAE check it only with early_stopping=True, as their cases set
    "lr_decay": [0.0],
    "loss": ["hinge", None],
    "negative_ratio": [-1.0, float("nan"), "many"],
    "fold_in_steps": [-1, 2.5],
    "fold_in_lr": [0.0, -0.1],
    "n_iter": [-1, 1.5, "x"],
}
#: bad for some estimators only (valid for the others that have the parameter)
#: (rprop: AutoRec's; (): MultDAE's; CDAE has no GPU path, so 'cuda' is refused naming device)
BAD_FOR = {"DeepAutoencoder": {"optimizer": ["rprop"], "hidden_dims": [()]}, "CDAE": {"device": ["cuda"]}}
#: what the message must say, where not the parameter's name
MESSAGE = {"dtype": "float32 or float64"}
BAD_CASES = [pytest.param(case, param, value, id=f"{name}-{param}={value!r}")
             for name, case in BY_CLASS.items()
             for param in case.make().get_params()
             for value in BAD.get(param, []) + BAD_FOR.get(name, {}).get(param, [])]


@pytest.mark.parametrize("case, param, value", BAD_CASES)
def test_bad_hyperparameters_are_named(case, param, value):
    with pytest.raises((ValueError, TypeError), match=MESSAGE.get(param, param)):
        case.make(**{param: value}).fit(DATA[case.data][0])


@pytest.mark.parametrize("case", TRAINED, ids=str)  # EASE and Popularity: an empty matrix is a valid (empty) fit
def test_fit_refuses_data_without_interactions(case):
    X = DATA[case.data][0]
    with pytest.raises(ValueError, match="no ratings" if case.data == "ratings" else "no interactions"):
        case.make(early_stopping=False).fit(sp.csr_array(X.shape, dtype=np.float32))  # (a validation split
        # would refuse first)


@pytest.mark.parametrize("case", [c for c in CASES if c.data == "implicit"], ids=str)  # rating models keep values
def test_stored_zeros_are_not_interactions(case):
    X = DATA[case.data][0]
    with_zeros = X.copy()
    with_zeros.data[::7] = 0  # stored, not removed
    without = with_zeros.copy()
    without.eliminate_zeros()
    assert_same_state(case.make().fit(with_zeros), case.make().fit(without))


# ---- fold-in, recommend, score, transform -----------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=str)
def test_new_users_fold_in(case):
    """Users not seen in fit get scores from their own rows, the same whichever rows surround them."""
    if not case.folds_in:
        pytest.skip("item-based AutoRec predicts only for its training users (test_autorec.py checks the refusal)")
    X = DATA[case.data][0]
    model = case.make().fit(X[:-20])
    new = X[-20:]
    P = model.predict(new)
    assert P.shape == new.shape and np.isfinite(P).all()
    for r in (0, 5, 19):
        np.testing.assert_allclose(model.predict(new[r:r + 1])[0], P[r], rtol=1e-5, atol=1e-6)
    idx, _ = model.recommend(new, k=5)
    assert all(not set(idx[u]) & set(new[[u]].indices) for u in range(new.shape[0]))
    if case.width is not None:
        Z = model.transform(new)
        assert Z.shape == (20, case.width) and np.isfinite(Z).all()
        np.testing.assert_allclose(model.transform(new[5:6])[0], Z[5], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_recommend_contract(case):
    X = DATA[case.data][0]
    model = fitted(case)
    n_rows, n_items = X.shape
    seen = [set(X[[u]].indices) for u in range(n_rows)]
    P = model.predict(X).astype(np.float64)
    idx, scores = model.recommend(X, k=7)
    assert idx.shape == scores.shape == (n_rows, 7) and idx.dtype == np.int64 and scores.dtype == model.dtype_
    assert all(not set(idx[u]) & seen[u] for u in range(n_rows))
    assert np.all(np.diff(scores, axis=1) <= 0)  # best first
    np.testing.assert_allclose(scores, np.take_along_axis(P, idx, axis=1), rtol=1e-5, atol=1e-6)  # predict's scores
    unseen = P.copy()
    unseen[X.nonzero()] = -np.inf
    np.testing.assert_allclose(scores[:, 0], unseen.max(axis=1), rtol=1e-5, atol=1e-6)  # nothing better left out
    # candidates: only those, the best of them first
    allowed = np.arange(0, n_items, 3)
    idx_c, scores_c = model.recommend(X, k=4, items=allowed)
    assert np.isin(idx_c[idx_c >= 0], allowed).all()
    np.testing.assert_allclose(scores_c[:, 0], unseen[:, allowed].max(axis=1), rtol=1e-5, atol=1e-6)
    # k beyond the catalogue: every eligible item once, then −1 / −inf padding
    idx_p, scores_p = model.recommend(X, k=n_items + 5)
    assert idx_p.shape == (n_rows, n_items + 5)
    for u in range(n_rows):
        n_real = n_items - len(seen[u])
        assert sorted(idx_p[u, :n_real]) == sorted(set(range(n_items)) - seen[u])
        assert (idx_p[u, n_real:] == -1).all() and np.isneginf(scores_p[u, n_real:]).all()


@pytest.mark.parametrize("case", CASES, ids=str)
def test_score(case):
    """Rating models: −RMSE at y's entries; implicit models: mean NDCG@100 of recommend's lists."""
    X, y = DATA[case.data]
    model = fitted(case)
    s = model.score(X, y)
    if case.data == "ratings":
        coo = y.tocoo()
        rmse = np.sqrt(np.mean((model.predict(X)[coo.row, coo.col].astype(np.float64) - coo.data) ** 2))
        assert np.isclose(-s, rmse, rtol=1e-5)
    else:
        assert 0 < s <= 1
        assert s == pytest.approx(float(np.nanmean(ndcg_at_k(model.recommend(X, k=100)[0], y, 100))), abs=1e-12)
    history, heldout = holdout_items(X, 0.2, random_state=0)  # score(X) holds out 20 % of each row itself
    assert model.score(X) == model.score(history, heldout)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_transform_shape(case):
    X = DATA[case.data][0]
    model = fitted(case)
    if case.width is None:
        assert not hasattr(model, "transform"), "a transform the table does not know about: give the case a width"
        return
    Z = model.transform(X)
    assert Z.shape == (X.shape[0], case.width) and np.isfinite(Z).all()
