"""Batch scoring, evaluation and EASE's Gram matrix on Dask (``pip install "aerec[dask]"``).

Each partition runs a plain pandas function of :mod:`aerec.distributed._partition`
(``score_partition`` …), the same one a Spark ``mapInPandas`` calls. The model and the id map go to
the workers once: scattered to every worker (``broadcast=True``) when a ``distributed.Client`` is
active, otherwise as one ``dask.delayed`` key that every partition task references. A user's records
must all be in one partition: the records are shuffled by user first (``shuffle=True``); pass
``shuffle=False`` when they already are (e.g. Parquet written partitioned by user).
"""

from __future__ import annotations

import numpy as np

from ..metrics import _check_k, _summarize
from . import _partition

_EXTRA = 'pip install "aerec[dask]"'


def _dask():
    try:
        import dask
        import dask.dataframe as dd
    except ImportError:
        raise ImportError(f"aerec.distributed.dask needs dask[dataframe] and distributed: {_EXTRA}") from None
    return dask, dd


def _client(client):
    """The given client, else the active distributed client, else None (a local scheduler)."""
    if client is not None:
        return client
    try:
        from distributed import get_client
    except ImportError:
        return None
    try:
        return get_client()
    except ValueError:  # no client: dask's local schedulers run the graph
        return None


def _send(objects, client, broadcast):
    """``objects`` as one reference per object that every partition task shares: futures of data
    scattered to every worker (with a client and ``broadcast``), else ``dask.delayed`` keys."""
    dask, _ = _dask()
    client = _client(client)
    if client is not None and broadcast:
        return [client.scatter(obj, broadcast=True, hash=False) for obj in objects]
    return [dask.delayed(obj, pure=True, traverse=False) for obj in objects]


def _by_user(ddf, user_col, shuffle, shuffle_method):
    if not shuffle:
        return ddf
    return ddf.shuffle(on=user_col, **({} if shuffle_method is None else {"method": shuffle_method}))


def _check_frame(ddf, cols, what):
    _, dd = _dask()
    if not isinstance(ddf, dd.DataFrame):
        raise TypeError(f"{what} must be a dask.dataframe.DataFrame of interaction records, got {type(ddf).__name__}")
    missing = [c for c in cols if c is not None and c not in ddf.columns]
    if missing:
        raise ValueError(f"{what} has no column(s) {missing}; it has {list(ddf.columns)}")


def recommend_dask(model, mapper, ddf, k=10, *, user_col=None, item_col=None, rating_col=None, exclude_seen=True,
                   shuffle=True, shuffle_method=None, client=None, broadcast=True, **recommend_kwargs):
    """Top-``k`` recommendations for every user of a Dask DataFrame of interaction records.

    Parameters
    ----------
    model : a fitted aerec estimator (not item-based AutoRec)
    mapper : aerec.data.IdMapper
        The fitted id map of the model's training data.
    ddf : dask.dataframe.DataFrame
        Records (user, item[, rating]): each user's history; known and new users alike.
    k : int
    user_col, item_col, rating_col : str, optional
        Columns of ``ddf`` (default: the mapper's).
    exclude_seen : bool
    shuffle : bool, default=True
        Shuffle the records by user first, so each user's records are in one partition. ``False``
        when they already are; otherwise a user split over partitions is scored once per partition.
    shuffle_method : str, optional
        Dask's shuffle method (``"p2p"``, ``"tasks"``, ``"disk"``; default: Dask's choice).
    client : distributed.Client, optional
        Where the model is scattered (default: the active client, if any).
    broadcast : bool, default=True
        With a client, scatter the model and the mapper to every worker once (lost only if every
        worker holding them dies); ``False``: ship them as one graph key each (recomputable).
    **recommend_kwargs
        Passed to ``model.recommend`` (``items``, ``precision``, ``batch_size``).

    Returns
    -------
    dask.dataframe.DataFrame
        Lazy; columns user, rank, item, score in the original ids (``IdMapper.to_frame``'s), ``k``
        rows per user, ready for ``to_parquet``.
    """
    user_col = user_col or mapper.user_col
    item_col = item_col or mapper.item_col
    _check_frame(ddf, [user_col, item_col], "ddf")
    _partition._check_model(model)
    meta = _partition.output_meta(mapper, ddf._meta[user_col].dtype, model.dtype_)
    model_ref, mapper_ref = _send([model, mapper], client, broadcast)
    return _by_user(ddf, user_col, shuffle, shuffle_method).map_partitions(
        _partition.score_partition, model_ref, mapper_ref, k, user_col=user_col, item_col=item_col,
        rating_col=rating_col, exclude_seen=exclude_seen, meta=meta, **recommend_kwargs)


def _with_flag(ddf, flag, columns):
    return ddf[columns].assign(**{_partition.TARGET_FLAG: flag})


def evaluate_dask(model, mapper, history_ddf, target_ddf, ks=(20, 50, 100), *, user_col=None, item_col=None,
                  rating_col=None, shuffle=True, shuffle_method=None, client=None, broadcast=True,
                  **recommend_kwargs):
    """Evaluate a model on held-out records, partition by partition.

    Implicit models: the top ``max(ks)`` recommendations from each user's ``history_ddf`` records (the
    history excluded, as ``model.score`` does) against the user's ``target_ddf`` records; per-user hits
    are computed on the workers and gathered (``max(ks) / 8`` bytes and a count per user), then
    averaged by the code of :func:`aerec.metrics.evaluate_rankings`, in sorted user order — the same
    dict, the same numbers, as ``evaluate_rankings(model.recommend(X, max(ks))[0], Y, ks)`` on one
    machine with X, Y the history and target rows of the target's users (``IdMapper.transform``).
    Users with target records but no history are scored from an empty history.

    Rating models (AutoRec, DeepAutoencoder): ``{"rmse": ..., "n_ratings": ...}``, the RMSE of the
    predictions from each user's history at the user's target ratings — sums of squared errors and
    counts reduced over partitions, then the square root: ``-model.score(X, Y)`` up to the order of
    the float64 sums (relative differences of order 1e-15). ``ks`` is ignored.

    The other arguments are :func:`recommend_dask`'s.
    """
    dask, dd = _dask()
    user_col = user_col or mapper.user_col
    item_col = item_col or mapper.item_col
    rating_col = rating_col or mapper.rating_col
    _check_frame(history_ddf, [user_col, item_col], "history_ddf")
    _check_frame(target_ddf, [user_col, item_col], "target_ddf")
    _partition._check_model(model)
    columns = [user_col, item_col]
    if rating_col is not None and rating_col in history_ddf.columns and rating_col in target_ddf.columns:
        columns.append(rating_col)
    elif not model._implicit:
        raise ValueError(f"a rating model needs a rating column ({rating_col!r}) in history_ddf and target_ddf")
    both = dd.concat([_with_flag(history_ddf, False, columns), _with_flag(target_ddf, True, columns)])
    both = _by_user(both, user_col, shuffle, shuffle_method)
    model_ref, mapper_ref = _send([model, mapper], client, broadcast)
    kw = {"user_col": user_col, "item_col": item_col, "rating_col": rating_col}
    if not model._implicit:
        meta = {"sse": np.float64, "n": np.int64}
        parts = both.map_partitions(_partition.squared_errors_partition, model_ref, mapper_ref, meta=meta, **kw)
        sums = _compute(parts.sum(), client)
        n = int(sums["n"])
        if n == 0:
            raise ValueError("the target records hold no ratings to score")
        return {"rmse": float(np.sqrt(float(sums["sse"]) / n)), "n_ratings": n}
    if isinstance(ks, (int, np.integer)):
        ks = [ks]
    ks = [_check_k(k, "ks") for k in ks]
    if not ks:
        raise ValueError("ks is empty")
    k_max = max(ks)
    meta = _partition.hits_meta(both._meta[user_col].dtype, k_max)
    parts = both.map_partitions(_partition.hits_partition, model_ref, mapper_ref, k_max, meta=meta, **kw,
                                **recommend_kwargs)
    frame = _compute(parts, client)
    users = np.asarray(frame["user"])
    order = np.argsort(users, kind="stable")  # sorted ids: the rows' order of IdMapper.transform
    if order.size > 1 and (users[order][1:] == users[order][:-1]).any():
        raise ValueError("a user's records were in several partitions (shuffle=False on records not partitioned "
                         "by user?): each user must be evaluated once")
    hits, n_rel = _partition.unpack_hits(frame.iloc[order], k_max)
    return _summarize(hits, n_rel, ks)


def _compute(collection, client):
    if client is not None:
        return client.compute(collection).result()
    dask, _ = _dask()
    return dask.compute(collection)[0]


def gram_dask(data, mapper=None, *, n_items=None, binarize=True, dtype="float32", user_col=None, item_col=None,
              shuffle=True, shuffle_method=None, client=None, broadcast=True, split_every=8):
    """EASE's Gram matrix XᵀX summed over partitions: ``EASE(...).fit_gram(gram_dask(...))``.

    Parameters
    ----------
    data : dask.dataframe.DataFrame, dask.bag.Bag or list of dask.delayed
        Interaction records (rows built with ``mapper``; shuffled by user first unless
        ``shuffle=False``), or blocks of user rows: a Bag (or delayed objects) whose elements are
        users × items sparse matrices or ``(user_ids, matrix)`` pairs, each user in one block.
    mapper : aerec.data.IdMapper
        Needed for records; ``n_items`` = its number of items.
    n_items : int, optional
        For blocks (default: their number of columns).
    binarize, dtype
        As the ``EASE`` that will be fitted: every positive entry is one interaction (or a weight with
        ``binarize=False``), each partition's product in ``dtype`` by the native ``kernels.sparse_gram``.
    split_every : int
        Partition Gram matrices summed per task of the tree reduction (n_items² float64 each).

    Returns
    -------
    ndarray (n_items, n_items), float64
        For 0/1 data every entry is a whole number, and ``EASE().fit_gram(G).B_`` is bit-identical to
        ``EASE().fit(X).B_`` on the same records; weights (``binarize=False``) are summed in another
        order than ``fit``'s, so B agrees to rounding.
    """
    dask, dd = _dask()
    kw = {"binarize": binarize, "dtype": np.dtype(dtype), "n_items": n_items}
    if isinstance(data, dd.DataFrame):
        if mapper is None:
            raise ValueError("gram_dask on records needs the fitted IdMapper")
        user_col = user_col or mapper.user_col
        item_col = item_col or mapper.item_col
        _check_frame(data, [user_col, item_col], "data")
        kw.update(user_col=user_col, item_col=item_col, n_items=mapper.item_ids_.size)
        data = _by_user(data, user_col, shuffle, shuffle_method)
    (mapper_ref,) = _send([mapper], client, broadcast) if mapper is not None else (None,)
    if hasattr(data, "to_delayed"):
        parts = data.to_delayed()
        if not isinstance(parts, list):
            parts = list(np.ravel(parts))
    else:
        parts = list(data)
    if not parts:
        raise ValueError("no partitions to sum")
    grams = [dask.delayed(_partition.gram_partition)(p, mapper_ref, **kw) for p in parts]
    split_every = max(2, int(split_every))
    while len(grams) > 1:
        grams = [dask.delayed(_sum)(grams[i:i + split_every]) for i in range(0, len(grams), split_every)]
    return _compute(grams[0], _client(client))


def _sum(arrays):
    total = np.array(arrays[0], dtype=np.float64, copy=True)
    for a in arrays[1:]:
        total += a
    return total
