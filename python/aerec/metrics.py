"""Rating and ranking metrics.

Rating metrics (:func:`rmse`, :func:`mae`) compare 1-D arrays of ratings.

Ranking metrics compare top-``k`` recommendation lists with a held-out matrix:

* ``recommended`` is an integer array ``(n_users, >= k)`` of item ids, best first, as returned by
  ``estimator.recommend`` or :func:`scores_to_recommendations`. ``-1`` is padding (a row with fewer
  than ``k`` eligible items) and is never a hit. An item may appear at most once per row.
  A floating-point array ``(n_users, n_items)`` is read as *scores* instead and ranked in batches with
  :func:`aerec.kernels.topk` (nothing excluded: set the fold-in items to ``-inf`` first, or use
  :func:`scores_to_recommendations`).
* ``y_true`` is a sparse matrix ``(n_users, n_items)`` of held-out items; stored **positive** values
  are relevant (binary relevance), zeros and negative values are not.

Each ranking metric returns one value per user. Users without any relevant item get ``NaN`` (their
metric is undefined); summaries such as :func:`evaluate_rankings` average over the other users
(``np.nanmean``). Nothing here builds a dense ``users x items`` array: hits are found by a sorted
search over ``(user, item)`` keys, and scores are only ever ranked one batch of rows at a time.

Definitions, with ``hit_r`` = 1 when the item at rank ``r`` (1-based, ``r <= k``) is relevant and
``n`` = the user's number of relevant items:

=========================  ==============================================================
``ndcg_at_k``              ``sum_r hit_r / log2(r + 1)`` divided by the ideal DCG
                           ``sum_{r <= min(n, k)} 1 / log2(r + 1)`` (binary gain).
``recall_at_k``            ``hits / n`` (the usual definition; LightGCN/NGCF report this).
``truncated_recall_at_k``  ``hits / min(k, n)`` (the Mult-VAE reference code's "Recall@k";
                           reaches 1 when every slot is a hit).
``precision_at_k``         ``hits / k``.
``map_at_k``               ``sum_r hit_r * precision@r / min(k, n)`` (average precision
                           truncated at ``k``).
=========================  ==============================================================
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable
from typing import Any, Optional, Union

import numpy as np
import scipy.sparse as sp

from . import kernels
from ._typing import ArrayLike, MatrixLike
from ._validation import check_scalar, check_sparse_structure

__all__ = [
    "rmse",
    "mae",
    "ndcg_at_k",
    "recall_at_k",
    "truncated_recall_at_k",
    "precision_at_k",
    "map_at_k",
    "coverage",
    "evaluate_rankings",
    "scores_to_recommendations",
]

#: Rows handled at once when looking up hits (bounds the temporary (rows, k) key arrays).
_HIT_BATCH_ROWS = 8192
#: Rows ranked at once when ``recommended`` is a score matrix.
_SCORE_BATCH_ROWS = 1000


# ---- rating metrics --------------------------------------------------------------------------------


def _real_array(x, name):
    """``x`` as a float64 array; only integer and real floating-point values are accepted (bool,
    complex, object and string arrays are refused instead of being cast)."""
    a = np.asarray(x)
    if a.dtype.kind not in "iuf":
        raise TypeError(f"{name} must hold real numbers (integer or float), got dtype {a.dtype}")
    return a.astype(np.float64, copy=False)


def _check_pair(y_true, y_pred):
    a = _real_array(y_true, "y_true")
    b = _real_array(y_pred, "y_pred")
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D, got shapes {a.shape} and {b.shape}")
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"y_true has {a.shape[0]} entries but y_pred has {b.shape[0]}")
    if a.shape[0] == 0:
        raise ValueError("y_true and y_pred are empty")
    if not np.isfinite(a).all():
        raise ValueError("y_true contains NaN or infinite values")
    if not np.isfinite(b).all():
        raise ValueError("y_pred contains NaN or infinite values")
    return a, b


def rmse(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Root mean squared error.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted ratings; same length, finite, not empty.

    Returns
    -------
    float
        ``sqrt(mean((y_true - y_pred) ** 2))``, computed in float64.
    """
    a, b = _check_pair(y_true, y_pred)
    return float(np.sqrt(np.mean((a - b) ** 2)))


def mae(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Mean absolute error.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        True and predicted ratings; same length, finite, not empty.

    Returns
    -------
    float
        ``mean(|y_true - y_pred|)``, computed in float64.
    """
    a, b = _check_pair(y_true, y_pred)
    return float(np.mean(np.abs(a - b)))


# ---- input handling for the ranking metrics --------------------------------------------------------


def _check_k(k, name="k") -> int:
    return int(check_scalar(k, name, kind=numbers.Integral, low=1))


def _relevant(y_true):
    """Canonical CSR of ``y_true``'s relevant (positive) entries; the input is never modified."""
    if sp.issparse(y_true):
        check_sparse_structure(y_true, "y_true")  # SciPy trusts the index arrays: check them first
        Y = sp.csr_array(y_true)
    else:
        a = np.asarray(y_true)
        if a.ndim != 2:
            raise ValueError(f"y_true must be a 2-D (n_users, n_items) matrix, got shape {a.shape}")
        if a.dtype.kind not in "biuf":
            raise TypeError(f"y_true must hold numbers, got dtype {a.dtype}")
        Y = sp.csr_array(a)
    if Y.ndim != 2:
        raise ValueError(f"y_true must be 2-D, got shape {Y.shape}")
    if not Y.has_canonical_format:
        Y = Y.copy()
        Y.sum_duplicates()
    data = np.asarray(Y.data)
    if data.dtype.kind not in "biuf":
        raise TypeError(f"y_true must hold numbers, got dtype {data.dtype}")
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise ValueError("y_true contains NaN or infinite values")
    keep = data > 0
    if not keep.all():
        n_rows = Y.shape[0]
        rows = np.repeat(np.arange(n_rows), np.diff(Y.indptr))[keep]
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
        Y = sp.csr_array((np.ones(int(keep.sum())), np.asarray(Y.indices)[keep], indptr), shape=Y.shape)
    return Y


def _check_recommended(recommended, Y, k):
    """Validate ``recommended`` against ``Y`` and return an int64 ``(n_users, k)`` array."""
    n_users, n_items = Y.shape
    rec = np.asarray(recommended)
    if rec.ndim != 2:
        raise ValueError(f"recommended must be 2-D (n_users, k), got shape {rec.shape}")
    if rec.shape[0] != n_users:
        raise ValueError(f"recommended has {rec.shape[0]} rows but y_true has {n_users}")
    if rec.dtype.kind == "f":
        if rec.shape[1] != n_items:
            raise ValueError(
                f"recommended is a float array, read as scores, but has {rec.shape[1]} columns while y_true has "
                f"{n_items} items; pass item ids as an integer array")
        return _rank_scores(rec, k)
    if rec.dtype.kind not in "iu":
        raise TypeError(f"recommended must be an integer array of item ids (or float scores), got dtype {rec.dtype}")
    if rec.shape[1] < k:
        raise ValueError(f"recommended has {rec.shape[1]} columns, fewer than k = {k}")
    rec = rec[:, :k].astype(np.int64, copy=False)
    if rec.size:
        lo, hi = int(rec.min()), int(rec.max())
        if lo < -1 or hi >= n_items:
            bad = lo if lo < -1 else hi
            raise ValueError(f"recommended contains item id {bad}, outside [0, {n_items}) (-1 = padding)")
        if k > 1:
            s = np.sort(rec, axis=1)
            dup = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
            if dup.any():
                row = int(np.argmax(dup.any(axis=1)))
                raise ValueError(f"recommended row {row} lists an item more than once in its top {k}")
    return rec


def _rank_scores(scores, k):
    """Top-k item ids of a dense score matrix, ranked in row batches by the native top-k."""
    if scores.dtype not in (np.float32, np.float64):
        scores = scores.astype(np.float64)
    out = np.empty((scores.shape[0], k), dtype=np.int64)
    for start in range(0, scores.shape[0], _SCORE_BATCH_ROWS):
        block = np.ascontiguousarray(scores[start:start + _SCORE_BATCH_ROWS])
        out[start:start + block.shape[0]] = kernels.topk(block, k)[0]
    return out


def _hits(rec, Y):
    """Boolean ``(n_users, k)``: is ``rec[u, r]`` a relevant item of user ``u``."""
    n_users, n_items = Y.shape
    indptr = np.asarray(Y.indptr, dtype=np.int64)
    cols = np.asarray(Y.indices, dtype=np.int64)
    # Canonical CSR lists (row, col) in increasing row * n_items + col order: one sorted key array.
    keys = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(indptr)) * n_items + cols
    hits = np.zeros(rec.shape, dtype=bool)
    if keys.size == 0:
        return hits
    for start in range(0, n_users, _HIT_BATCH_ROWS):
        r = rec[start:start + _HIT_BATCH_ROWS]
        q = np.arange(start, start + r.shape[0], dtype=np.int64)[:, None] * n_items + r
        pos = np.minimum(np.searchsorted(keys, q), keys.size - 1)
        hits[start:start + r.shape[0]] = (keys[pos] == q) & (r >= 0)
    return hits


def _prepare(recommended, y_true, k):
    k = _check_k(k)
    Y = _relevant(y_true)
    rec = _check_recommended(recommended, Y, k)
    return _hits(rec, Y), np.diff(Y.indptr).astype(np.int64)


def _divide(num, den):
    """``num / den`` with NaN where ``den == 0`` (users without relevant items), no warnings."""
    out = np.full(num.shape, np.nan)
    ok = den > 0
    out[ok] = num[ok] / den[ok]
    return out


def _ndcg(hits, n_rel):
    k = hits.shape[1]
    disc = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    dcg = hits @ disc
    ideal = np.concatenate(([0.0], np.cumsum(disc)))[np.minimum(n_rel, k)]
    return _divide(dcg, ideal)


def _recall(hits, n_rel):
    return _divide(hits.sum(axis=1).astype(np.float64), n_rel)


def _truncated_recall(hits, n_rel):
    return _divide(hits.sum(axis=1).astype(np.float64), np.minimum(n_rel, hits.shape[1]))


def _precision(hits, n_rel):
    return _divide(hits.sum(axis=1).astype(np.float64), np.where(n_rel > 0, hits.shape[1], 0))


def _map(hits, n_rel):
    k = hits.shape[1]
    prec = np.cumsum(hits, axis=1) / np.arange(1, k + 1, dtype=np.float64)
    return _divide((prec * hits).sum(axis=1), np.minimum(n_rel, k))


_DOC_PARAMS = """
    Parameters
    ----------
    recommended : ndarray of shape (n_users, >= k)
        Item ids best first (integers; ``-1`` is padding and never a hit), or a float score matrix
        ``(n_users, n_items)`` ranked here in batches (nothing excluded).
    y_true : sparse matrix of shape (n_users, n_items)
        Held-out items; stored positive values are relevant.
    k : int
        Cut-off; only the first ``k`` columns of ``recommended`` are read.

    Returns
    -------
    ndarray of shape (n_users,)
        float64 per-user values; ``NaN`` for users without relevant items (use ``np.nanmean``).
"""


def ndcg_at_k(recommended: ArrayLike, y_true: MatrixLike, k: int) -> np.ndarray:
    hits, n_rel = _prepare(recommended, y_true, k)
    return _ndcg(hits, n_rel)


def recall_at_k(recommended: ArrayLike, y_true: MatrixLike, k: int) -> np.ndarray:
    hits, n_rel = _prepare(recommended, y_true, k)
    return _recall(hits, n_rel)


def truncated_recall_at_k(recommended: ArrayLike, y_true: MatrixLike, k: int) -> np.ndarray:
    hits, n_rel = _prepare(recommended, y_true, k)
    return _truncated_recall(hits, n_rel)


def precision_at_k(recommended: ArrayLike, y_true: MatrixLike, k: int) -> np.ndarray:
    hits, n_rel = _prepare(recommended, y_true, k)
    return _precision(hits, n_rel)


def map_at_k(recommended: ArrayLike, y_true: MatrixLike, k: int) -> np.ndarray:
    hits, n_rel = _prepare(recommended, y_true, k)
    return _map(hits, n_rel)


ndcg_at_k.__doc__ = """Normalised discounted cumulative gain at ``k`` (binary gain, ``log2(rank + 1)``
    discount, ideal DCG over ``min(#relevant, k)`` items); the Mult-VAE reference's NDCG@k.
""" + _DOC_PARAMS
recall_at_k.__doc__ = """Recall at ``k``: ``hits / #relevant`` (the standard definition, used by
    LightGCN/NGCF on Gowalla). See :func:`truncated_recall_at_k` for the Mult-VAE variant.
""" + _DOC_PARAMS
truncated_recall_at_k.__doc__ = """Truncated recall at ``k``: ``hits / min(k, #relevant)``.

    This is what the Mult-VAE reference code (Liang et al. 2018) reports as "Recall@k"; it equals
    :func:`recall_at_k` for users with at most ``k`` relevant items.
""" + _DOC_PARAMS
precision_at_k.__doc__ = """Precision at ``k``: ``hits / k`` (padding counts as a miss).
""" + _DOC_PARAMS
map_at_k.__doc__ = """Average precision truncated at ``k``: ``sum_r hit_r * precision@r / min(k, #relevant)``.
""" + _DOC_PARAMS

_METRICS = {
    "ndcg": _ndcg,
    "recall": _recall,
    "truncated_recall": _truncated_recall,
    "precision": _precision,
    "map": _map,
}


def coverage(recommended: ArrayLike, n_items: int, k: Optional[int] = None) -> float:
    """Catalogue coverage: the fraction of items that appear in at least one recommendation list.

    Parameters
    ----------
    recommended : ndarray of shape (n_users, n_recommended)
        Integer item ids; ``-1`` (padding) is ignored.
    n_items : int
        Size of the catalogue.
    k : int, optional
        Only the first ``k`` columns count (default: all).

    Returns
    -------
    float
        ``#distinct items recommended / n_items``.
    """
    n_items = int(check_scalar(n_items, "n_items", kind=numbers.Integral, low=1))
    rec = np.asarray(recommended)
    if rec.ndim != 2:
        raise ValueError(f"recommended must be 2-D (n_users, k), got shape {rec.shape}")
    if rec.dtype.kind not in "iu":
        raise TypeError(f"recommended must be an integer array of item ids, got dtype {rec.dtype}")
    if k is not None:
        rec = rec[:, :_check_k(k)]
    if rec.size and rec.min() < -1:
        raise ValueError(f"recommended contains item id {int(rec.min())}, outside [0, {n_items}) (-1 = padding)")
    ids = rec[rec >= 0].astype(np.int64, copy=False)
    if ids.size and ids.max() >= n_items:
        raise ValueError(f"recommended contains item id {int(ids.max())}, outside [0, {n_items})")
    return float(np.count_nonzero(np.bincount(ids, minlength=n_items)) / n_items)


def evaluate_rankings(recommended: ArrayLike, y_true: MatrixLike,
                      ks: Union[int, Iterable[int]] = (20, 50, 100)) -> dict[str, float]:
    """Every ranking metric at every cut-off, averaged over users with at least one relevant item.

    Parameters
    ----------
    recommended : ndarray of shape (n_users, >= max(ks))
        Item ids best first (``-1`` = padding), or a float score matrix ``(n_users, n_items)``.
    y_true : sparse matrix of shape (n_users, n_items)
        Held-out items; stored positive values are relevant.
    ks : iterable of int, default=(20, 50, 100)
        Cut-offs.

    Returns
    -------
    dict
        For each metric ``m`` in ``ndcg``, ``recall``, ``truncated_recall``, ``precision``, ``map`` and each
        ``k``: ``"m@k"`` (the mean) and ``"m@k_se"`` (its standard error ``std / sqrt(n_users)``, the
        population std as the Mult-VAE reference computes it); and ``"n_users"``, the number of users
        averaged over. With no such user every mean and standard error is ``NaN``.
    """
    if isinstance(ks, numbers.Integral):
        ks = [ks]
    elif isinstance(ks, (str, bytes)) or not hasattr(ks, "__iter__"):
        raise TypeError(f"ks must be an integer or an iterable of integers, got {ks!r}")
    ks = list(ks)
    ks = [_check_k(k, "ks") for k in ks]
    if not ks:
        raise ValueError("ks is empty")
    k_max = max(ks)
    Y = _relevant(y_true)
    rec = _check_recommended(recommended, Y, k_max)
    return _summarize(_hits(rec, Y), np.diff(Y.indptr).astype(np.int64), ks)


def _summarize(hits, n_rel, ks):
    """evaluate_rankings' averages from the hit matrix ``(n_users, max(ks))`` and the users' numbers of
    relevant items (``aerec.distributed`` gathers both from partitions and calls this, so its numbers
    are the single-machine ones)."""
    scored = n_rel > 0
    n = int(scored.sum())
    out = {}
    for k in sorted(set(ks)):
        h, r = hits[scored, :k], n_rel[scored]
        for name, fn in _METRICS.items():
            vals = fn(h, r)
            out[f"{name}@{k}"] = float(vals.mean()) if n else float("nan")
            out[f"{name}@{k}_se"] = float(vals.std() / np.sqrt(n)) if n else float("nan")
    out["n_users"] = n
    return out


def scores_to_recommendations(score_fn: Callable[[Any], ArrayLike], X_history: MatrixLike, k: int,
                              batch_size: int = 1000, exclude_seen: bool = True, *,
                              candidates: Optional[ArrayLike] = None,
                              n_threads: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` recommendations from a scoring function, one batch of rows at a time.

    Parameters
    ----------
    score_fn : callable
        ``score_fn(X_batch) -> scores``: given a CSR batch of history rows ``(b, n_items)``, returns dense
        scores ``(b, n_items)`` (e.g. ``estimator.predict``). Only one batch of scores exists at a time.
    X_history : sparse matrix or ndarray of shape (n_users, n_items)
        The users' histories (fold-in input), real and finite; converted to CSR (duplicate entries
        of a non-canonical sparse matrix are summed, as SciPy does).
    k : int
        Number of items per user.
    batch_size : int, default=1000
        Rows scored per call of ``score_fn``.
    exclude_seen : bool, default=True
        Never recommend an item stored (nonzero) in that user's history row.
    candidates : array-like of int, optional
        Restrict recommendations to these item ids.
    n_threads : int, optional
        Threads for the native top-k (None = all usable cores).

    Returns
    -------
    indices : ndarray of shape (n_users, k), int64
        Item ids best first; ``-1`` pads rows with fewer than ``k`` eligible items (NaN scores are
        never returned).
    scores : ndarray of shape (n_users, k)
        Their scores (``-inf`` for padding), in the dtype ``score_fn`` returned (float64 for non-float).
    """
    if not callable(score_fn):
        raise TypeError(f"score_fn must be callable, got {type(score_fn).__name__}")
    k = _check_k(k)
    batch_size = int(check_scalar(batch_size, "batch_size", kind=numbers.Integral, low=1))
    if sp.issparse(X_history):
        # SciPy trusts the index arrays: a broken indptr here corrupted memory and crashed later
        check_sparse_structure(X_history, "X_history")
        X = sp.csr_array(X_history)
    else:
        a = np.asarray(X_history)
        if a.ndim != 2:
            raise ValueError(f"X_history must be 2-D, got shape {a.shape}")
        X = sp.csr_array(a) if a.dtype.kind in "biuf" else None
    if X is None or X.dtype.kind not in "biuf":
        raise TypeError("X_history must hold real numbers, got dtype "
                        f"{np.asarray(X_history).dtype if X is None else X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"X_history must be 2-D, got shape {X.shape}")
    if X.dtype.kind == "f" and X.nnz and not np.isfinite(X.data).all():
        raise ValueError("X_history contains NaN or infinite values")
    if not X.has_canonical_format:
        X = X.copy()
        X.sum_duplicates()
    seen = None
    if exclude_seen:
        seen = X
        if np.any(np.asarray(X.data) == 0):  # stored zeros are unobserved, not seen
            seen = X.copy()
            seen.eliminate_zeros()
    n_rows, n_items = X.shape
    idx_parts, score_parts = [], []
    for start in range(0, n_rows, batch_size):
        stop = min(start + batch_size, n_rows)
        scores = np.asarray(score_fn(X[start:stop]))
        if scores.shape != (stop - start, n_items):
            raise ValueError(f"score_fn returned shape {scores.shape} for a batch of {stop - start} rows; expected "
                             f"{(stop - start, n_items)}")
        if scores.dtype.kind not in "biuf":
            raise TypeError(f"score_fn must return real scores (integer or float), got dtype {scores.dtype}")
        if scores.dtype not in (np.float32, np.float64):
            scores = scores.astype(np.float64)
        scores = np.ascontiguousarray(scores)
        ex = seen[start:stop] if seen is not None else None
        idx, val = kernels.topk(scores, k, exclude=ex, candidates=candidates, n_threads=n_threads)
        idx_parts.append(idx)
        score_parts.append(val)
    if not idx_parts:
        return np.empty((0, k), dtype=np.int64), np.empty((0, k), dtype=np.float64)
    return np.concatenate(idx_parts), np.concatenate(score_parts)
