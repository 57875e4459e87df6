"""aerec.metrics against hand-worked examples, brute-force per-user formulas, scikit-learn and the
Mult-VAE reference code's metric functions."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import mean_absolute_error, mean_squared_error, ndcg_score

from aerec import metrics as M

RANKING = [M.ndcg_at_k, M.recall_at_k, M.truncated_recall_at_k, M.precision_at_k, M.map_at_k]


# ---- oracles ---------------------------------------------------------------------------------------


def rand_csr(shape, density, rng, dtype=np.float64):
    """Random canonical CSR with uniform (0.5, 1.5) values (NumPy only, any SciPy version)."""
    mask = rng.random(shape) < density
    return sp.csr_array(np.where(mask, rng.uniform(0.5, 1.5, shape), 0.0).astype(dtype))


def brute_force(rec_row, relevant, k, metric):
    """One user's metric from its definition, item by item."""
    relevant = set(relevant)
    n = len(relevant)
    if n == 0:
        return np.nan
    top = [int(i) for i in rec_row[:k]]
    hit = [i >= 0 and i in relevant for i in top]
    n_hits = sum(hit)
    if metric == "ndcg":
        dcg = sum(1.0 / np.log2(r + 2) for r, h in enumerate(hit) if h)
        return dcg / sum(1.0 / np.log2(r + 2) for r in range(min(n, k)))
    if metric == "recall":
        return n_hits / n
    if metric == "truncated_recall":
        return n_hits / min(k, n)
    if metric == "precision":
        return n_hits / k
    if metric == "map":
        ap, seen = 0.0, 0
        for r, h in enumerate(hit):
            if h:
                seen += 1
                ap += seen / (r + 1)
        return ap / min(k, n)
    raise AssertionError(metric)


def ref_ndcg_binary_at_k_batch(X_pred, heldout_batch, k=100):
    """NDCG_binary_at_k_batch of the Mult-VAE notebook (bn.argpartition -> np.argpartition)."""
    batch_users = X_pred.shape[0]
    idx_topk_part = np.argpartition(-X_pred, k, axis=1)
    topk_part = X_pred[np.arange(batch_users)[:, np.newaxis], idx_topk_part[:, :k]]
    idx_part = np.argsort(-topk_part, axis=1)
    idx_topk = idx_topk_part[np.arange(batch_users)[:, np.newaxis], idx_part]
    tp = 1.0 / np.log2(np.arange(2, k + 2))
    DCG = (heldout_batch[np.arange(batch_users)[:, np.newaxis], idx_topk].toarray() * tp).sum(axis=1)
    IDCG = np.array([(tp[: min(n, k)]).sum() for n in heldout_batch.getnnz(axis=1)])
    return DCG / IDCG


def ref_recall_at_k_batch(X_pred, heldout_batch, k=100):
    """Recall_at_k_batch of the Mult-VAE notebook."""
    batch_users = X_pred.shape[0]
    idx = np.argpartition(-X_pred, k, axis=1)
    X_pred_binary = np.zeros_like(X_pred, dtype=bool)
    X_pred_binary[np.arange(batch_users)[:, np.newaxis], idx[:, :k]] = True
    X_true_binary = (heldout_batch > 0).toarray()
    tmp = (np.logical_and(X_true_binary, X_pred_binary).sum(axis=1)).astype(np.float32)
    return tmp / np.minimum(k, X_true_binary.sum(axis=1))


def random_case(seed, n_users=60, n_items=40, k=12, density=0.15):
    """Random recommendations (some rows padded with -1) and a held-out matrix with empty rows."""
    rng = np.random.default_rng(seed)
    rec = np.stack([rng.permutation(n_items)[:k] for _ in range(n_users)]).astype(np.int64)
    for u in range(0, n_users, 7):  # padding at the tail of some rows
        rec[u, k - 1 - (u % 3):] = -1
    Y = (rng.random((n_users, n_items)) < density).astype(np.float64)
    Y[[3, 10]] = 0  # users without relevant items
    return rec, sp.csr_array(Y)


# ---- rating metrics --------------------------------------------------------------------------------


def test_rmse_mae_match_formulas_and_sklearn():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(1, 5, 200), rng.uniform(1, 5, 200)
    assert M.rmse(a, b) == pytest.approx(np.sqrt(np.mean((a - b) ** 2)), rel=1e-12)
    assert M.rmse(a, b) == pytest.approx(np.sqrt(mean_squared_error(a, b)), rel=1e-12)
    assert M.mae(a, b) == pytest.approx(mean_absolute_error(a, b), rel=1e-12)
    # hand-worked: errors (1, -2, 0, 1) -> MSE 6/4, MAE 4/4
    assert M.rmse([1, 2, 3, 4], [0, 4, 3, 3]) == pytest.approx(np.sqrt(1.5))
    assert M.mae([1, 2, 3, 4], [0, 4, 3, 3]) == pytest.approx(1.0)
    assert M.rmse(np.float32([1, 2]), [1, 2]) == 0.0


@pytest.mark.parametrize("fn", [M.rmse, M.mae])
def test_rating_metrics_validate(fn):
    with pytest.raises(ValueError, match="3 entries but y_pred has 2"):
        fn([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="y_pred contains NaN"):
        fn([1, 2], [1, np.nan])
    with pytest.raises(ValueError, match="y_true contains NaN"):
        fn([np.inf, 2], [1, 2])
    with pytest.raises(ValueError, match="1-D"):
        fn([[1, 2]], [[1, 2]])
    with pytest.raises(ValueError, match="empty"):
        fn([], [])


# ---- ranking metrics -------------------------------------------------------------------------------


def test_hand_worked_example():
    # 5 items. User 0: list [0, 1, 2, 3], relevant {0, 2, 4}; k = 4.
    #   hits at ranks 1 and 3 -> DCG = 1/log2(2) + 1/log2(4) = 1.5
    #   ideal over min(3, 4) = 3: 1 + 1/log2(3) + 1/2 = 2.1309297535714573
    #   recall 2/3, truncated recall 2/min(4, 3) = 2/3, precision 2/4,
    #   AP = (1/1 + 2/3) / min(4, 3) = 0.5555...
    # User 1: list [4, -1, -1, -1] (padded), relevant {4} -> everything 1 except precision 1/4.
    # User 2: relevant {} -> NaN everywhere.
    rec = np.array([[0, 1, 2, 3], [4, -1, -1, -1], [0, 1, 2, 3]])
    Y = sp.csr_array(np.array([[1, 0, 1, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], dtype=np.float32))
    np.testing.assert_allclose(M.ndcg_at_k(rec, Y, 4), [1.5 / 2.1309297535714573, 1.0, np.nan])
    np.testing.assert_allclose(M.recall_at_k(rec, Y, 4), [2 / 3, 1.0, np.nan])
    np.testing.assert_allclose(M.truncated_recall_at_k(rec, Y, 4), [2 / 3, 1.0, np.nan])
    np.testing.assert_allclose(M.precision_at_k(rec, Y, 4), [0.5, 0.25, np.nan])
    np.testing.assert_allclose(M.map_at_k(rec, Y, 4), [(1 + 2 / 3) / 3, 1.0, np.nan])
    # k = 2 reads only [0, 1]: one hit; recall 1/3, truncated 1/min(2, 3) = 1/2,
    # NDCG = 1 / (1 + 1/log2(3)) = 0.6131471927654584
    np.testing.assert_allclose(M.recall_at_k(rec, Y, 2)[0], 1 / 3)
    np.testing.assert_allclose(M.truncated_recall_at_k(rec, Y, 2)[0], 1 / 2)
    np.testing.assert_allclose(M.ndcg_at_k(rec, Y, 2)[0], 0.6131471927654584)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("k", [1, 5, 12])
def test_match_brute_force(seed, k):
    rec, Y = random_case(seed)
    rel = [Y.indices[Y.indptr[u]:Y.indptr[u + 1]] for u in range(Y.shape[0])]
    for fn, name in zip(RANKING, ["ndcg", "recall", "truncated_recall", "precision", "map"]):
        got = fn(rec, Y, k)
        want = [brute_force(rec[u], rel[u], k, name) for u in range(Y.shape[0])]
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=name)
        assert np.isnan(got[3]) and np.isnan(got[10])


def test_ndcg_matches_sklearn_binary():
    rng = np.random.default_rng(3)
    n_users, n_items = 40, 30
    scores = rng.standard_normal((n_users, n_items))
    Y = (rng.random((n_users, n_items)) < 0.2).astype(np.float64)
    Y[Y.sum(axis=1) == 0, 0] = 1.0
    for k in (1, 5, 10, 30):
        rec = np.argsort(-scores, axis=1)[:, :k]
        got = M.ndcg_at_k(rec, sp.csr_array(Y), k)
        want = [ndcg_score(Y[u:u + 1], scores[u:u + 1], k=k) for u in range(n_users)]
        np.testing.assert_allclose(got, want, rtol=1e-12)
        # a float score matrix is ranked internally (native top-k) to the same result
        np.testing.assert_allclose(M.ndcg_at_k(scores, sp.csr_array(Y), k), want, rtol=1e-12)


def test_match_mult_vae_reference_functions():
    """NDCG/truncated recall of recommendations from scores_to_recommendations equal the reference
    code's NDCG_binary_at_k_batch / Recall_at_k_batch on the same scores with fold-in items at -inf."""
    rng = np.random.default_rng(5)
    n_users, n_items, k = 50, 200, 20
    fold_in = (rng.random((n_users, n_items)) < 0.1).astype(np.float64)
    target = ((rng.random((n_users, n_items)) < 0.08) & (fold_in == 0)).astype(np.float64)
    fold_in, target = sp.csr_array(fold_in), sp.csr_array(target)
    keep = np.diff(target.indptr) > 0
    fold_in, target = fold_in[keep], target[keep]
    W = rng.standard_normal((n_items, n_items))

    def score_fn(Xb):
        return np.asarray(Xb @ W)

    idx, _ = M.scores_to_recommendations(score_fn, fold_in, k, batch_size=16)
    ref_scores = score_fn(fold_in)
    ref_scores[fold_in.toarray() > 0] = -np.inf
    heldout = sp.csr_matrix(target)
    np.testing.assert_allclose(M.ndcg_at_k(idx, target, k), ref_ndcg_binary_at_k_batch(ref_scores, heldout, k),
                               rtol=1e-12)
    np.testing.assert_allclose(M.truncated_recall_at_k(idx, target, k),
                               ref_recall_at_k_batch(ref_scores, heldout, k), rtol=1e-6)


def test_relevance_is_positive_values_only():
    rec = np.array([[0, 1, 2]])
    Y = sp.csr_array((np.array([1.0, 0.0, -1.0]), np.array([0, 1, 2]), np.array([0, 3])), shape=(1, 4))
    Y_before = Y.copy()
    np.testing.assert_allclose(M.recall_at_k(rec, Y, 3), [1.0])  # only item 0 is relevant
    np.testing.assert_allclose(M.precision_at_k(rec, Y, 3), [1 / 3])
    assert (Y != Y_before).nnz == 0 and Y.nnz == 3  # input untouched
    # non-canonical input (unsorted, duplicated) and other sparse formats / dense arrays work
    coo = sp.coo_array((np.array([1.0, 1.0, 1.0]), (np.array([0, 0, 0]), np.array([3, 1, 1]))), shape=(1, 4))
    np.testing.assert_allclose(M.recall_at_k(rec, coo, 3), [1 / 2])
    np.testing.assert_allclose(M.recall_at_k(rec, coo.toarray(), 3), [1 / 2])


def test_evaluate_rankings_summary():
    rec, Y = random_case(2, k=30)
    out = M.evaluate_rankings(rec, Y, ks=(5, 20))
    scored = np.diff(Y.indptr) > 0
    assert out["n_users"] == int(scored.sum()) == Y.shape[0] - 2
    for name, fn in zip(["ndcg", "recall", "truncated_recall", "precision", "map"], RANKING):
        for k in (5, 20):
            vals = fn(rec, Y, k)
            assert out[f"{name}@{k}"] == pytest.approx(np.nanmean(vals), rel=1e-12)
            v = vals[scored]
            assert out[f"{name}@{k}_se"] == pytest.approx(np.std(v) / np.sqrt(v.size), rel=1e-12)
    assert set(out) == {f"{m}@{k}{s}" for m in ["ndcg", "recall", "truncated_recall", "precision", "map"]
                        for k in (5, 20) for s in ("", "_se")} | {"n_users"}
    with pytest.raises(ValueError, match="fewer than k = 100"):
        M.evaluate_rankings(rec, Y)  # default ks go to 100
    empty = M.evaluate_rankings(rec, sp.csr_array(Y.shape), ks=5)
    assert empty["n_users"] == 0 and np.isnan(empty["ndcg@5"]) and np.isnan(empty["ndcg@5_se"])


def test_coverage():
    rec = np.array([[0, 1, -1], [1, 2, 3]])
    assert M.coverage(rec, 10) == pytest.approx(0.4)
    assert M.coverage(rec, 10, k=1) == pytest.approx(0.2)
    assert M.coverage(np.full((2, 2), -1), 4) == 0.0
    with pytest.raises(ValueError, match="outside"):
        M.coverage(rec, 3)
    with pytest.raises(TypeError):
        M.coverage(rec.astype(float), 10)


def test_ranking_validation():
    Y = sp.csr_array(np.eye(3, 4))
    rec = np.array([[0, 1], [1, 2], [2, 3]])
    with pytest.raises(ValueError, match="2 rows but y_true has 3"):
        M.ndcg_at_k(rec[:2], Y, 2)
    with pytest.raises(ValueError, match="fewer than k = 3"):
        M.ndcg_at_k(rec, Y, 3)
    with pytest.raises(ValueError, match="item id 4"):
        M.recall_at_k(rec + 1, Y, 2)
    with pytest.raises(ValueError, match="item id -2"):
        M.recall_at_k(rec - 2, Y, 2)
    with pytest.raises(ValueError, match="row 1 lists an item more than once"):
        M.recall_at_k(np.array([[0, 1], [2, 2], [0, -1]]), Y, 2)
    M.recall_at_k(np.array([[0, -1], [-1, -1], [0, -1]]), Y, 2)  # repeated padding is fine
    with pytest.raises(ValueError, match="read as scores"):
        M.recall_at_k(rec.astype(np.float64), Y, 2)
    with pytest.raises(TypeError, match="integer array"):
        M.recall_at_k(rec.astype(str), Y, 2)
    with pytest.raises(TypeError, match="k must be an integer"):
        M.recall_at_k(rec, Y, 1.5)
    with pytest.raises(ValueError, match="k must be >= 1"):
        M.recall_at_k(rec, Y, 0)
    bad = Y.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        M.recall_at_k(rec, bad, 2)


# ---- scores_to_recommendations ---------------------------------------------------------------------


def test_scores_to_recommendations_batches_and_exclusion():
    rng = np.random.default_rng(7)
    n_users, n_items, k = 53, 31, 6
    X = rand_csr((n_users, n_items), 0.2, rng, np.float32)
    W = rng.standard_normal((n_items, n_items)).astype(np.float32)
    calls = []

    def score_fn(Xb):
        calls.append(Xb.shape[0])
        assert sp.issparse(Xb) and Xb.format == "csr"
        return np.asarray(Xb @ W)

    full = np.asarray(X @ W)
    idx, val = M.scores_to_recommendations(score_fn, X, k, batch_size=10)
    assert calls == [10, 10, 10, 10, 10, 3]
    assert idx.shape == val.shape == (n_users, k) and idx.dtype == np.int64 and val.dtype == np.float32
    dense = X.toarray()
    for u in range(n_users):
        s = full[u].astype(np.float64)
        s[dense[u] != 0] = -np.inf
        want = np.argsort(-s, kind="stable")[:k]
        np.testing.assert_array_equal(idx[u], want)
        np.testing.assert_allclose(val[u], full[u, want])
    for bs in (1, 7, 1000):
        i2, v2 = M.scores_to_recommendations(score_fn, X, k, batch_size=bs)
        np.testing.assert_array_equal(i2, idx)
        np.testing.assert_array_equal(v2, val)
    i3, _ = M.scores_to_recommendations(score_fn, X, k, exclude_seen=False)
    np.testing.assert_array_equal(i3, np.argsort(-full, axis=1, kind="stable")[:, :k])


def test_scores_to_recommendations_edge_cases():
    # explicit zeros in the history are not "seen"; padding when too few items remain; int scores
    X = sp.csr_array((np.array([0.0, 1.0, 1.0]), np.array([0, 1, 2]), np.array([0, 1, 3])), shape=(2, 3))
    idx, val = M.scores_to_recommendations(lambda Xb: np.tile(np.array([3, 2, 1]), (Xb.shape[0], 1)), X, 2)
    np.testing.assert_array_equal(idx, [[0, 1], [0, -1]])
    assert val.dtype == np.float64 and val[1, 1] == -np.inf
    idx, _ = M.scores_to_recommendations(lambda Xb: np.ones(Xb.shape), X, 2, candidates=[2])
    np.testing.assert_array_equal(idx, [[2, -1], [-1, -1]])
    idx, val = M.scores_to_recommendations(lambda Xb: np.ones(Xb.shape), sp.csr_array((0, 3)), 2)
    assert idx.shape == (0, 2) and val.shape == (0, 2)
    with pytest.raises(ValueError, match="score_fn returned shape"):
        M.scores_to_recommendations(lambda Xb: np.ones((1, 3)), X, 2)
    with pytest.raises(TypeError, match="callable"):
        M.scores_to_recommendations(None, X, 2)
