"""What one partition of interaction records computes: plain functions of a pandas DataFrame, the same
for Dask (``map_partitions``), Spark (``mapInPandas``, ``applyInPandas``) or a loop over files.

Every function here takes the records of a *set of users* — all the records of each of them — and
builds their rows with the fitted ``IdMapper`` (``transform``: known and new users alike), so the
rows and therefore the results are those of one machine's ``recommend`` on the same users. A user
whose records are split over two partitions would be scored twice, from two partial histories:
partition (or shuffle, or ``repartition``) by user first.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .. import kernels
from ..data import _pandas
from ..metrics import _check_recommended, _hits, _relevant

#: Column of the records that ``evaluate_dask`` adds to tell the target records from the history.
TARGET_FLAG = "_aerec_target"
#: Output columns of ``score_partition`` (``IdMapper.to_frame``'s).
OUTPUT_COLUMNS = ("user", "rank", "item", "score")


def _check_model(model):
    if not hasattr(model, "n_features_in_"):
        raise ValueError(f"{type(model).__name__} is not fitted: fit it (or aerec.load it) before scoring partitions")
    if getattr(model, "_item_based", False):
        raise ValueError(
            f"{type(model).__name__}(item_based=True) encodes item columns over all its training users, so it cannot "
            "score users partition by partition: use IdMapper.recommend_frame on one machine, or item_based=False")


def _records(df, mapper, user_col, item_col, rating_col, *, ratings=True):
    """The columns of ``df`` the mapper reads, under the mapper's own column names (renamed from
    ``user_col``/``item_col``/``rating_col`` when those differ)."""
    cols = {user_col or mapper.user_col: mapper.user_col, item_col or mapper.item_col: mapper.item_col}
    rating_col = rating_col or mapper.rating_col
    if ratings and mapper.rating_col is not None and rating_col in df.columns:
        cols[rating_col] = mapper.rating_col
    return {new: df[old] for old, new in cols.items()}


def _item_dtype(mapper):
    """The dtype ``IdMapper.to_frame`` gives the item column (nullable Int64 for integer ids)."""
    probe = mapper.to_frame(np.asarray([0]), np.zeros((1, 1), dtype=np.int64), np.zeros((1, 1)))
    return probe["item"].dtype


def output_meta(mapper, user_dtype, score_dtype):
    """The empty DataFrame (user, rank, item, score) with the dtypes every ``score_partition`` result
    has: Dask's ``meta``, and the frame of an empty partition. ``user_dtype``: the dtype of the input's
    user column; ``score_dtype``: the model's ``dtype_``."""
    pd = _pandas("aerec.distributed")
    return pd.DataFrame({
        "user": pd.Series([], dtype=user_dtype),
        "rank": pd.Series([], dtype=np.int64),
        "item": pd.Series([], dtype=_item_dtype(mapper)),
        "score": pd.Series([], dtype=np.dtype(score_dtype)),
    })


def score_partition(df, model, mapper, k=10, *, user_col=None, item_col=None, rating_col=None, exclude_seen=True,
                    **recommend_kwargs):
    """Top-``k`` recommendations for the users of a DataFrame of interaction records.

    Parameters
    ----------
    df : pandas.DataFrame
        Records (user, item[, rating]) of a set of users, *all* of each user's records (their
        histories); known users and new ones alike. Other columns are ignored.
    model : a fitted aerec estimator (not item-based AutoRec)
    mapper : aerec.data.IdMapper
        The id map the model was fitted with (``aerec.load(path, return_mapper=True)`` gives both).
    k : int
    user_col, item_col, rating_col : str, optional
        The columns of ``df`` (default: the mapper's). Rating models read the ratings; implicit
        models count every record as one interaction.
    exclude_seen : bool
        Never recommend an item of the user's own history.
    **recommend_kwargs
        Passed to ``model.recommend`` (``items``, ``precision``, ``batch_size``).

    Returns
    -------
    pandas.DataFrame
        Columns user, rank (1 = best), item, score in the original ids, ``k`` rows per user, users in
        sorted order: ``IdMapper.to_frame``'s frame with the dtypes of :func:`output_meta` (also for
        an empty partition).
    """
    _check_model(model)
    user_col = user_col or mapper.user_col
    meta = output_meta(mapper, df[user_col].dtype, model.dtype_)
    if len(df) == 0:
        return meta
    records = _records(df, mapper, user_col, item_col, rating_col)
    if not model._implicit:
        mapper._require_ratings(records)
    X, user_ids = mapper.transform(records)
    indices, scores = model.recommend(X, k=k, exclude_seen=exclude_seen, **recommend_kwargs)
    out = mapper.to_frame(user_ids, indices, scores)
    return out.astype(meta.dtypes.to_dict())


def _split(df, mapper, user_col, item_col, rating_col):
    """(history rows, target rows, user ids): both matrices on the target's users, in sorted order (a
    user without history gets an empty row)."""
    flag = df[TARGET_FLAG].to_numpy(dtype=bool)
    hist, targ = df[~flag], df[flag]
    Y, users = mapper.transform(_records(targ, mapper, user_col, item_col, rating_col))
    if len(hist):
        H, hist_users = mapper.transform(_records(hist, mapper, user_col, item_col, rating_col))
        pos = np.minimum(np.searchsorted(hist_users, users), max(hist_users.size - 1, 0))
        found = hist_users[pos] == users
        rows, cols = np.flatnonzero(found), pos[found]
        select = sp.csr_array((np.ones(rows.size, dtype=H.dtype), (rows, cols)), shape=(users.size, H.shape[0]))
        X = sp.csr_array(select @ H)
    else:
        X = sp.csr_array((users.size, mapper.item_ids_.size), dtype=Y.dtype)
    return X, Y, users


def _n_bytes(k):
    return (k + 7) // 8


def hits_meta(user_dtype, k_max):
    """The empty frame of :func:`hits_partition` (user, n_rel, packed hit bits)."""
    pd = _pandas("aerec.distributed")
    cols = {"user": pd.Series([], dtype=user_dtype), "n_rel": pd.Series([], dtype=np.int64)}
    for b in range(_n_bytes(k_max)):
        cols[f"hits{b}"] = pd.Series([], dtype=np.uint8)
    return pd.DataFrame(cols)


def hits_partition(df, model, mapper, k_max, *, user_col=None, item_col=None, rating_col=None, **recommend_kwargs):
    """Per user of the partition's target records: the number of relevant held-out items and which of
    the top ``k_max`` recommendations (from the user's history records, those not flagged
    ``TARGET_FLAG``; history items excluded) are hits, packed 8 ranks to a byte (``np.packbits``).
    ``aerec.metrics._summarize`` turns the gathered rows into ``evaluate_rankings``' numbers."""
    _check_model(model)
    user_col = user_col or mapper.user_col
    meta = hits_meta(df[user_col].dtype, k_max)
    if not df[TARGET_FLAG].to_numpy(dtype=bool).any():
        return meta
    X, Y, users = _split(df, mapper, user_col, item_col, rating_col)
    Y = _relevant(Y)
    indices, _ = model.recommend(X, k=k_max, exclude_seen=True, **recommend_kwargs)
    hits = _hits(_check_recommended(indices, Y, k_max), Y)
    packed = np.packbits(hits, axis=1)
    pd = _pandas("aerec.distributed")
    cols = {"user": users, "n_rel": np.diff(Y.indptr).astype(np.int64)}
    for b in range(packed.shape[1]):
        cols[f"hits{b}"] = packed[:, b]
    return pd.DataFrame(cols).astype(meta.dtypes.to_dict())


def unpack_hits(frame, k_max):
    """(hits (n_users, k_max) bool, n_rel) from gathered :func:`hits_partition` rows, in their order."""
    packed = np.stack([frame[f"hits{b}"].to_numpy(dtype=np.uint8) for b in range(_n_bytes(k_max))], axis=1)
    packed = packed.reshape(len(frame), _n_bytes(k_max))
    hits = np.unpackbits(packed, axis=1, count=k_max).astype(bool)
    return hits, frame["n_rel"].to_numpy(dtype=np.int64)


def squared_errors_partition(df, model, mapper, *, user_col=None, item_col=None, rating_col=None):
    """For a rating model: one row (sse, n) — the sum of squared errors of the predictions from each
    user's history records at the user's target records (``TARGET_FLAG``), and their number."""
    _check_model(model)
    pd = _pandas("aerec.distributed")
    if model._implicit:
        raise ValueError(f"{type(model).__name__} is an implicit-feedback model: RMSE is for rating models")
    user_col = user_col or mapper.user_col
    sse, n = 0.0, 0
    if df[TARGET_FLAG].to_numpy(dtype=bool).any():
        from ..models._base import to_csr

        X, Y, _ = _split(df, mapper, user_col, item_col, rating_col)
        Y = to_csr(Y, model.dtype_, what="y", implicit=False)  # as model.score reads its y
        if Y.nnz:
            err = model._errors(X, Y)
            sse, n = float(np.dot(err, err)), int(err.size)
    return pd.DataFrame({"sse": np.array([sse], dtype=np.float64), "n": np.array([n], dtype=np.int64)})


def gram_partition(data, mapper=None, *, n_items=None, binarize=True, dtype=np.float32, user_col=None, item_col=None,
                   rating_col=None):
    """XᵀX of one partition, float64 (n_items, n_items): ``data`` is a DataFrame of records (rows built
    with ``mapper.transform``; all of each user's records in this partition), a users × items sparse
    block, a ``(user_ids, block)`` pair, or a list of either. The interactions are binarised as
    ``EASE(binarize=...)`` does before the native ``kernels.sparse_gram``; each partition's Gram is
    exact for 0/1 data, so the sum over partitions is ``fit``'s XᵀX."""
    from ..models._base import to_csr

    if isinstance(data, list):
        total = None
        for part in data:
            g = gram_partition(part, mapper, n_items=n_items, binarize=binarize, dtype=dtype, user_col=user_col,
                               item_col=item_col, rating_col=rating_col)
            total = g if total is None else total + g
        return total if total is not None else np.zeros((n_items, n_items))
    if isinstance(data, tuple) and len(data) == 2:
        data = data[1]
    if sp.issparse(data):
        X = data
    else:
        if mapper is None:
            raise ValueError("records need the fitted IdMapper to become rows")
        X, _ = mapper.transform(_records(data, mapper, user_col, item_col, rating_col))
    n = X.shape[1] if n_items is None else int(n_items)
    if X.shape[1] != n:
        raise ValueError(f"a block has {X.shape[1]} item columns, expected {n}")
    if X.shape[0] == 0:
        return np.zeros((n, n))
    X = to_csr(X, np.dtype(dtype), what="a partition", implicit=True, binarize=binarize)
    return kernels.sparse_gram(X, n_threads=1).astype(np.float64)
