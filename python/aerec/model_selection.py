"""Splitters for the evaluation protocols of ``docs/PROTOCOLS.md`` (the user guide's protocols page).

* :func:`random_rating_split` / :func:`holdout_ratings` — protocol E1 (and the validation hold-out of
  E1/E2): a seeded random split of the *stored ratings* of a users x items matrix.
* :func:`holdout_users` — the validation hold-out of protocol I1 inside a training set: a seeded share
  of the users, each split into fold-in and target items.
* :func:`strong_generalization_split` — protocol I1, the Mult-VAE preprocessing of Liang et al. (2018)
  reproduced step by step (same filtering, same random draws, same row and column order).

Everything is NumPy/SciPy; matrices come back as canonical ``scipy.sparse.csr_array``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import NamedTuple, Optional

import numpy as np
import scipy.sparse as sp

from ._typing import ArrayLike, MatrixLike, RandomStateLike
from ._validation import check_scalar, check_sparse_structure

__all__ = [
    "RatingSplit",
    "random_rating_split",
    "holdout_ratings",
    "holdout_users",
    "holdout_items",
    "StrongGeneralizationSplit",
    "strong_generalization_split",
]


class RatingSplit(NamedTuple):
    """A train/test pair of sparse matrices with the same shape (unpacks as ``train, test``)."""

    train: sp.csr_array
    test: sp.csr_array


# ---- E1: random split of the stored ratings -------------------------------------------------------


def _to_csr(X, name="X"):
    """Canonical CSR copy-on-need of ``X`` without explicit zeros (0 = unobserved)."""
    if sp.issparse(X):
        check_sparse_structure(X, name)  # SciPy trusts the index arrays: check them first
        A = sp.csr_array(X)
    else:
        a = np.asarray(X)
        if a.ndim != 2:
            raise ValueError(f"{name} must be 2-D (n_users, n_items), got shape {a.shape}")
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")
        A = sp.csr_array(a)
    if A.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {A.dtype}")
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_users, n_items), got shape {A.shape}")
    copied = False
    if not A.has_canonical_format:
        A = A.copy()
        copied = True
        A.sum_duplicates()
    data = np.asarray(A.data)
    if data.dtype.kind == "f" and not np.isfinite(data).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if np.any(data == 0):
        if not copied:
            A = A.copy()
        A.eliminate_zeros()
    return A


def _rng(random_state):
    if random_state is None or isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return np.random.RandomState(random_state)
    if isinstance(random_state, (np.random.RandomState, np.random.Generator)):
        return random_state
    raise TypeError(f"random_state must be None, an int, a numpy RandomState or Generator, got {random_state!r}")


def _mask_csr(A, keep):
    """The entries of canonical CSR ``A`` where ``keep`` (one bool per stored entry), still canonical."""
    n_rows = A.shape[0]
    rows = np.repeat(np.arange(n_rows), np.diff(A.indptr))
    indptr = np.zeros(n_rows + 1, dtype=A.indptr.dtype)
    np.cumsum(np.bincount(rows[keep], minlength=n_rows), out=indptr[1:])
    return sp.csr_array((np.asarray(A.data)[keep], np.asarray(A.indices)[keep], indptr), shape=A.shape)


def random_rating_split(X: MatrixLike, test_size: float = 0.1, random_state: RandomStateLike = 0) -> RatingSplit:
    """Split the stored ratings of ``X`` at random into train and test (protocol E1).

    Parameters
    ----------
    X : sparse matrix or ndarray of shape (n_users, n_items)
        Ratings; stored nonzero entries are the ratings (explicit zeros are dropped).
    test_size : float in (0, 1) or int, default=0.1
        Fraction of the ratings in the test part (rounded up, as scikit-learn's ``train_test_split``
        does), or their number.
    random_state : int, None, numpy RandomState or Generator, default=0
        Seed of the permutation of the ratings (``RandomState(seed).permutation(nnz)``, ratings in CSR
        order); the same seed gives the same split.

    Returns
    -------
    RatingSplit
        ``(train, test)``: disjoint canonical CSR arrays of ``X``'s shape and dtype whose sum is ``X``.

    Notes
    -----
    Input rules: values must be real and finite (bool is read as 0/1; complex, object and string
    arrays raise ``TypeError``); duplicate entries of a non-canonical sparse matrix are summed first,
    as SciPy does; an empty matrix gives two empty parts.
    """
    return _split_ratings(X, test_size, random_state, "test_size")


def _split_ratings(X, test_size, random_state, _size_name):
    A = _to_csr(X)
    nnz = A.nnz
    if isinstance(test_size, numbers.Integral) and not isinstance(test_size, bool):
        n_test = int(check_scalar(test_size, _size_name, kind=numbers.Integral, low=0, high=nnz))
    else:
        check_scalar(test_size, _size_name, low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        n_test = int(math.ceil(float(test_size) * nnz))
    perm = _rng(random_state).permutation(nnz)
    test_mask = np.zeros(nnz, dtype=bool)
    test_mask[perm[:n_test]] = True
    return RatingSplit(_mask_csr(A, ~test_mask), _mask_csr(A, test_mask))


def holdout_ratings(X: MatrixLike, fraction: float, random_state: RandomStateLike = 0) -> RatingSplit:
    """Hold out a seeded random ``fraction`` of the stored ratings (validation for early stopping).

    Same as :func:`random_rating_split` with ``test_size=fraction``.

    Parameters
    ----------
    X : sparse matrix or ndarray of shape (n_users, n_items)
        Training ratings.
    fraction : float in (0, 1) or int
        Share (or number) of the ratings held out.
    random_state : int, None, numpy RandomState or Generator, default=0
        Seed.

    Returns
    -------
    RatingSplit
        ``(train, test)`` where ``test`` is the held-out (validation) part.
    """
    return _split_ratings(X, fraction, random_state, "fraction")


def holdout_items(X: MatrixLike, fraction: float = 0.2, random_state: RandomStateLike = 0, *,
                  min_items: int = 2) -> RatingSplit:
    """Split every user's stored entries into a history and a held-out part (the same users).

    What ``score(X)`` does without ``y``, and what a user needs to score a model on users it was
    not fitted on: each row with at least ``min_items`` entries gives ``max(1, round(fraction · n))``
    of its n entries, drawn at random, to the held-out part; shorter rows stay whole in the history.

    Parameters
    ----------
    X : sparse matrix or ndarray of shape (n_users, n_items)
        Interactions or ratings; stored nonzero entries are the entries.
    fraction : float in (0, 1), default=0.2
        Share of each row held out.
    random_state : int, None, numpy RandomState or Generator, default=0
        Seed; the same seed gives the same split.
    min_items : int, default=2
        Rows with fewer entries are not split.

    Returns
    -------
    RatingSplit
        ``(history, heldout)``: disjoint canonical CSR arrays of X's shape whose sum is X.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from aerec.model_selection import holdout_items
    >>> X = sp.random(50, 30, density=0.3, format="csr", random_state=0)
    >>> history, heldout = holdout_items(X, 0.2, random_state=0)
    >>> (history + heldout != X).nnz, heldout.shape
    (0, (50, 30))
    """
    check_scalar(fraction, "fraction", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_scalar(min_items, "min_items", kind=numbers.Integral, low=1)
    A = _to_csr(X)
    rng = _rng(random_state)
    counts = np.diff(A.indptr)
    n_held = np.where(counts >= min_items, np.maximum(1, np.round(fraction * counts)).astype(np.int64), 0)
    n_held = np.minimum(n_held, np.maximum(counts - 1, 0))  # a split row keeps at least one entry of history
    keys = rng.random_sample(A.nnz) if isinstance(rng, np.random.RandomState) else rng.random(A.nnz)
    rows = np.repeat(np.arange(A.shape[0]), counts)
    # within each row, the entries with the n_held smallest keys are held out
    order = np.lexsort((keys, rows))
    rank = np.empty(A.nnz, dtype=np.int64)
    rank[order] = np.arange(A.nnz) - np.repeat(A.indptr[:-1], counts)
    held = rank < n_held[rows]
    return RatingSplit(_mask_csr(A, ~held), _mask_csr(A, held))


def holdout_users(X: MatrixLike, fraction: float, random_state: RandomStateLike = None, *, target_prop: float = 0.2,
                  min_items: int = 5, _name: str = "fraction") -> tuple[sp.csr_array, sp.csr_array, sp.csr_array]:
    """Hold out a seeded share of the users (rows) of ``X``, each split into fold-in and target items.

    The validation set of the implicit models' early stopping: a held-out user's history is folded
    in and its targets are ranked, as in protocol I1.

    Parameters
    ----------
    X : sparse matrix of shape (n_users, n_items)
        Interactions, canonical CSR (sorted indices, no duplicates).
    fraction : float
        Share of the users held out, rounded to the nearest user count; at least one user must be
        held out and one kept.
    random_state : int, None, numpy RandomState or Generator
        Seed: first a permutation of the users, then each held-out user's target draw.
    target_prop : float, default=0.2
        Share of a held-out user's items drawn as its target (rounded down).
    min_items : int, default=5
        Users with fewer items keep them all as fold-in (empty target row).

    Returns
    -------
    train, fold_in, target : csr_array
        The kept users' rows (in their original order), and the held-out users' fold-in and target
        rows (in ascending user order), the latter two of shape (n_heldout, n_items).
    """
    rng = _rng(random_state)
    n = X.shape[0]
    n_val = int(round(fraction * n))
    if not 1 <= n_val < n:
        raise ValueError(f"{_name}={fraction} leaves no training or no validation users ({n} users)")
    perm = rng.permutation(n)
    val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    V = X[val].tocoo()
    target = np.zeros(V.nnz, dtype=bool)
    order = np.argsort(V.row, kind="stable")
    counts = np.bincount(V.row, minlength=n_val)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    for u in range(n_val):
        c = counts[u]
        if c >= min_items:
            pick = rng.choice(c, size=int(target_prop * c), replace=False)
            target[order[starts[u] + pick]] = True
    shape = (n_val, X.shape[1])
    fold_in = sp.csr_array((V.data[~target], (V.row[~target], V.col[~target])), shape=shape)
    tgt = sp.csr_array((V.data[target], (V.row[target], V.col[target])), shape=shape)
    return X[train], fold_in, tgt


# ---- I1: strong generalisation (Mult-VAE preprocessing) ------------------------------------------

#: The reference splits a held-out user's items only when the user has at least this many.
_MIN_ITEMS_TO_SPLIT = 5


@dataclass(eq=False)
class StrongGeneralizationSplit:
    """The matrices of protocol I1 (all canonical float32 CSR with values 1).

    Attributes
    ----------
    train : csr_array of shape (n_train_users, n_items)
        Every interaction of the training users; rows in ``train_user_ids`` order.
    val_fold_in, val_target : csr_array of shape (n_heldout_users, n_items)
        Validation users' fold-in input and held-out target; rows in ``val_user_ids`` order. Users
        with fewer than 5 items (after restriction to the item set) have an empty target row.
    test_fold_in, test_target : csr_array of shape (n_heldout_users, n_items)
        The same for the test users (``test_user_ids``).
    item_ids : ndarray of shape (n_items,)
        Original item id of each column (order of first appearance among training interactions).
    train_user_ids, val_user_ids, test_user_ids : ndarray
        Original user id of each row (the order of the seeded permutation).
    """

    train: sp.csr_array
    val_fold_in: sp.csr_array
    val_target: sp.csr_array
    test_fold_in: sp.csr_array
    test_target: sp.csr_array
    item_ids: np.ndarray
    train_user_ids: np.ndarray
    val_user_ids: np.ndarray
    test_user_ids: np.ndarray

    @property
    def n_items(self) -> int:
        """Number of items (columns)."""
        return int(self.item_ids.shape[0])


def _ones_csr(rows, cols, shape):
    """Canonical float32 CSR with a 1 at each (row, col) (pairs are unique)."""
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    idx_dtype = np.int32 if max(shape[1], rows.size) < 2**31 else np.int64
    indptr = np.zeros(shape[0] + 1, dtype=idx_dtype)
    np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
    return sp.csr_array((np.ones(rows.size, dtype=np.float32), cols.astype(idx_dtype), indptr), shape=shape)


def _draw_targets(user_codes, seed, test_prop):
    """Target mask for one held-out group, drawn exactly as the reference does.

    ``user_codes``: the group's interactions (restricted to the item set) in data order, as user codes
    ascending in user id. The reference (``split_train_test_proportion``) calls
    ``np.random.seed(98765)``, then walks the users in ascending id order (pandas ``groupby``), each
    user's rows in data order, and for a user with ``n >= 5`` items marks
    ``np.random.choice(n, size=int(test_prop * n), replace=False)`` as the target.
    """
    rng = np.random.RandomState(seed)
    order = np.argsort(user_codes, kind="stable")  # groupby: users by id, rows in data order
    u_sorted = user_codes[order]
    is_target = np.zeros(u_sorted.size, dtype=bool)
    if u_sorted.size:
        starts = np.flatnonzero(np.r_[True, u_sorted[1:] != u_sorted[:-1]])
        ends = np.r_[starts[1:], u_sorted.size]
        for s, e in zip(starts.tolist(), ends.tolist()):
            n = e - s
            if n >= _MIN_ITEMS_TO_SPLIT:
                is_target[s + rng.choice(n, size=int(test_prop * n), replace=False).astype(np.int64)] = True
    out = np.zeros(user_codes.size, dtype=bool)
    out[order] = is_target
    return out


def strong_generalization_split(users: ArrayLike, items: ArrayLike, ratings: Optional[ArrayLike] = None, *,
                                n_heldout_users: int, threshold: float = 3.5, min_user_count: int = 5,
                                min_item_count: int = 0, test_prop: float = 0.2,
                                seed: int = 98765) -> StrongGeneralizationSplit:
    """Protocol I1: the strong-generalisation split of the Mult-VAE reference code.

    Reproduces the preprocessing of Liang et al., "Variational autoencoders for collaborative
    filtering" (WWW 2018; notebook ``VAE_ML20M_WWW2018.ipynb``) without pandas, step by step:

    1. keep the interactions with ``rating > threshold`` (when ``ratings`` is given);
    2. drop items with fewer than ``min_item_count`` interactions (if > 0), then users with fewer than
       ``min_user_count`` (``filter_triplets``);
    3. permute the remaining user ids, sorted ascending, with ``np.random.seed(seed)`` /
       ``np.random.permutation(n_users)``; the first ``n_users - 2 * n_heldout_users`` are training
       users, the next ``n_heldout_users`` validation users, the last ``n_heldout_users`` test users;
    4. the item set is the items of the training users' interactions in order of first appearance
       (``pd.unique``); held-out users' interactions with other items are dropped;
    5. for the validation users and then, separately, the test users (``split_train_test_proportion``,
       which calls ``np.random.seed(98765)`` afresh each time — here ``seed``): walk the users in
       ascending id order, each user's interactions in input order; a user with ``n >= 5`` items gets
       ``np.random.choice(n, size=int(test_prop * n), replace=False)`` of them as the target and the rest
       as fold-in input; a user with fewer than 5 has everything as fold-in (and no target).

    Rows of every matrix follow the permuted user order (the reference's ``profile2id``), columns
    the item order of step 4 (``show2id``), as the reference's saved CSV files and loaders give them.
    Held-out users left with no item at all keep an (empty) row.

    Parameters
    ----------
    users, items : array-like of shape (n_interactions,)
        User and item ids (any sortable values, typically integers), e.g. from
        :func:`aerec.datasets.load_ml1m`. The input order matters (steps 4 and 5), as in the reference.
    ratings : array-like of shape (n_interactions,), optional
        Ratings, binarised with ``> threshold``; ``None`` keeps every interaction.
    n_heldout_users : int
        Number of validation users and of test users (the reference uses 10,000 on ML-20M; use 600 on
        ML-1M).
    threshold : float, default=3.5
        Keep ratings strictly above it.
    min_user_count : int, default=5
        Minimum interactions per user (after item filtering).
    min_item_count : int, default=0
        Minimum interactions per item (0 = no item filtering, as in the reference).
    test_prop : float, default=0.2
        Share of each held-out user's items that becomes the target (floored).
    seed : int, default=98765
        The reference's seed, for the user permutation and for each held-out group's draws.

    Returns
    -------
    StrongGeneralizationSplit

    Raises
    ------
    ValueError
        On mismatched lengths, duplicate (user, item) pairs after binarisation, or when fewer than
        ``2 * n_heldout_users + 1`` users remain after filtering.
    """
    users = np.asarray(users)
    items = np.asarray(items)
    if users.ndim != 1 or items.ndim != 1 or users.shape != items.shape:
        raise ValueError(f"users and items must be 1-D of the same length, got shapes {users.shape} and {items.shape}")
    for ids, what in ((users, "users"), (items, "items")):
        if ids.dtype.kind == "c":
            raise TypeError(f"{what} must be integer or string ids, got dtype {ids.dtype}")
        if ids.dtype.kind == "f" and not np.isfinite(ids).all():
            raise ValueError(f"{what} contains NaN or infinite ids")
        if ids.dtype.kind == "O":
            try:
                np.unique(ids)
            except TypeError as exc:
                raise TypeError(f"{what} must be ids of one sortable kind "
                                f"(all integers or all strings): {exc}") from None
    n_heldout_users = int(check_scalar(n_heldout_users, "n_heldout_users", kind=numbers.Integral, low=0))
    min_user_count = int(check_scalar(min_user_count, "min_user_count", kind=numbers.Integral, low=0))
    min_item_count = int(check_scalar(min_item_count, "min_item_count", kind=numbers.Integral, low=0))
    test_prop = float(check_scalar(test_prop, "test_prop", low=0.0, high=1.0))
    seed = int(check_scalar(seed, "seed", kind=numbers.Integral, low=0, high=2**32 - 1))
    if ratings is not None:
        ratings = np.asarray(ratings)
        if ratings.dtype.kind not in "iuf":
            raise TypeError(f"ratings must be real numbers, got dtype {ratings.dtype}")
        ratings = ratings.astype(np.float64, copy=False)
        if ratings.shape != users.shape:
            raise ValueError(f"ratings has shape {ratings.shape}, expected {users.shape}")
        if not np.isfinite(ratings).all():
            raise ValueError("ratings contains NaN or infinite values")
        threshold = float(check_scalar(threshold, "threshold"))
        keep = ratings > threshold
        users, items = users[keep], items[keep]

    # Integer codes in sorted-id order (the order pandas' groupby/value counts index uses).
    user_ids, u = np.unique(users, return_inverse=True)
    item_ids_all, it = np.unique(items, return_inverse=True)
    u, it = u.ravel().astype(np.int64), it.ravel().astype(np.int64)
    if u.size:
        pair = np.sort(u * item_ids_all.size + it)
        n_dup = int(np.count_nonzero(pair[1:] == pair[:-1]))
        if n_dup:
            raise ValueError(f"{n_dup} duplicate (user, item) interactions after binarisation; "
                             "deduplicate them first (the protocol counts each pair once)")

    # filter_triplets: items first, then users.
    if min_item_count > 0:
        keep = np.bincount(it, minlength=item_ids_all.size)[it] >= min_item_count
        u, it = u[keep], it[keep]
    if min_user_count > 0:
        keep = np.bincount(u, minlength=user_ids.size)[u] >= min_user_count
        u, it = u[keep], it[keep]
    unique_users = np.flatnonzero(np.bincount(u, minlength=user_ids.size))  # codes, ascending id order
    n_users = unique_users.size
    if n_users < 2 * n_heldout_users + 1:
        raise ValueError(f"{n_users} users remain after filtering; need more than 2 * n_heldout_users = "
                         f"{2 * n_heldout_users}")

    perm_users = unique_users[np.random.RandomState(seed).permutation(n_users)]
    n_train = n_users - 2 * n_heldout_users
    tr_users, vd_users, te_users = (perm_users[:n_train], perm_users[n_train:n_train + n_heldout_users],
                                    perm_users[n_train + n_heldout_users:])
    role = np.full(user_ids.size, -1, dtype=np.int8)
    row = np.zeros(user_ids.size, dtype=np.int64)
    for r, grp in enumerate((tr_users, vd_users, te_users)):
        role[grp] = r
        row[grp] = np.arange(grp.size)
    urole = role[u]

    # Item set: training users' items in order of first appearance (pd.unique).
    tr_mask = urole == 0
    tr_items = it[tr_mask]
    seen_codes, first = np.unique(tr_items, return_index=True)
    item_codes = seen_codes[np.argsort(first)]
    col_of = np.full(item_ids_all.size, -1, dtype=np.int64)
    col_of[item_codes] = np.arange(item_codes.size)
    n_items = item_codes.size

    train = _ones_csr(row[u[tr_mask]], col_of[tr_items], (n_train, n_items))
    parts = []
    for r, grp in ((1, vd_users), (2, te_users)):
        mask = (urole == r) & (col_of[it] >= 0)
        rows, cols = row[u[mask]], col_of[it[mask]]
        is_target = _draw_targets(u[mask], seed, test_prop)
        shape = (grp.size, n_items)
        parts.append(_ones_csr(rows[~is_target], cols[~is_target], shape))
        parts.append(_ones_csr(rows[is_target], cols[is_target], shape))
    return StrongGeneralizationSplit(
        train=train, val_fold_in=parts[0], val_target=parts[1], test_fold_in=parts[2], test_target=parts[3],
        item_ids=item_ids_all[item_codes], train_user_ids=user_ids[tr_users], val_user_ids=user_ids[vd_users],
        test_user_ids=user_ids[te_users])
