"""Bad input to every public function — not only the estimators: metrics, splitters, the id mapper,
model files, the dataset readers and the command line.

Every case either raises ``ValueError``/``TypeError`` (``MemoryError`` for sizes) whose message names
the parameter and what was expected, or follows a documented rule that the case checks (padding with
−1 when k exceeds the catalogue, duplicate sparse entries summed, unknown ids dropped with a warning).
Malformed CSR structures run in a child process, where a crash cannot hide (one such case found
SciPy corrupting memory on a broken ``indptr`` in ``scores_to_recommendations``: a later
garbage collection segfaulted). The README's robustness report counts these cases.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import aerec
from aerec import metrics as M
from aerec import model_selection as MS
from aerec.cli import main as cli_main
from aerec.data import IdMapper
from aerec.datasets import (
    load_gowalla,
    load_ml1m,
    load_monti,
    load_movielens,
    load_netflix_prize,
    make_synthetic,
    read_rating_triples,
    triples_to_csr,
)
from aerec.persistence import ModelFileError

RANKING = {"ndcg": M.ndcg_at_k, "recall": M.recall_at_k, "truncated_recall": M.truncated_recall_at_k,
           "precision": M.precision_at_k, "map": M.map_at_k}

Y = sp.csr_array(np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], dtype=np.float64))
REC = np.array([[0, 1], [1, 2], [2, 3]])
X_IMPLICIT = make_synthetic((60, 20, 600), random_state=0)
X_RATINGS = make_synthetic((60, 20, 600), explicit=True, random_state=0)


def _set(A, value, pos=0):
    B = A.copy()
    B.data = B.data.astype(np.result_type(B.data, np.asarray(value)))
    B.data[pos] = value
    return B


def _ones_fn(Xb):
    return np.ones(Xb.shape)


# ---- (id, call, expected exception, message regex) ---------------------------------------------------

CASES = []


def case(name, call, exc=ValueError, match=""):
    CASES.append(pytest.param(call, exc, match, id=name))


# ranking metrics: every function, every bad argument
for mname, fn in RANKING.items():
    case(f"{mname}-rec-bool", lambda fn=fn: fn(REC.astype(bool), Y, 2), TypeError, "recommended must be an integer")
    case(f"{mname}-rec-complex", lambda fn=fn: fn(REC.astype(complex), Y, 2), TypeError, "recommended .*complex")
    case(f"{mname}-rec-object", lambda fn=fn: fn(REC.astype(object), Y, 2), TypeError, "recommended .*object")
    case(f"{mname}-rec-string", lambda fn=fn: fn(REC.astype(str), Y, 2), TypeError, "recommended .*<U")
    case(f"{mname}-rec-1d", lambda fn=fn: fn(REC[0], Y, 2), ValueError, "recommended must be 2-D")
    case(f"{mname}-rec-rows-mismatch", lambda fn=fn: fn(REC[:2], Y, 2), ValueError, "2 rows but y_true has 3")
    case(f"{mname}-rec-id-too-large", lambda fn=fn: fn(REC + 5, Y, 2), ValueError, r"item id 8, outside \[0, 4\)")
    case(f"{mname}-rec-id-negative", lambda fn=fn: fn(REC - 3, Y, 2), ValueError, r"item id -3, outside")
    case(f"{mname}-rec-repeated-item", lambda fn=fn: fn(np.array([[0, 0], [1, 2], [2, 3]]), Y, 2), ValueError,
         "row 0 lists an item more than once")
    case(f"{mname}-scores-wrong-width", lambda fn=fn: fn(np.zeros((3, 5)), Y, 2), ValueError,
         "read as scores, but has 5 columns while y_true has 4")
    case(f"{mname}-y-nan", lambda fn=fn: fn(REC, _set(Y, np.nan), 2), ValueError, "y_true contains NaN")
    case(f"{mname}-y-inf", lambda fn=fn: fn(REC, _set(Y, -np.inf), 2), ValueError, "y_true contains NaN or infinite")
    case(f"{mname}-y-complex", lambda fn=fn: fn(REC, Y.astype(complex), 2), TypeError, "y_true must hold numbers")
    case(f"{mname}-y-object", lambda fn=fn: fn(REC, Y.toarray().astype(object), 2), TypeError, "y_true must hold numbers")
    case(f"{mname}-y-string", lambda fn=fn: fn(REC, Y.toarray().astype(str), 2), TypeError, "y_true must hold numbers")
    case(f"{mname}-y-1d", lambda fn=fn: fn(REC, np.ones(4), 2), ValueError, "y_true must be a 2-D")
    case(f"{mname}-k-0", lambda fn=fn: fn(REC, Y, 0), ValueError, "k must be >= 1")
    case(f"{mname}-k-negative", lambda fn=fn: fn(REC, Y, -2), ValueError, "k must be >= 1")
    case(f"{mname}-k-float", lambda fn=fn: fn(REC, Y, 2.0), TypeError, "k must be an integer")
    case(f"{mname}-k-bool", lambda fn=fn: fn(REC, Y, True), TypeError, "k must be an integer")
    case(f"{mname}-k-over-list", lambda fn=fn: fn(REC, Y, 3), ValueError, "2 columns, fewer than k = 3")

case("rmse-complex", lambda: M.rmse([1 + 1j, 2], [1, 2]), TypeError, "y_true must hold real numbers")
case("rmse-string", lambda: M.rmse(["4", "5"], [1, 2]), TypeError, "y_true must hold real numbers")
case("rmse-object", lambda: M.rmse([1, 2], np.array([None, 1], dtype=object)), TypeError, "y_pred must hold real")
case("rmse-bool", lambda: M.rmse([True, False], [1, 0]), TypeError, "y_true must hold real numbers")
case("mae-nan", lambda: M.mae([1, 2], [np.nan, 2]), ValueError, "y_pred contains NaN")
case("mae-inf", lambda: M.mae([np.inf, 2], [1, 2]), ValueError, "y_true contains NaN or infinite")
case("mae-length-mismatch", lambda: M.mae([1, 2, 3], [1, 2]), ValueError, "3 entries but y_pred has 2")
case("mae-empty", lambda: M.mae([], []), ValueError, "empty")
case("coverage-n_items-0", lambda: M.coverage(REC, 0), ValueError, "n_items must be >= 1")
case("coverage-n_items-bool", lambda: M.coverage(REC, True), TypeError, "n_items must be an integer")
case("coverage-n_items-float", lambda: M.coverage(REC, 4.0), TypeError, "n_items must be an integer")
case("coverage-k-0", lambda: M.coverage(REC, 4, k=0), ValueError, "k must be >= 1")
case("coverage-id-below-padding", lambda: M.coverage(REC - 5, 4), ValueError, r"item id -5, outside \[0, 4\)")
case("coverage-id-too-large", lambda: M.coverage(REC + 2, 4), ValueError, r"item id 5, outside")
case("coverage-float-ids", lambda: M.coverage(REC.astype(float), 4), TypeError, "integer array")
case("coverage-1d", lambda: M.coverage(REC[0], 4), ValueError, "2-D")
case("evaluate-ks-empty", lambda: M.evaluate_rankings(REC, Y, ks=()), ValueError, "ks is empty")
case("evaluate-ks-0", lambda: M.evaluate_rankings(REC, Y, ks=(0, 1)), ValueError, "ks must be >= 1")
case("evaluate-ks-none", lambda: M.evaluate_rankings(REC, Y, ks=None), TypeError, "ks must be an integer or an iterable")
case("evaluate-ks-string", lambda: M.evaluate_rankings(REC, Y, ks="12"), TypeError, "ks must be an integer or an iterable")
case("evaluate-ks-over-list", lambda: M.evaluate_rankings(REC, Y, ks=(1, 3)), ValueError, "fewer than k = 3")
case("evaluate-rows-mismatch", lambda: M.evaluate_rankings(REC[:1], Y, ks=1), ValueError, "1 rows but y_true has 3")
case("s2r-k-0", lambda: M.scores_to_recommendations(_ones_fn, Y, 0), ValueError, "k must be >= 1")
case("s2r-batch-0", lambda: M.scores_to_recommendations(_ones_fn, Y, 1, batch_size=0), ValueError, "batch_size must be >= 1")
case("s2r-batch-float", lambda: M.scores_to_recommendations(_ones_fn, Y, 1, batch_size=2.5), TypeError, "batch_size must be an integer")
case("s2r-history-nan", lambda: M.scores_to_recommendations(_ones_fn, _set(Y, np.nan), 1), ValueError,
     "X_history contains NaN")
case("s2r-history-inf", lambda: M.scores_to_recommendations(_ones_fn, _set(Y, np.inf), 1), ValueError,
     "X_history contains NaN or infinite")
case("s2r-history-complex", lambda: M.scores_to_recommendations(_ones_fn, Y.astype(complex), 1), TypeError,
     "X_history must hold real numbers")
case("s2r-history-string", lambda: M.scores_to_recommendations(_ones_fn, np.eye(2).astype(str), 1), TypeError,
     "X_history must hold real numbers")
case("s2r-history-1d", lambda: M.scores_to_recommendations(_ones_fn, np.ones(3), 1), ValueError, "X_history must be 2-D")
case("s2r-scores-complex", lambda: M.scores_to_recommendations(lambda Xb: np.ones(Xb.shape, complex), Y, 1), TypeError,
     "score_fn must return real scores")
case("s2r-scores-object", lambda: M.scores_to_recommendations(lambda Xb: np.ones(Xb.shape, object), Y, 1), TypeError,
     "score_fn must return real scores")
case("s2r-scores-wrong-shape", lambda: M.scores_to_recommendations(lambda Xb: np.ones((1, 9)), Y, 1), ValueError,
     "score_fn returned shape")
case("s2r-candidates-out-of-range", lambda: M.scores_to_recommendations(_ones_fn, Y, 1, candidates=[7]), ValueError,
     r"candidates must be item ids in \[0, 4\)")
case("s2r-candidates-float", lambda: M.scores_to_recommendations(_ones_fn, Y, 1, candidates=[0.5]), TypeError,
     "candidates must be a 1-D array of integer")
case("s2r-n_threads-0", lambda: M.scores_to_recommendations(_ones_fn, Y, 1, n_threads=0), ValueError, "n_threads")
case("s2r-not-callable", lambda: M.scores_to_recommendations("f", Y, 1), TypeError, "score_fn must be callable")

# splitters
U20, I20 = np.repeat(np.arange(8), 5), np.tile(np.arange(5), 8)
for sname, split in (("random_rating_split", lambda X, **kw: MS.random_rating_split(X, 0.2, **kw)),
                     ("holdout_ratings", lambda X, **kw: MS.holdout_ratings(X, 0.2, **kw))):
    case(f"{sname}-nan", lambda split=split: split(_set(X_RATINGS, np.nan)), ValueError, "X contains NaN")
    case(f"{sname}-inf", lambda split=split: split(_set(X_RATINGS, np.inf)), ValueError, "X contains NaN or infinite")
    case(f"{sname}-complex", lambda split=split: split(X_RATINGS.astype(complex)), TypeError, "X must hold real numbers")
    case(f"{sname}-object", lambda split=split: split(np.eye(3).astype(object)), TypeError, "X must hold real numbers")
    case(f"{sname}-string", lambda split=split: split(np.eye(3).astype(str)), TypeError, "X must hold real numbers")
    case(f"{sname}-1d", lambda split=split: split(np.ones(4)), ValueError, "X must be 2-D")
    case(f"{sname}-seed-float", lambda split=split: split(X_RATINGS, random_state=1.5), TypeError, "random_state must be")
for bad in (0.0, 1.0, -0.5, 1.5, float("nan"), float("inf")):
    case(f"random_rating_split-test_size-{bad}", lambda bad=bad: MS.random_rating_split(X_RATINGS, bad), ValueError, "test_size")
    case(f"holdout_ratings-fraction-{bad}", lambda bad=bad: MS.holdout_ratings(X_RATINGS, bad), ValueError, "fraction")
case("random_rating_split-test_size-too-many", lambda: MS.random_rating_split(Y, 5), ValueError, "test_size must be <= 4")
case("random_rating_split-test_size-bool", lambda: MS.random_rating_split(Y, True), TypeError, "test_size must be a real")
case("holdout_ratings-fraction-string", lambda: MS.holdout_ratings(Y, "0.1"), TypeError, "fraction must be a real")
SG = MS.strong_generalization_split
case("strong-ids-length-mismatch", lambda: SG(U20, I20[:-1], n_heldout_users=1), ValueError, "same length")
case("strong-ids-2d", lambda: SG(U20.reshape(5, 8), I20.reshape(5, 8), n_heldout_users=1), ValueError, "1-D")
case("strong-users-nan", lambda: SG(np.where(U20 == 3, np.nan, U20), I20, n_heldout_users=1), ValueError,
     "users contains NaN or infinite ids")
case("strong-items-inf", lambda: SG(U20, np.where(I20 == 2, np.inf, I20), n_heldout_users=1), ValueError,
     "items contains NaN or infinite ids")
case("strong-users-complex", lambda: SG(U20.astype(complex), I20, n_heldout_users=1), TypeError, "users must be integer or string ids")
case("strong-users-mixed-object", lambda: SG(np.array([1, "a"] * 20, dtype=object), I20, n_heldout_users=1), TypeError,
     "users must be ids of one sortable kind")
case("strong-ratings-nan", lambda: SG(U20, I20, np.full(40, np.nan), n_heldout_users=1), ValueError, "ratings contains NaN")
case("strong-ratings-inf", lambda: SG(U20, I20, np.full(40, np.inf), n_heldout_users=1), ValueError,
     "ratings contains NaN or infinite")
case("strong-ratings-complex", lambda: SG(U20, I20, np.full(40, 4 + 1j), n_heldout_users=1), TypeError,
     "ratings must be real numbers")
case("strong-ratings-string", lambda: SG(U20, I20, np.full(40, "5"), n_heldout_users=1), TypeError, "ratings must be real")
case("strong-ratings-length", lambda: SG(U20, I20, np.ones(39), n_heldout_users=1), ValueError, "ratings has shape")
case("strong-heldout-negative", lambda: SG(U20, I20, n_heldout_users=-1), ValueError, "n_heldout_users must be >= 0")
case("strong-heldout-float", lambda: SG(U20, I20, n_heldout_users=1.5), TypeError, "n_heldout_users must be an integer")
case("strong-heldout-too-many", lambda: SG(U20, I20, n_heldout_users=4), ValueError, "8 users remain")
case("strong-empty", lambda: SG([], [], n_heldout_users=0), ValueError, "0 users remain")
case("strong-test_prop", lambda: SG(U20, I20, n_heldout_users=1, test_prop=1.5), ValueError, "test_prop must be <= 1")
case("strong-threshold-nan", lambda: SG(U20, I20, np.ones(40), n_heldout_users=1, threshold=np.nan), ValueError,
     "threshold must be finite")
case("strong-seed-negative", lambda: SG(U20, I20, n_heldout_users=1, seed=-1), ValueError, "seed must be >= 0")
case("strong-min_user_count-bool", lambda: SG(U20, I20, n_heldout_users=1, min_user_count=True), TypeError,
     "min_user_count must be an integer")

# the id mapper
FITTED = IdMapper().fit(([1, 2], [10, 20]))
case("idmapper-user-nan", lambda: IdMapper().fit(([1.0, np.nan], [1, 2])), ValueError, "user ids contain NaN")
case("idmapper-item-inf", lambda: IdMapper().fit(([1, 2], [1.0, np.inf])), ValueError, "item ids contain NaN or infinite")
case("idmapper-user-complex", lambda: IdMapper().fit(([1 + 1j], [1])), TypeError, "user ids must be integers or strings")
case("idmapper-item-bool", lambda: IdMapper().fit(([1, 2], [True, False])), TypeError, "item ids must be integers or strings")
case("idmapper-rating-nan", lambda: IdMapper(rating_col="r").fit_transform({"user": [1], "item": [1], "r": [np.nan]}),
     ValueError, "ratings contain NaN")
case("idmapper-rating-inf", lambda: IdMapper(rating_col="r").fit_transform({"user": [1], "item": [1], "r": [np.inf]}),
     ValueError, "ratings contain NaN or infinite")
case("idmapper-rating-complex", lambda: IdMapper().fit_transform(([1], [1], [1j])), TypeError, "ratings must be real numbers")
case("idmapper-rating-bool", lambda: IdMapper().fit_transform(([1], [1], [True])), TypeError, "ratings must be real numbers")
case("idmapper-rating-object", lambda: IdMapper().fit_transform(([1], [1], np.array([1], dtype=object))), TypeError,
     "ratings must be real numbers")
case("idmapper-rating-string", lambda: IdMapper().fit_transform(([1], [1], ["5"])), TypeError, "ratings must be real")
case("idmapper-length-mismatch", lambda: IdMapper().fit(([1, 2], [1])), ValueError, "items must be 1-D with 2 entries")
case("idmapper-2d-ids", lambda: IdMapper().fit((np.ones((2, 2)), np.ones((2, 2)))), ValueError, "users must be 1-D")
case("idmapper-tuple-of-4", lambda: IdMapper().fit(([1], [1], [1], [1])), ValueError, r"\(users, items\)")
case("idmapper-missing-column", lambda: IdMapper().fit({"u": [1], "item": [1]}), ValueError, "columns 'user' and 'item'")
case("idmapper-data-none", lambda: IdMapper().fit(None), ValueError, "data must be a DataFrame or mapping")
case("idmapper-empty", lambda: IdMapper().fit(([], [])), ValueError, "no records")
case("idmapper-duplicates-param", lambda: IdMapper(duplicates="max").fit_transform(([1], [1])), ValueError,
     "duplicates must be one of")
case("idmapper-unknown-param", lambda: IdMapper(unknown="drop").fit(([1], [1])), ValueError, "unknown must be one of")
case("idmapper-dtype-param", lambda: IdMapper(dtype=np.int32).fit(([1], [1])), TypeError, "dtype must be float32 or float64")
case("idmapper-duplicate-records", lambda: IdMapper().fit_transform(([1, 1], [2, 2])), ValueError, "1 duplicate")
case("idmapper-not-fitted", lambda: IdMapper().transform(([1], [1])), ValueError, "not fitted")
case("idmapper-unknown-item", lambda: FITTED.transform(([3], [99])), ValueError, "never seen in fit")
case("idmapper-unknown-item-other-kind", lambda: FITTED.transform((["a"], ["x"])), ValueError, "never seen in fit")
case("idmapper-unknown-user", lambda: FITTED.transform_users(([7], [10])), ValueError, "users never seen")
case("idmapper-item_ids-float", lambda: FITTED.item_ids(np.array([0.5])), TypeError, "indices must be integer")
case("idmapper-item_ids-bool", lambda: FITTED.item_ids(np.array([True, False])), TypeError, "indices must be integer")
case("idmapper-item_ids-out-of-range", lambda: FITTED.item_ids(np.array([2])), ValueError, r"in \[-1, 2\)")
case("idmapper-item_ids-below-padding", lambda: FITTED.item_ids(np.array([-2])), ValueError, r"in \[-1, 2\)")

# triples_to_csr (the datasets' matrix builder)
case("triples-nan-value", lambda: triples_to_csr([0], [0], [np.nan]), ValueError, "values contains NaN")
case("triples-negative-id", lambda: triples_to_csr([-1], [0]), ValueError, "users contains a negative id")
case("triples-float-ids", lambda: triples_to_csr([0.5], [0]), TypeError, "users must be integer ids")
case("triples-length-mismatch", lambda: triples_to_csr([0, 1], [0]), ValueError, "users has 2 entries but items has 1")
case("triples-id-outside-shape", lambda: triples_to_csr([0], [5], shape=(1, 3)), ValueError, "item id 5 does not fit")

# the synthetic data generator
case("synthetic-shape-name", lambda: make_synthetic("netflix-2"), ValueError, "unknown shape")
case("synthetic-shape-length", lambda: make_synthetic((10, 30)), ValueError, r"\(n_users, n_items, n_interactions\)")
case("synthetic-shape-float", lambda: make_synthetic((10, 30, 55.5)), TypeError, "n_interactions must be an integer")
case("synthetic-one-item", lambda: make_synthetic((10, 1, 50)), ValueError, "n_items >= 2")
case("synthetic-affinity", lambda: make_synthetic((10, 30, 50), cluster_affinity=1.5), ValueError, "cluster_affinity")
case("synthetic-exponent-nan", lambda: make_synthetic((10, 30, 50), popularity_exponent=np.nan), ValueError,
     "popularity_exponent must be finite")
case("synthetic-clusters", lambda: make_synthetic((10, 30, 50), n_clusters=31), ValueError, "n_clusters must be <= 30")
case("synthetic-dtype", lambda: make_synthetic((10, 30, 50), dtype=np.int32), TypeError, "dtype must be float32 or float64")

# model files
case("load-none", lambda: aerec.load(None), TypeError, "path must be a file path")
case("load-int-is-not-a-file-descriptor", lambda: aerec.load(0), TypeError, "path must be a file path")
case("load-directory", lambda: aerec.load("/"), ModelFileError, "not a readable aerec model file")
case("load-this-test-file", lambda: aerec.load(__file__), ModelFileError, "not an aerec model file \\(those are .npz")
case("save-unfitted", lambda: aerec.EASE().save("unused.npz"), ValueError, "not fitted")
case("save-path-none", lambda: aerec.Popularity().fit(Y).save(None), TypeError, "path must be a file path")
case("save-path-int", lambda: aerec.Popularity().fit(Y).save(3), TypeError, "path must be a file path")


@pytest.mark.parametrize("call, exc, match", CASES)
def test_bad_input_is_named(call, exc, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a cast that only warns (e.g. ComplexWarning) would be a silent wrong answer
        with pytest.raises(exc, match=match):
            call()


# ---- estimators: what BAD_FIT in test_robustness.py does not cover ---------------------------------

ESTIMATORS = {
    "EASE": lambda: aerec.EASE(l2=10.0),
    "Popularity": aerec.Popularity,
    "MultVAE": lambda: aerec.MultVAE(hidden_dims=(8,), n_components=4, n_epochs=1, batch_size=16, random_state=0),
    "MultDAE": lambda: aerec.MultDAE(n_components=4, n_epochs=1, batch_size=16, random_state=0),
    "AutoRec-item": lambda: aerec.AutoRec(item_based=True, n_components=4, n_epochs=1, random_state=0),
    "AutoRec-user": lambda: aerec.AutoRec(item_based=False, n_components=4, n_epochs=1, random_state=0),
    "DeepAutoencoder": lambda: aerec.DeepAutoencoder(hidden_dims=(8, 4), n_epochs=1, batch_size=16, random_state=0),
}
RATING_MODELS = {"AutoRec-item", "AutoRec-user", "DeepAutoencoder"}
_FITTED = {}


def _fitted(name):
    if name not in _FITTED:
        _FITTED[name] = ESTIMATORS[name]().fit(X_RATINGS if name in RATING_MODELS else X_IMPLICIT)
    return _FITTED[name]


def _data(name):
    return X_RATINGS if name in RATING_MODELS else X_IMPLICIT


FIT_CASES = {
    "nan": (lambda X: _set(X, np.nan), ValueError, "NaN"),
    "inf": (lambda X: _set(X, np.inf), ValueError, "infinit"),
    "minus-inf": (lambda X: _set(X, -np.inf), ValueError, "infinit"),
    "complex": (lambda X: X.astype(np.complex64), (TypeError, ValueError), "omplex"),
    "object": (lambda X: np.array([["a", "b"]], dtype=object), ValueError, "could not convert|string"),
    "string": (lambda X: np.array([["a", "b"]]), ValueError, "could not convert|string"),
    "empty": (lambda X: sp.csr_array((0, X.shape[1]), dtype=np.float32), ValueError, "sample"),
    "no-items": (lambda X: sp.csr_array((X.shape[0], 0), dtype=np.float32), ValueError, "feature"),
    "one-dim": (lambda X: np.ones(5), ValueError, "2D"),
    "three-dim": (lambda X: np.ones((2, 2, 2)), ValueError, "dim"),
}


@pytest.mark.parametrize("case_name", list(FIT_CASES))
@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_bad_fit_input_every_estimator(name, case_name):
    make, exc, match = FIT_CASES[case_name]
    with pytest.raises(exc, match=match):
        ESTIMATORS[name]().fit(make(_data(name)))


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_sign_and_dtype_rules(name):
    """Documented rules: implicit models refuse negative values and read bool as interactions;
    rating models take any finite real rating (negative ones included)."""
    X = _data(name)
    neg = X.copy()
    neg.data[:5] = -1.0
    if name in RATING_MODELS:
        ESTIMATORS[name]().fit(neg)
    else:
        with pytest.raises(ValueError, match="Negative values"):
            ESTIMATORS[name]().fit(neg)
        a = ESTIMATORS[name]().fit(X.astype(bool)).recommend(X[:5], k=3)[0]
        b = ESTIMATORS[name]().fit(X).recommend(X[:5], k=3)[0]
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_bad_predict_and_recommend_every_estimator(name):
    model, X = _fitted(name), _data(name)
    rows = X if name == "AutoRec-item" else X[:7]  # item-based AutoRec predicts for its training users
    n_items = X.shape[1]
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :n_items - 1])
    with pytest.raises(ValueError, match="features"):
        model.recommend(sp.hstack([X, X]).tocsr(), k=2)
    for k in (0, -1):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            model.recommend(rows, k=k)
    for k in (2.0, True, "3"):
        with pytest.raises(ValueError, match="k must be a positive integer"):
            model.recommend(rows, k=k)
    for bs, exc in ((0, ValueError), (-1, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(exc, match="batch_size"):
            model.recommend(rows, k=2, batch_size=bs)
    with pytest.raises(ValueError, match="items must be indices"):
        model.recommend(rows, k=2, items=[n_items])
    with pytest.raises(ValueError, match="items must be indices"):
        model.recommend(rows, k=2, items=[-1])
    with pytest.raises(TypeError, match="items must be a 1-D array of integer"):
        model.recommend(rows, k=2, items=[0.5])
    with pytest.raises(ValueError, match="NaN"):
        model.recommend(_set(rows, np.nan), k=2)
    with pytest.raises(ValueError, match="NaN|infinit"):
        model.predict(_set(rows, np.inf))
    with pytest.raises(ValueError, match="y has shape"):
        model.score(rows, rows[:, :n_items - 1] if name != "AutoRec-item" else sp.csr_array((3, n_items)))
    # k above the catalogue is padded with -1 / -inf (documented), every real item listed once
    idx, val = model.recommend(rows, k=n_items + 5, exclude_seen=False)
    assert idx.shape == (rows.shape[0], n_items + 5)
    assert (idx[:, n_items:] == -1).all() and np.isneginf(val[:, n_items:]).all()
    assert all(sorted(r[r >= 0]) == list(range(n_items)) for r in idx)
    # a batch size larger than the data is one batch
    np.testing.assert_array_equal(model.recommend(rows, k=3, batch_size=10**6)[0], model.recommend(rows, k=3)[0])


def test_recommend_refuses_a_huge_k_with_the_size(monkeypatch):
    import aerec.models._base as base

    model = _fitted("EASE")
    with pytest.raises(MemoryError, match=r"recommend would need .*GiB.*smaller k"):
        model.recommend(X_IMPLICIT, k=10**12)
    monkeypatch.setattr(base, "DEFAULT_MAX_DENSE_BYTES", 60 * 21 * 8 - 1)  # just below 60 rows × 21 int64
    with pytest.raises(MemoryError, match="AEREC_MAX_DENSE_BYTES"):
        model.recommend(X_IMPLICIT, k=21)  # one more than the 20 items
    assert model.recommend(X_IMPLICIT, k=20)[0].shape == (60, 20)  # up to the catalogue: never refused here


def test_one_user_one_item_and_a_full_row():
    one = sp.csr_array(np.ones((1, 1), dtype=np.float32))
    for name in ("EASE", "Popularity", "MultDAE"):
        model = ESTIMATORS[name]().fit(one)
        idx, val = model.recommend(one, k=3)
        np.testing.assert_array_equal(idx, [[-1, -1, -1]])  # the only item is seen: all padding
    full = sp.csr_array(np.ones((3, 20), dtype=np.float32))
    for name in ("EASE", "MultVAE", "Popularity"):
        idx, _ = _fitted(name).recommend(full, k=4)
        assert (idx == -1).all()
    r = M.ndcg_at_k(np.array([[0]]), sp.csr_array(np.ones((1, 1))), 1)
    np.testing.assert_array_equal(r, [1.0])
    train, test = MS.random_rating_split(sp.csr_array(np.ones((1, 1))), 0.5)
    assert train.nnz == 0 and test.nnz == 1


def test_documented_rules_for_metrics_and_splitters():
    # empty inputs: empty results (metrics) or empty parts (splitters)
    assert M.ndcg_at_k(np.zeros((0, 2), dtype=int), sp.csr_array((0, 4)), 2).shape == (0,)
    tr, te = MS.random_rating_split(sp.csr_array((0, 3)), 0.5)
    assert tr.shape == te.shape == (0, 3) and tr.nnz == te.nnz == 0
    # k larger than the catalogue, with a score matrix: ranked lists padded with -1, never a hit
    np.testing.assert_allclose(M.recall_at_k(np.array([[0.0, 1.0, 0.5, 0.2]] * 3), Y, 9), [1.0, 1.0, 1.0])
    idx, val = M.scores_to_recommendations(_ones_fn, Y, 9)
    assert idx.shape == (3, 9) and (idx[:, 4:] == -1).all() and np.isneginf(val[:, 4:]).all()
    # NaN scores are never recommended; bool relevance is positive relevance
    idx, _ = M.scores_to_recommendations(lambda Xb: np.full(Xb.shape, np.nan), Y, 2)
    assert (idx == -1).all()
    np.testing.assert_array_equal(M.ndcg_at_k(REC, Y.astype(bool), 2), M.ndcg_at_k(REC, Y, 2))
    # unknown ids with unknown='ignore': dropped with a warning that gives the count
    lenient = IdMapper(unknown="ignore").fit(([1, 2], [10, 20]))
    with pytest.warns(UserWarning, match="dropped 1"):
        X, users = lenient.transform(([5, 5], [10, 99]))
    np.testing.assert_array_equal(X.toarray(), [[1, 0]])


# ---- malformed CSR everywhere, in a child process ----------------------------------------------------

MALFORMED = {
    "index-out-of-range": ("indices", 1, 10**6),
    "negative-index": ("indices", 1, -5),
    "indptr-past-nnz": ("indptr", 2, 10**6),
    "indptr-decreasing": ("indptr", 2, 0),
    "indptr-negative": ("indptr", 1, -3),
    "indptr-end-not-nnz": ("indptr", -1, 1),
}
TARGETS = ["ndcg_at_k", "recall_at_k", "truncated_recall_at_k", "precision_at_k", "map_at_k", "evaluate_rankings",
           "scores_to_recommendations", "random_rating_split", "holdout_ratings", "EASE.fit", "Popularity.fit",
           "MultDAE.fit", "AutoRec.fit", "DeepAutoencoder.fit", "EASE.recommend", "EASE.predict", "EASE.score-y",
           "MultVAE.transform", "AutoRec.recommend", "fit-y"]

_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np, scipy.sparse as sp, aerec
    from aerec import metrics as M, model_selection as MS
    from aerec.datasets import make_synthetic
    X = make_synthetic((40, 30, 400), random_state=0)
    R = make_synthetic((40, 30, 400), explicit=True, random_state=0)
    ease = aerec.EASE(l2=5.0).fit(X)
    vae = aerec.MultVAE(hidden_dims=(4,), n_components=2, n_epochs=1, batch_size=16, random_state=0).fit(X)
    ar = aerec.AutoRec(item_based=False, n_components=2, n_epochs=1, random_state=0).fit(R)
    rec = np.tile(np.arange(3), (40, 1))
    small = dict(n_epochs=1, random_state=0)
    calls = {
        "ndcg_at_k": lambda B: M.ndcg_at_k(rec, B, 3), "recall_at_k": lambda B: M.recall_at_k(rec, B, 3),
        "truncated_recall_at_k": lambda B: M.truncated_recall_at_k(rec, B, 3),
        "precision_at_k": lambda B: M.precision_at_k(rec, B, 3), "map_at_k": lambda B: M.map_at_k(rec, B, 3),
        "evaluate_rankings": lambda B: M.evaluate_rankings(rec, B, ks=3),
        "scores_to_recommendations": lambda B: M.scores_to_recommendations(lambda b: np.ones(b.shape), B, 3),
        "random_rating_split": lambda B: MS.random_rating_split(B, 0.2),
        "holdout_ratings": lambda B: MS.holdout_ratings(B, 0.2),
        "EASE.fit": lambda B: aerec.EASE(l2=5.0).fit(B), "Popularity.fit": lambda B: aerec.Popularity().fit(B),
        "MultDAE.fit": lambda B: aerec.MultDAE(n_components=2, batch_size=16, **small).fit(B),
        "AutoRec.fit": lambda B: aerec.AutoRec(n_components=2, **small).fit(B),
        "DeepAutoencoder.fit": lambda B: aerec.DeepAutoencoder(hidden_dims=(4,), **small).fit(B),
        "EASE.recommend": lambda B: ease.recommend(B, k=3), "EASE.predict": lambda B: ease.predict(B),
        "EASE.score-y": lambda B: ease.score(X, B), "MultVAE.transform": lambda B: vae.transform(B),
        "AutoRec.recommend": lambda B: ar.recommend(B, k=3),
        "fit-y": lambda B: aerec.EASE(l2=5.0).fit(X, B),
    }
    for target in json.loads(sys.argv[1]):
        for case, (field, pos, value) in json.loads(sys.argv[2]).items():
            B = (R if "AutoRec" in target or "Deep" in target else X).copy()
            arr = getattr(B, field).copy(); arr[pos] = value; setattr(B, field, arr)
            print("START", target, case, flush=True)
            try:
                calls[target](B)
                outcome = "returned"
            except (ValueError, TypeError) as exc:
                outcome = type(exc).__name__ + ": " + str(exc)
            except Exception as exc:  # anything else is a finding, reported, not a pass
                outcome = "UNEXPECTED " + type(exc).__name__ + ": " + str(exc)
            import gc; gc.collect()  # memory corrupted by SciPy shows up here, not later
            print("RESULT", target, case, json.dumps(outcome), flush=True)
    print("DONE", flush=True)
""")


@pytest.fixture(scope="module")
def malformed_results():
    out = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(TARGETS), json.dumps(MALFORMED)],
                         capture_output=True, text=True, timeout=300)
    lines = out.stdout.splitlines()
    results = {}
    for line in lines:
        if line.startswith("RESULT "):
            _, target, name, outcome = line.split(" ", 3)
            results[(target, name)] = json.loads(outcome)
    last = next((ln for ln in reversed(lines) if ln.startswith("START ")), "")
    crashed = None if lines and lines[-1] == "DONE" else f"exit {out.returncode} during {last!r}: {out.stderr[-1500:]}"
    return results, crashed


@pytest.mark.parametrize("case_name", list(MALFORMED))
@pytest.mark.parametrize("target", TARGETS)
def test_malformed_csr_in_a_subprocess(malformed_results, target, case_name):
    results, crashed = malformed_results
    outcome = results.get((target, case_name))
    assert outcome is not None, f"the child process died before this case: {crashed}"
    assert outcome.startswith("ValueError: "), outcome
    assert any(w in outcome for w in ("indptr", "index", "indices", "out of range")), outcome


@pytest.mark.parametrize("layout", ["unsorted", "duplicates"])
def test_non_canonical_csr_is_summed_and_sorted(layout):
    """Documented rule: a non-canonical sparse input (unsorted or repeated column indices) means what
    SciPy says it means — repeated entries are summed — so the result equals the canonical input's."""
    X = X_IMPLICIT[:10].copy()
    canon = X.copy()
    lo, hi = X.indptr[1], X.indptr[2]  # row 1
    if layout == "unsorted":
        X.indices[lo:hi] = X.indices[lo:hi][::-1].copy()
        X.data[lo:hi] = X.data[lo:hi][::-1].copy()
    else:
        X.indices[lo + 1] = X.indices[lo]  # the second item of row 1 now repeats the first
        canon = X.copy()
        canon.sum_duplicates()
    assert not X.has_canonical_format
    rec = np.tile(np.arange(3), (10, 1))
    np.testing.assert_array_equal(M.ndcg_at_k(rec, X, 3), M.ndcg_at_k(rec, canon, 3))
    np.testing.assert_array_equal(M.scores_to_recommendations(_ones_fn, X, 3)[0],
                                  M.scores_to_recommendations(_ones_fn, canon, 3)[0])
    for name in ("EASE", "MultDAE"):
        model = _fitted(name)
        np.testing.assert_array_equal(model.recommend(X, k=3)[0], model.recommend(canon, k=3)[0])
    a, b = MS.random_rating_split(X, 0.3, random_state=0), MS.random_rating_split(canon, 0.3, random_state=0)
    assert (a.train != b.train).nnz == 0 and (a.test != b.test).nnz == 0


# ---- dataset readers on malformed files ---------------------------------------------------------------

def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


_GOOD = "1\t10\t4\n2\t20\t5\n"
FILE_CASES = {
    "binary": b"\x00\xff\xfe\x80garbage\x00\x01",
    "latin1": "1\t10\t4\n2\t20\t5\n\xe9t\xe9\t1\t2\n".encode("latin-1"),
    "not-gzip.gz": _GOOD,
    "not-xz.xz": _GOOD,
    "not-bz2.bz2": _GOOD,
    "truncated.gz": gzip.compress((_GOOD * 200).encode())[:-30],
    "truncated.xz": lzma.compress((_GOOD * 200).encode())[:-30],
    "truncated.bz2": bz2.compress((_GOOD * 200).encode())[:-30],
    "nan-rating": "1\t10\tnan\n",
    "text-id": "1\tabc\t4\n",
}


READERS = ["read_rating_triples", "load_movielens", "load_netflix_prize", "load_gowalla", "load_ml1m", "load_monti"]
# load_gowalla and load_monti read fixed, uncompressed file names; Gowalla files hold no ratings
READER_CASES = [(r, c) for r in READERS for c in FILE_CASES
                if not (r in ("load_gowalla", "load_monti") and c.endswith((".gz", ".xz", ".bz2")))
                and not (r == "load_gowalla" and c == "nan-rating")]


@pytest.mark.parametrize("reader, case_name", READER_CASES)
def test_readers_on_malformed_files(tmp_path, reader, case_name):
    data = FILE_CASES[case_name]
    suffix = next((s for s in (".gz", ".xz", ".bz2") if case_name.endswith(s)), "")
    if reader == "read_rating_triples":
        f = _write(tmp_path / f"r.tsv{suffix}", data)
        call = lambda: read_rating_triples(f)  # noqa: E731
    elif reader == "load_movielens":
        f = _write(tmp_path / f"u.data{suffix}", data)
        call = lambda: load_movielens(f)  # noqa: E731
    elif reader == "load_netflix_prize":
        if isinstance(data, str):  # the same mistake in the Prize layout: '<movie>:' then 'customer,rating,date'
            data = "1:\n" + "".join(f"{u},{r},2005-01-01\n" if i != "abc" else f"{i},{r},2005-01-01\n"
                                    for u, i, r in (line.split("\t") for line in data.splitlines()))
        f = _write(tmp_path / f"mv_0000001.txt{suffix}", data)
        call = lambda: load_netflix_prize(tmp_path)  # noqa: E731
    elif reader == "load_gowalla":
        f = _write(tmp_path / "train.txt", data)
        _write(tmp_path / "test.txt", "0 1\n")
        call = lambda: load_gowalla(tmp_path)  # noqa: E731
    elif reader == "load_ml1m":
        f = _write(tmp_path / f"ratings_uir.tsv{suffix}", data)
        call = lambda: load_ml1m(f)  # noqa: E731
    else:
        f = _write(tmp_path / "ratings_train.tsv", data)
        _write(tmp_path / "ratings_test.tsv", "0\t1\t3\n")
        call = lambda: load_monti(tmp_path)  # noqa: E731
    with pytest.raises(ValueError) as info:
        call()
    assert f.name in str(info.value), str(info.value)


# ---- the command line: exit code 2 and one 'aerec: error:' line, never a traceback --------------------

@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(0)
    pairs = {(f"u{u}", f"i{i}") for u in range(40) for i in rng.choice(25, 8)}
    _write(d / "ratings.tsv", "".join(f"{u}\t{i}\t{int(rng.integers(1, 6))}\n" for u, i in sorted(pairs)))
    _write(d / "history.tsv", "new\ti3\t5\nnew\ti4\t4\n")
    _write(d / "unknown.tsv", "new\tnope\t5\n")
    _write(d / "partly_unknown.tsv", "new\tnope\t5\nnew\ti3\t4\n")
    _write(d / "empty.tsv", "")
    _write(d / "header_only.csv", "user,item,rating\n")
    _write(d / "binary.tsv", b"\x00\xff\xfe\x80\x00")
    _write(d / "notgz.tsv.gz", "a\tb\t1\n")
    _write(d / "trunc.tsv.xz", lzma.compress(("a\tb\t4\n" * 500).encode())[:-40])
    _write(d / "ragged.tsv", "a\tb\t4\nc\td\n")
    _write(d / "nan.tsv", "a\tb\t4\nc\td\tnan\n")
    _write(d / "inf.tsv", "a\tb\t4\nc\td\tinf\n")
    _write(d / "text_rating.tsv", "a\tb\t4\nc\td\tgood\n")
    _write(d / "one_field.tsv", "a\nb\n")
    _write(d / "garbage.npz", b"PK\x03\x04 not really a zip")
    assert cli_main(["fit", str(d / "ratings.tsv"), "--model", "EASE", "--param", "l2=10.0", "--threshold", "2",
                     "--out", str(d / "ease.npz")]) == 0
    return d


def _cli(argv, capsys):
    try:
        rc = cli_main(argv)
    except SystemExit as exc:  # argparse
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


CLI_CASES = {
    "fit-missing-file": ["fit", "{d}/missing.tsv", "--out", "{d}/x.npz"],
    "fit-empty-file": ["fit", "{d}/empty.tsv", "--out", "{d}/x.npz"],
    "fit-header-only": ["fit", "{d}/header_only.csv", "--out", "{d}/x.npz"],
    "fit-binary-file": ["fit", "{d}/binary.tsv", "--out", "{d}/x.npz"],
    "fit-not-gzip": ["fit", "{d}/notgz.tsv.gz", "--out", "{d}/x.npz"],
    "fit-truncated-xz": ["fit", "{d}/trunc.tsv.xz", "--out", "{d}/x.npz"],
    "fit-ragged-lines": ["fit", "{d}/ragged.tsv", "--out", "{d}/x.npz"],
    "fit-nan-rating": ["fit", "{d}/nan.tsv", "--out", "{d}/x.npz"],
    "fit-inf-rating-explicit": ["fit", "{d}/inf.tsv", "--model", "AutoRec", "--out", "{d}/x.npz"],
    "fit-text-rating": ["fit", "{d}/text_rating.tsv", "--out", "{d}/x.npz"],
    "fit-one-field": ["fit", "{d}/one_field.tsv", "--out", "{d}/x.npz"],
    "fit-unknown-model": ["fit", "{d}/ratings.tsv", "--model", "NoSuchModel", "--out", "{d}/x.npz"],
    "fit-unknown-param": ["fit", "{d}/ratings.tsv", "--model", "EASE", "--param", "bogus=1", "--out", "{d}/x.npz"],
    "fit-param-not-key-value": ["fit", "{d}/ratings.tsv", "--param", "l2", "--out", "{d}/x.npz"],
    "fit-negative-l2": ["fit", "{d}/ratings.tsv", "--model", "EASE", "--param", "l2=-1", "--out", "{d}/x.npz"],
    "fit-dropout-1": ["fit", "{d}/ratings.tsv", "--model", "MultDAE", "--param", "dropout=1.0", "--out", "{d}/x.npz"],
    "fit-zero-width-layer": ["fit", "{d}/ratings.tsv", "--model", "MultVAE", "--param", "hidden_dims=(0,)",
                             "--out", "{d}/x.npz"],
    "fit-threshold-above-all": ["fit", "{d}/ratings.tsv", "--threshold", "9", "--out", "{d}/x.npz"],
    "fit-rating-model-without-ratings": ["fit", "{d}/one_field.tsv", "--model", "AutoRec", "--out", "{d}/x.npz"],
    "fit-out-in-missing-folder": ["fit", "{d}/ratings.tsv", "--model", "Popularity", "--out", "{d}/no/such/x.npz"],
    "fit-unknown-synthetic": ["fit", "synthetic:huge", "--out", "{d}/x.npz"],
    "fit-no-out": ["fit", "{d}/ratings.tsv"],
    "fit-bad-threshold": ["fit", "{d}/ratings.tsv", "--threshold", "high", "--out", "{d}/x.npz"],
    "recommend-k-0": ["recommend", "{d}/ease.npz", "{d}/history.tsv", "--k", "0"],
    "recommend-k-negative": ["recommend", "{d}/ease.npz", "{d}/history.tsv", "--k", "-4"],
    "recommend-k-text": ["recommend", "{d}/ease.npz", "{d}/history.tsv", "--k", "ten"],
    "recommend-k-float": ["recommend", "{d}/ease.npz", "{d}/history.tsv", "--k", "2.5"],
    "recommend-missing-model": ["recommend", "{d}/none.npz", "{d}/history.tsv"],
    "recommend-garbage-model": ["recommend", "{d}/garbage.npz", "{d}/history.tsv"],
    "recommend-history-as-model": ["recommend", "{d}/history.tsv", "{d}/history.tsv"],
    "recommend-missing-history": ["recommend", "{d}/ease.npz", "{d}/none.tsv"],
    "recommend-binary-history": ["recommend", "{d}/ease.npz", "{d}/binary.tsv"],
    "recommend-nan-history": ["recommend", "{d}/ease.npz", "{d}/nan.tsv"],
    "recommend-only-unknown-items": ["recommend", "{d}/ease.npz", "{d}/unknown.tsv"],
    "recommend-bad-format": ["recommend", "{d}/ease.npz", "{d}/history.tsv", "--format", "xml"],
    "recommend-out-in-missing-folder": ["recommend", "{d}/ease.npz", "{d}/history.tsv", "--out", "{d}/no/such/r.csv"],
    "evaluate-heldout-too-many": ["evaluate", "{d}/ratings.tsv", "--heldout", "500", "--models", "Popularity"],
    "evaluate-heldout-negative": ["evaluate", "{d}/ratings.tsv", "--heldout", "-1", "--models", "Popularity"],
    "evaluate-unknown-protocol": ["evaluate", "{d}/ratings.tsv", "--protocol", "e9"],
    "evaluate-unknown-model": ["evaluate", "{d}/ratings.tsv", "--heldout", "3", "--models", "Nope"],
    "evaluate-epochs-0": ["evaluate", "{d}/ratings.tsv", "--heldout", "3", "--models", "MultDAE", "--epochs", "0"],
    "evaluate-missing-file": ["evaluate", "{d}/missing.tsv"],
    "demo-heldout-above-1": ["--heldout", "1.5"],
    "demo-heldout-0": ["demo", "--heldout", "0"],
    "demo-heldout-nan": ["demo", "--heldout", "nan"],
    "demo-unknown-synthetic": ["--data", "synthetic:nope"],
    "unknown-command": ["frobnicate"],
    "bench-bad-size": ["bench", "--size", "huge"],
}


@pytest.mark.parametrize("case_name", list(CLI_CASES))
def test_cli_user_mistakes(cli_files, capsys, case_name):
    argv = [a.format(d=cli_files) for a in CLI_CASES[case_name]]
    rc, out, err = _cli(argv, capsys)
    assert rc == 2, (rc, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("aerec: error: "), err
    assert "Traceback" not in err


def test_cli_documented_rules(cli_files, capsys):
    d = cli_files
    # k above the catalogue: every eligible item once (a longer list would only be padding)
    rc, out, err = _cli(["recommend", f"{d}/ease.npz", f"{d}/history.tsv", "--k", "1000000000000", "--format", "json"],
                        capsys)
    assert rc == 0, err
    items = [r["item"] for r in json.loads(out)["new"]]
    assert len(items) == len(set(items)) == 25 - 2 and not {"i3", "i4"} & set(items)
    # unknown ids: dropped with a one-line warning giving the count; the user still gets a list
    rc, out, err = _cli(["recommend", f"{d}/ease.npz", f"{d}/partly_unknown.tsv", "--k", "3"], capsys)
    assert rc == 0 and err.strip().splitlines() == ["aerec: warning: dropped 1 records of items never seen in fit "
                                                    "(e.g. [np.str_('nope')])"], err
    assert out.splitlines()[0] == "user,rank,item,score" and len(out.splitlines()) == 4


def test_cli_entry_point_exit_codes(cli_files):
    """The real 'python -m aerec': exit code 2, one line on stderr, no traceback."""
    d = cli_files
    for argv in (["fit", f"{d}/binary.tsv", "--out", f"{d}/x.npz"],
                 ["recommend", f"{d}/ease.npz", f"{d}/history.tsv", "--k", "0"],
                 ["fit", f"{d}/ratings.tsv", "--model", "Nope", "--out", f"{d}/x.npz"]):
        out = subprocess.run([sys.executable, "-m", "aerec", *argv], capture_output=True, text=True, timeout=120)
        assert out.returncode == 2, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("aerec: error: "), out.stderr


def test_netflix_shape_dense_arrays_are_refused_up_front():
    """At the Netflix shape (463,435 users × 17,769 items) the dense arrays that would not fit are
    refused before anything is allocated, with the size and the alternative."""
    n_users, n_items = 463_435, 17_769
    one = sp.csr_array((np.ones(1, np.float32), np.array([3]), np.array([0, 1])), shape=(1, n_items))
    with pytest.raises(MemoryError, match=r"17,769 items needs two dense .* \(2\.35 GiB\).*float32.*max_memory"):
        aerec.EASE(max_memory=2 * 2**30).fit(one)
    model = aerec.Popularity().fit(one)
    everyone = sp.csr_array((n_users, n_items), dtype=np.float32)
    with pytest.raises(MemoryError, match=r"463,435 × 17,769 float32 array \(30\.7 GiB\).*recommend\(X, k\)"):
        model.predict(everyone)
    idx, _ = model.recommend(everyone[:2000], k=5)  # the batched alternative
    assert (idx[:, 0] == 3).all()


# ---- arrays passed together must match (bad hyperparameters, every estimator: models/test_common.py) -

def _nan_first(B):
    B = B.copy()
    B.data[0] = np.nan
    return B


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_arrays_passed_together_must_match(name):
    """fit(X, y) and fit(X, X_val=..., y_val=...): shapes that disagree are named, never broadcast."""
    X = _data(name)
    calls = [(lambda: ESTIMATORS[name]().fit(X, X[:, :10]), r"y has shape|y_val|shape"),
             (lambda: ESTIMATORS[name]().fit(X, X[:10]), r"y has shape|shape")]
    if name not in ("EASE", "Popularity"):
        calls += [(lambda: ESTIMATORS[name]().fit(X, X_val=X[:10, :10], y_val=X[:10, :10]), "X_val|y_val"),
                  (lambda: ESTIMATORS[name]().fit(X, X_val=X[:10], y_val=X[:11]), "X_val|y_val"),
                  (lambda: ESTIMATORS[name]().fit(X, X_val=X[:10]), "X_val|y_val"),
                  (lambda: ESTIMATORS[name]().fit(X, X_val=X[:10], y_val=_nan_first(X[:10])), "NaN")]
    for call, match in calls:
        with pytest.raises(ValueError, match=match):
            call()
