"""From (user, item[, rating]) records — a pandas DataFrame or plain arrays — to the users × items
CSR matrix the estimators take, and back to the caller's own ids.

``IdMapper`` learns the user and item ids on the training data (strings or integers), turns new
records into rows on the same item columns, and turns ``recommend`` results back into item ids.
Ids it has never seen follow a documented rule (``unknown="error"`` or ``"ignore"`` with a
warning) — never a silent shift of indices. Duplicate (user, item) pairs follow ``duplicates``
("error", "last", "first", "sum" or "mean") — never a silent sum.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from ._validation import check_float_dtype

__all__ = ["IdMapper"]

_DUPLICATES = ("error", "last", "first", "sum", "mean")
_UNKNOWN = ("error", "ignore")


def _columns(data, user_col, item_col, rating_col, require_ratings=True):
    """(users, items, ratings or None) as 1-D arrays from a DataFrame/dict of columns or a tuple.
    With require_ratings=False a missing rating column means "every record is an interaction (1)"."""
    if isinstance(data, tuple):
        if len(data) not in (2, 3):
            raise ValueError("pass (users, items) or (users, items, ratings)")
        cols = [np.asarray(c) for c in data]
    else:
        try:
            cols = [np.asarray(data[user_col]), np.asarray(data[item_col])]
            if rating_col is not None and (require_ratings or rating_col in data):
                cols.append(np.asarray(data[rating_col]))
        except (KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"data must be a DataFrame or mapping with columns {user_col!r} and {item_col!r}"
                             f"{'' if rating_col is None else f' and {rating_col!r}'}, or a tuple of arrays") from exc
    n = cols[0].shape[0]
    for c, name in zip(cols, ("users", "items", "ratings")):
        if c.ndim != 1 or c.shape[0] != n:
            raise ValueError(f"{name} must be 1-D with {n} entries, got shape {c.shape}")
    ratings = cols[2] if len(cols) == 3 else None
    if ratings is not None:
        if ratings.dtype == object or not np.issubdtype(ratings.dtype, np.number) or np.iscomplexobj(ratings):
            raise TypeError(f"ratings must be real numbers, got dtype {ratings.dtype}")
        ratings = ratings.astype(np.float64)
        if not np.isfinite(ratings).all():
            raise ValueError("ratings contain NaN or infinite values")
    for c, name in zip(cols[:2], ("user", "item")):
        if c.dtype.kind == "f" and not np.isfinite(c).all():
            raise ValueError(f"{name} ids contain NaN or infinite values")
        if c.dtype.kind in "cb":
            raise TypeError(f"{name} ids must be integers or strings, got dtype {c.dtype}")
    return cols[0], cols[1], ratings


def _pandas(what):
    try:
        import pandas
    except ImportError:
        raise ImportError(f"{what} returns a pandas DataFrame: install pandas (pip install 'aerec[pandas]')") from None
    return pandas


def _combine(rows, cols, vals, shape, duplicates, dtype):
    """CSR from coordinates under the duplicates rule."""
    if duplicates not in _DUPLICATES:
        raise ValueError(f"duplicates must be one of {_DUPLICATES}, got {duplicates!r}")
    key = rows.astype(np.int64) * shape[1] + cols
    order = np.argsort(key, kind="stable")  # stable: records keep their order within a pair
    key, rows, cols, vals = key[order], rows[order], cols[order], vals[order]
    first = np.ones(key.size, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    n_dup = int(key.size - first.sum())
    if n_dup:
        if duplicates == "error":
            raise ValueError(f"{n_dup} duplicate (user, item) records; "
                             "choose duplicates='last', 'first', 'sum' or 'mean'")
        group = np.cumsum(first) - 1
        if duplicates == "first":
            keep = first
            vals = vals[keep]
        elif duplicates == "last":
            last = np.ones(key.size, dtype=bool)
            last[:-1] = key[1:] != key[:-1]
            keep = last
            vals = vals[keep]
        else:
            sums = np.bincount(group, weights=vals)
            vals = sums if duplicates == "sum" else sums / np.bincount(group)
            keep = first
        rows, cols = rows[keep], cols[keep]
    X = sp.csr_array((vals.astype(dtype), (rows, cols)), shape=shape)
    X.sort_indices()
    return X


class IdMapper:
    """Learns user and item ids and maps records ↔ CSR rows/columns.

    Parameters
    ----------
    user_col, item_col, rating_col : str
        Column names when data is a DataFrame or a mapping (``rating_col=None``: every record is one
        interaction of value 1).
    duplicates : {'error', 'last', 'first', 'sum', 'mean'}
        What to do with repeated (user, item) records.
    unknown : {'error', 'ignore'}
        Records of items never seen in ``fit`` (and, in ``transform_users``, unknown users): raise,
        or drop them with a warning that gives the count.
    dtype : float32 or float64

    Attributes
    ----------
    user_ids_, item_ids_ : ndarray
        The original ids of each row / column, in index order (sorted).

    Examples
    --------
    >>> from aerec.data import IdMapper
    >>> m = IdMapper()
    >>> X = m.fit_transform((["ann", "bob", "ann"], ["x", "y", "y"]))
    >>> X.shape, m.item_ids_.tolist()
    ((2, 2), ['x', 'y'])
    >>> rows, users = m.transform((["cy"], ["y"]))  # a new user: one row on the same item columns
    >>> rows.toarray().tolist(), users.tolist()
    ([[0.0, 1.0]], ['cy'])
    """

    def __init__(self, *, user_col="user", item_col="item", rating_col=None, duplicates="error", unknown="error",
                 dtype=np.float32):
        self.user_col, self.item_col, self.rating_col = user_col, item_col, rating_col
        self.duplicates, self.unknown, self.dtype = duplicates, unknown, dtype

    def _check_params(self):
        if self.duplicates not in _DUPLICATES:
            raise ValueError(f"duplicates must be one of {_DUPLICATES}, got {self.duplicates!r}")
        if self.unknown not in _UNKNOWN:
            raise ValueError(f"unknown must be one of {_UNKNOWN}, got {self.unknown!r}")
        check_float_dtype(self.dtype)

    def fit(self, data):
        self._check_params()
        users, items, _ = _columns(data, self.user_col, self.item_col, self.rating_col)
        if users.size == 0:
            raise ValueError("no records to learn ids from")
        self.user_ids_ = np.unique(users)
        self.item_ids_ = np.unique(items)
        return self

    def fit_transform(self, data):
        """Learn the ids and return the training matrix (rows in ``user_ids_`` order)."""
        self.fit(data)
        users, items, ratings = _columns(data, self.user_col, self.item_col, self.rating_col)
        rows = np.searchsorted(self.user_ids_, users)
        cols = np.searchsorted(self.item_ids_, items)
        vals = np.ones(users.size) if ratings is None else ratings
        return _combine(rows, cols, vals, (self.user_ids_.size, self.item_ids_.size), self.duplicates, self.dtype)

    def _check_fitted(self):
        if not hasattr(self, "item_ids_"):
            raise ValueError("this IdMapper is not fitted yet: call fit or fit_transform first")
        self._check_params()

    def _item_columns(self, items):
        cols = np.searchsorted(self.item_ids_, items)
        cols = np.minimum(cols, self.item_ids_.size - 1)
        known = self.item_ids_[cols] == items
        if not known.all():
            n = int((~known).sum())
            sample = list(np.unique(items[~known])[:5])
            if self.unknown == "error":
                raise ValueError(f"{n} records name items never seen in fit (e.g. {sample}); "
                                 "pass unknown='ignore' to drop them")
            warnings.warn(f"dropped {n} records of items never seen in fit (e.g. {sample})", UserWarning, stacklevel=3)
        return cols, known

    def transform(self, data):
        """Histories of any users (known or new) as rows on the fitted item columns.

        Returns ``(X, user_ids)``: one row per distinct user in ``data`` (sorted ids), to pass to
        ``recommend``/``predict`` of a user-based model. Records without a rating column count as
        interactions of value 1.
        """
        self._check_fitted()
        users, items, ratings = _columns(data, self.user_col, self.item_col, self.rating_col, require_ratings=False)
        cols, known = self._item_columns(items)
        user_ids, rows = np.unique(users, return_inverse=True)
        vals = np.ones(users.size) if ratings is None else ratings
        X = _combine(rows[known], cols[known], vals[known], (user_ids.size, self.item_ids_.size), self.duplicates,
                     self.dtype)
        return X, user_ids

    def transform_users(self, data):
        """Records of the *training* users as rows in the fitted ``user_ids_`` order (for models
        such as item-based AutoRec that need the same rows they were fitted on)."""
        self._check_fitted()
        users, items, ratings = _columns(data, self.user_col, self.item_col, self.rating_col)
        rows = np.minimum(np.searchsorted(self.user_ids_, users), self.user_ids_.size - 1)
        known_user = self.user_ids_[rows] == users
        if not known_user.all():
            n = int((~known_user).sum())
            if self.unknown == "error":
                raise ValueError(f"{n} records name users never seen in fit; pass unknown='ignore' to drop them")
            warnings.warn(f"dropped {n} records of users never seen in fit", UserWarning, stacklevel=2)
        cols, known_item = self._item_columns(items)
        keep = known_user & known_item
        vals = np.ones(users.size) if ratings is None else ratings
        return _combine(rows[keep], cols[keep], vals[keep], (self.user_ids_.size, self.item_ids_.size),
                        self.duplicates, self.dtype)

    def rows(self, user_ids):
        """User ids → their rows in the fitted matrix (``user_ids_`` order), e.g. to slice the training
        matrix for known users. Unknown ids raise, or with ``unknown='ignore'`` get −1 and a warning."""
        self._check_fitted()
        ids = np.asarray(user_ids)
        if ids.ndim != 1:
            raise ValueError(f"user_ids must be 1-D, got shape {ids.shape}")
        string_ids = self.user_ids_.dtype.kind in "USO"
        if ids.size and (ids.dtype.kind in "USO") != string_ids:
            raise TypeError(f"user ids are {'strings' if string_ids else 'integers'} here, got dtype {ids.dtype}")
        rows = np.minimum(np.searchsorted(self.user_ids_, ids), max(self.user_ids_.size - 1, 0))
        known = self.user_ids_[rows] == ids if self.user_ids_.size else np.zeros(ids.shape, dtype=bool)
        if not known.all():
            n = int((~known).sum())
            sample = list(np.unique(ids[~known])[:5])
            if self.unknown == "error":
                raise ValueError(f"{n} user ids were never seen in fit (e.g. {sample}); "
                                 "pass unknown='ignore' to get -1")
            warnings.warn(f"{n} user ids were never seen in fit (e.g. {sample}): row -1", UserWarning, stacklevel=2)
        return np.where(known, rows, -1).astype(np.int64)

    def to_frame(self, user_ids, indices, scores):
        """``recommend``'s ``(indices, scores)`` for the users ``user_ids`` (one per row) as a pandas
        DataFrame with columns user, rank (1 = best), item, score, in the original ids and their dtype.
        Padding (index −1, when a user has fewer than k eligible items) is a missing item (``<NA>`` in
        a nullable integer column for integer ids, None for string ids) with score −inf."""
        pd = _pandas("IdMapper.to_frame")
        self._check_fitted()
        indices, scores = np.asarray(indices), np.asarray(scores)
        user_ids = np.asarray(user_ids)
        if indices.ndim != 2 or scores.shape != indices.shape or user_ids.shape != (indices.shape[0],):
            raise ValueError(f"indices {indices.shape} and scores {scores.shape} must be (n_users, k) with one user id "
                             f"per row, got {user_ids.shape[0] if user_ids.ndim else 0} user ids")
        n, k = indices.shape
        if self.item_ids_.dtype.kind in "iu":  # vectorised: a masked Int64 array, no Python object per row
            flat = self._checked_indices(indices).reshape(-1)
            item_col = pd.arrays.IntegerArray(self.item_ids_[np.maximum(flat, 0)].astype(np.int64), flat < 0)
        else:
            item_col = self.item_ids(indices).reshape(-1)
        return pd.DataFrame({"user": np.repeat(user_ids, k), "rank": np.tile(np.arange(1, k + 1), n),
                             "item": item_col, "score": scores.reshape(-1)})

    def recommend_frame(self, model, data, k=10, **kwargs):
        """Top-``k`` recommendations for the users in the records ``data`` (their histories: known
        users and brand-new ones alike), as ``to_frame``'s DataFrame in the original ids.

        ``kwargs`` go to ``model.recommend`` (``exclude_seen``, ``items``, ``precision`` …). Item-based
        AutoRec scores only its training users: their rows come from ``transform_users``.
        """
        if not getattr(model, "_implicit", True):
            self._require_ratings(data)
        if getattr(model, "_item_based", False):
            X, user_ids = self.transform_users(data), self.user_ids_
        else:
            X, user_ids = self.transform(data)
        indices, scores = model.recommend(X, k=k, **kwargs)
        return self.to_frame(user_ids, indices, scores)

    def _require_ratings(self, data):
        """A rating model reads the histories' ratings: their column must be there (without it every
        record would silently count as a rating of 1)."""
        if isinstance(data, tuple):
            if len(data) != 3:
                raise ValueError("a rating model needs (users, items, ratings) histories")
        elif self.rating_col is None or self.rating_col not in data:
            raise ValueError(f"a rating model needs the histories' ratings: no column {self.rating_col!r} in the "
                             "records (IdMapper(rating_col=...) names it)")

    def get_params(self):
        """The constructor's parameters (stored in model files by ``save(…, mapper=…)``)."""
        return {"user_col": self.user_col, "item_col": self.item_col, "rating_col": self.rating_col,
                "duplicates": self.duplicates, "unknown": self.unknown, "dtype": np.dtype(self.dtype).name}

    def _checked_indices(self, indices):
        """Integer item indices in [-1, n_items) (−1: padding), as an array."""
        self._check_fitted()
        indices = np.asarray(indices)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"indices must be integer item indices, got dtype {indices.dtype}")
        if indices.size and (indices.max() >= self.item_ids_.size or indices.min() < -1):
            raise ValueError(f"item indices must be in [-1, {self.item_ids_.size})")
        return indices

    def item_ids(self, indices):
        """Item indices (e.g. from ``recommend``) → the original item ids; padding (−1) → None."""
        indices = self._checked_indices(indices)
        out = np.empty(indices.shape, dtype=object)
        valid = indices >= 0
        out[valid] = self.item_ids_[indices[valid]]
        out[~valid] = None
        return out
