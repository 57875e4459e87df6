"""Readers for the rating files the protocols use, and sparse-matrix helpers.

Nothing here downloads anything: every reader takes a path to files you already have (the project's
research-licensed copies live in ``../shared/data``; :func:`shared_data_dir` finds them). Each reader
checks the file and raises a ``ValueError`` naming the file and the offending line when it is malformed.

* :func:`load_ml1m` — MovieLens 1M triples (``ratings_uir.tsv.xz`` or the original ``ratings.dat``);
  :func:`load_ml1m_matrix` — the same as a 6,040 x 3,706 matrix on the rated movies.
* :func:`load_movielens_100k` — MovieLens 100K ``u.data``; :func:`load_ml100k_split` — a fixed fold
  (``u1`` .. ``u5``, ``ua``, ``ub``) as 943 x 1,682 train/test matrices.
* :func:`load_monti` — the Monti et al. Douban / Flixster / Yahoo Music 3000 x 3000 train/test.
* :func:`load_gowalla` — the NGCF/LightGCN Gowalla train/test (``user item item ...`` lines).
* :func:`read_rating_triples` — any delimited ``user item rating [...]`` file (optionally compressed).
* :func:`triples_to_csr` — (user, item, value) arrays to a canonical CSR matrix.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import scipy.sparse as sp

from .._typing import ArrayLike, DTypeLike, StrPath
from .._validation import check_float_dtype
from ..model_selection import RatingSplit
from ._io import readable

__all__ = [
    "shared_data_dir",
    "triples_to_csr",
    "read_rating_triples",
    "load_ml1m",
    "load_ml1m_matrix",
    "load_movielens_100k",
    "load_ml100k_split",
    "load_monti",
    "load_gowalla",
    "RatingSplit",
    "fetch_movielens",
    "load_movielens",
    "load_netflix_prize",
    "ChecksumError",
    "make_synthetic",
]

#: ML-100K's stated shape (``u.info``: 943 users, 1682 items).
ML100K_SHAPE = (943, 1682)
#: Shape of the Monti et al. (2017) matrices M (all three subsets), rows = users.
MONTI_SHAPE = (3000, 3000)
_ML100K_FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")


def shared_data_dir() -> Optional[Path]:
    """Locate the shared data folder.

    Returns
    -------
    pathlib.Path or None
        ``$AEREC_DATA_DIR`` when that variable is set (``None`` if it is not a directory: an explicit
        setting is never second-guessed), otherwise ``../shared/data`` relative to the current working
        directory when it exists, otherwise ``None``.
    """
    env = os.environ.get("AEREC_DATA_DIR")
    if env:
        p = Path(env).expanduser()
        return p.resolve() if p.is_dir() else None
    p = Path.cwd().parent / "shared" / "data"
    return p.resolve() if p.is_dir() else None


# ---- sparse helpers --------------------------------------------------------------------------------


def _int_ids(a, name):
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    if a.size and a.dtype.kind not in "iu":
        raise TypeError(f"{name} must be integer ids, got dtype {a.dtype}")
    a = a.astype(np.int64, copy=False)
    if a.size and a.min() < 0:
        raise ValueError(f"{name} contains a negative id ({int(a.min())}); ids must be 0-based and non-negative")
    return a


def triples_to_csr(users: ArrayLike, items: ArrayLike, values: Optional[ArrayLike] = None,
                   shape: Optional[tuple[int, int]] = None, dtype: DTypeLike = np.float32,
                   duplicates: str = "error") -> sp.csr_array:
    """Build a canonical CSR matrix from (user, item, value) triples.

    Parameters
    ----------
    users, items : array-like of int, shape (n,)
        0-based row and column ids.
    values : array-like of shape (n,), optional
        Stored values (finite); ``None`` stores 1 for every pair (implicit feedback).
    shape : (int, int), optional
        Matrix shape; default ``(max(users) + 1, max(items) + 1)``.
    dtype : float32 or float64, default=float32
        Value dtype.
    duplicates : {"error", "last", "sum", "mean"}, default="error"
        What to do with repeated (user, item) pairs: raise a ``ValueError`` that gives their number,
        keep the last one in input order, or add or average their values.

    Returns
    -------
    scipy.sparse.csr_array
        Canonical (sorted, unique indices), int32 indices when they fit. Zero values are stored as given.
    """
    users, items = _int_ids(users, "users"), _int_ids(items, "items")
    if users.shape != items.shape:
        raise ValueError(f"users has {users.size} entries but items has {items.size}")
    dtype = check_float_dtype(dtype)
    if values is None:
        vals = np.ones(users.size, dtype=np.float64)
    else:
        vals = np.asarray(values, dtype=np.float64)
        if vals.shape != users.shape:
            raise ValueError(f"values has shape {vals.shape}, expected {users.shape}")
        if not np.isfinite(vals).all():
            raise ValueError("values contains NaN or infinite values")
    if duplicates not in ("error", "last", "sum", "mean"):
        raise ValueError(f"duplicates must be 'error', 'last', 'sum' or 'mean', got {duplicates!r}")
    if shape is None:
        shape = (int(users.max(initial=-1)) + 1, int(items.max(initial=-1)) + 1)
    n_rows, n_cols = (int(s) for s in shape)
    if n_rows < 0 or n_cols < 0:
        raise ValueError(f"shape must be non-negative, got {shape}")
    if users.size and users.max() >= n_rows:
        raise ValueError(f"user id {int(users.max())} does not fit shape {shape}")
    if items.size and items.max() >= n_cols:
        raise ValueError(f"item id {int(items.max())} does not fit shape {shape}")

    keys = users * n_cols + items
    order = np.argsort(keys, kind="stable")  # equal keys keep input order ("last" relies on it)
    keys, vals = keys[order], vals[order]
    first = np.r_[True, keys[1:] != keys[:-1]] if keys.size else np.zeros(0, dtype=bool)
    n_dup = int(keys.size - np.count_nonzero(first))
    if n_dup:
        if duplicates == "error":
            raise ValueError(f"{n_dup} duplicate (user, item) pairs; pass duplicates='last', 'sum' or 'mean' "
                             "to combine them")
        starts = np.flatnonzero(first)
        counts = np.diff(np.r_[starts, keys.size])
        if duplicates == "last":
            vals = vals[starts + counts - 1]
        else:
            vals = np.add.reduceat(vals, starts)
            if duplicates == "mean":
                vals = vals / counts
        keys = keys[starts]
    rows, cols = keys // max(n_cols, 1), keys % max(n_cols, 1)
    idx_dtype = np.int32 if max(n_cols, keys.size) < 2**31 else np.int64
    indptr = np.zeros(n_rows + 1, dtype=idx_dtype)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    return sp.csr_array((vals.astype(dtype), cols.astype(idx_dtype), indptr), shape=(n_rows, n_cols))


# ---- file reading ----------------------------------------------------------------------------------


def _open_text(path):
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".xz") or name.endswith(".lzma"):
        return lzma.open(path, "rt", encoding="utf-8")
    if name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    if name.endswith(".bz2"):
        return bz2.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _existing_file(path, what):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what}: no such file {path}")
    return path


def read_rating_triples(path: StrPath, *, delimiter: str = "\t", n_columns: int = 3,
                        id_base: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read a delimited ``user item rating [extra ...]`` file (plain, ``.xz``, ``.gz`` or ``.bz2``).

    Parameters
    ----------
    path : str or path-like
        The file. Blank lines are skipped; every other line must have exactly ``n_columns`` fields.
    delimiter : str, default="\\t"
        Field separator (``"::"`` is accepted for MovieLens ``.dat`` files).
    n_columns : int, default=3
        Fields per line (at least 3: user, item, rating; the rest, e.g. a timestamp, are returned
        in ``extra``).
    id_base : int, default=0
        Smallest valid id (1 for MovieLens' 1-based ids); ids below it are an error. Ids are returned
        as they are in the file.

    Returns
    -------
    users, items : ndarray of int64, shape (n,)
    ratings : ndarray of float64, shape (n,)
    extra : ndarray of float64, shape (n, n_columns - 3)

    Raises
    ------
    ValueError
        Naming the file and line for a line with the wrong number of fields, a non-numeric field,
        a non-integer or out-of-range id, or a non-finite rating.
    """
    path = _existing_file(path, "read_rating_triples")
    if n_columns < 3:
        raise ValueError(f"n_columns must be at least 3, got {n_columns}")
    with readable(path), _open_text(path) as fh, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="loadtxt: input contained no data")
        src, sep = fh, delimiter
        if len(delimiter) != 1:  # loadtxt wants one character: map e.g. "::" to a unit separator
            src, sep = (line.replace(delimiter, "\x1f") for line in fh), "\x1f"
        try:
            table = np.loadtxt(src, delimiter=sep, dtype=np.float64, comments=None, ndmin=2)
        except ValueError as exc:
            raise ValueError(f"{path}: malformed line ({exc})") from None
    if table.size == 0:
        table = table.reshape(0, n_columns)
    if table.shape[1] != n_columns:
        raise ValueError(f"{path}: expected {n_columns} fields per line, found {table.shape[1]}")
    ids = table[:, :2]
    bad = ~np.isfinite(ids) | (ids != np.round(ids)) | (ids < id_base) | (ids >= 2**62)
    if bad.any():
        line = int(np.argmax(bad.any(axis=1)))
        raise ValueError(f"{path}: data line {line + 1} has an invalid id {ids[line].tolist()} "
                         f"(ids must be integers >= {id_base})")
    bad = ~np.isfinite(table[:, 2])
    if bad.any():
        raise ValueError(f"{path}: data line {int(np.argmax(bad)) + 1} has a non-finite rating")
    return (ids[:, 0].astype(np.int64), ids[:, 1].astype(np.int64), table[:, 2].copy(),
            np.ascontiguousarray(table[:, 3:]))


def _in_dir(path, names, what):
    """``path`` itself if it is a file, else the first of ``names`` inside the directory ``path``."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"{what}: {path} is neither a file nor a directory")
    for n in names:
        if (path / n).is_file():
            return path / n
    raise FileNotFoundError(f"{what}: none of {', '.join(names)} in {path}")


# ---- MovieLens -------------------------------------------------------------------------------------


def load_ml1m(path: StrPath) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MovieLens 1M ratings as triples, in file order, with the original 1-based ids.

    Parameters
    ----------
    path : str or path-like
        The ``ml-1m`` directory (``ratings_uir.tsv.xz`` is read, else the original ``ratings.dat``), or
        either file. ``ratings_uir.tsv.xz`` is ``UserID<TAB>MovieID<TAB>Rating`` sorted by user then movie
        (no timestamps); ``ratings.dat`` is ``UserID::MovieID::Rating::Timestamp``.

    Returns
    -------
    users, items : ndarray of int64
        1-based GroupLens ids (movie ids go up to 3952; 3,706 are rated).
    ratings : ndarray of float64
        1..5.
    """
    f = _in_dir(path, ("ratings_uir.tsv.xz", "ratings_uir.tsv", "ratings.dat"), "load_ml1m")
    if f.name.startswith("ratings.dat"):
        u, i, r, _ = read_rating_triples(f, delimiter="::", n_columns=4, id_base=1)
    else:
        u, i, r, _ = read_rating_triples(f, n_columns=3, id_base=1)
    return u, i, r


def load_ml1m_matrix(path: StrPath, dtype: DTypeLike = np.float32) -> tuple[sp.csr_array, np.ndarray, np.ndarray]:
    """MovieLens 1M as a users x rated-movies rating matrix (protocol E1's 6,040 x 3,706).

    Parameters
    ----------
    path : str or path-like
        As for :func:`load_ml1m`.
    dtype : float32 or float64, default=float32

    Returns
    -------
    X : scipy.sparse.csr_array of shape (n_users, n_rated_items)
        Ratings; row ``r`` is user ``user_ids[r]``, column ``c`` is movie ``item_ids[c]``.
    user_ids, item_ids : ndarray of int64
        Original ids in ascending order.
    """
    u, i, r = load_ml1m(path)
    user_ids, uc = np.unique(u, return_inverse=True)
    item_ids, ic = np.unique(i, return_inverse=True)
    X = triples_to_csr(uc.ravel(), ic.ravel(), r, shape=(user_ids.size, item_ids.size), dtype=dtype)
    return X, user_ids, item_ids


def load_movielens_100k(path: StrPath, return_timestamps: bool = False) -> tuple[np.ndarray, ...]:
    """MovieLens 100K ``u.data`` (``user item rating timestamp``, tab-separated) as triples in file order.

    Parameters
    ----------
    path : str or path-like
        The ``ml-100k`` directory or the ``u.data`` file (any file of that format, e.g. ``u1.base``).
    return_timestamps : bool, default=False
        Also return the Unix timestamps.

    Returns
    -------
    users, items : ndarray of int64
        1-based ids (943 users, 1682 items in ``u.data``).
    ratings : ndarray of float64
    timestamps : ndarray of int64
        Only with ``return_timestamps=True``.
    """
    f = _in_dir(path, ("u.data",), "load_movielens_100k")
    u, i, r, extra = read_rating_triples(f, n_columns=4, id_base=1)
    if return_timestamps:
        return u, i, r, extra[:, 0].astype(np.int64)
    return u, i, r


def load_ml100k_split(path: StrPath, fold: str = "u1", dtype: DTypeLike = np.float32) -> RatingSplit:
    """A fixed ML-100K split (``{fold}.base`` / ``{fold}.test``) as 943 x 1,682 rating matrices.

    Parameters
    ----------
    path : str or path-like
        The ``ml-100k`` directory.
    fold : {"u1", "u2", "u3", "u4", "u5", "ua", "ub"}, default="u1"
        ``u1`` is the split GC-MC, IGMC and GLocal-K report on (protocol E2).
    dtype : float32 or float64, default=float32

    Returns
    -------
    RatingSplit
        ``(train, test)`` CSR arrays; row = user id - 1, column = item id - 1.
    """
    if fold not in _ML100K_FOLDS:
        raise ValueError(f"fold must be one of {_ML100K_FOLDS}, got {fold!r}")
    path = Path(path)
    out = []
    for part in ("base", "test"):
        f = _existing_file(path / f"{fold}.{part}", "load_ml100k_split")
        u, i, r, _ = read_rating_triples(f, n_columns=4, id_base=1)
        out.append(triples_to_csr(u - 1, i - 1, r, shape=ML100K_SHAPE, dtype=dtype))
    return RatingSplit(*out)


# ---- Monti et al. subsets, Gowalla ------------------------------------------------------------------


def load_monti(path: StrPath, shape: tuple[int, int] = MONTI_SHAPE, dtype: DTypeLike = np.float32) -> RatingSplit:
    """A Monti et al. (2017) subset (Douban, Flixster, Yahoo Music): the fixed train/test matrices.

    Reads ``ratings_train.tsv`` / ``ratings_test.tsv`` (``user<TAB>item<TAB>rating``, 0-based, rows =
    users, derived from the original ``training_test_dataset.mat``).

    Parameters
    ----------
    path : str or path-like
        The dataset directory (e.g. ``douban_monti``).
    shape : (int, int) or None, default=(3000, 3000)
        All three subsets are 3000 x 3000, but not every user has a rating (Flixster's last rated
        user is 2998, Yahoo Music's 2997), so the maximum ids understate it; ``None`` infers
        ``max id + 1`` over both files instead.
    dtype : float32 or float64, default=float32

    Returns
    -------
    RatingSplit
        ``(train, test)`` CSR arrays (Douban ratings 1..5, Flixster 0.5..5 in half steps, Yahoo 1..100).
    """
    path = Path(path)
    parts = [read_rating_triples(_existing_file(path / f"ratings_{p}.tsv", "load_monti"), n_columns=3)[:3]
             for p in ("train", "test")]
    if shape is None:
        shape = (max(int(p[0].max(initial=-1)) for p in parts) + 1, max(int(p[1].max(initial=-1)) for p in parts) + 1)
    return RatingSplit(*(triples_to_csr(u, i, r, shape=shape, dtype=dtype) for u, i, r in parts))


def _read_adjacency_lists(path):
    """``user item item ...`` lines (whitespace-separated, 0-based) → (users, items, max user id)."""
    users, items, max_user = [], [], -1
    with readable(path), _open_text(path) as fh:
        for lineno, line in enumerate(fh, 1):
            fields = line.split()
            if not fields:
                continue
            try:
                ids = [int(x) for x in fields]
            except ValueError:
                raise ValueError(f"{path}: line {lineno} has a non-integer field: {line.strip()[:80]!r}") from None
            if min(ids) < 0:
                raise ValueError(f"{path}: line {lineno} has a negative id")
            max_user = max(max_user, ids[0])
            users.append(np.full(len(ids) - 1, ids[0], dtype=np.int64))
            items.append(np.asarray(ids[1:], dtype=np.int64))
    if not users:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), max_user
    return np.concatenate(users), np.concatenate(items), max_user


def load_gowalla(path: StrPath, shape: Optional[tuple[int, int]] = None,
                 dtype: DTypeLike = np.float32) -> RatingSplit:
    """The NGCF/LightGCN Gowalla check-ins: fixed train/test interaction matrices (protocol I2).

    Parameters
    ----------
    path : str or path-like
        Directory with ``train.txt`` and ``test.txt``: one line per user, ``user item item ...``
        (whitespace-separated, 0-based ids; a line may list no item).
    shape : (int, int), optional
        Default: ``max id + 1`` over both files (29,858 x 40,981 for the shipped files).
    dtype : float32 or float64, default=float32

    Returns
    -------
    RatingSplit
        ``(train, test)`` CSR arrays of ones. A repeated (user, item) pair within a file is an error.
    """
    path = Path(path)
    parts = []
    for p in ("train", "test"):
        f = _existing_file(path / f"{p}.txt", "load_gowalla")
        parts.append((f, *_read_adjacency_lists(f)))
    if shape is None:  # a user line without items still counts
        shape = (max(m for *_, m in parts) + 1, max(int(i.max(initial=-1)) for _, _, i, _ in parts) + 1)
    out = []
    for f, u, i, _ in parts:
        try:
            out.append(triples_to_csr(u, i, None, shape=shape, dtype=dtype))
        except ValueError as exc:
            raise ValueError(f"{f}: {exc}") from None
    return RatingSplit(*out)


from ._fetch import ChecksumError, fetch_movielens  # noqa: E402
from ._movielens import load_movielens, load_netflix_prize  # noqa: E402
from ._synthetic import SHAPES as SYNTHETIC_SHAPES  # noqa: E402, F401 - re-exported
from ._synthetic import make_synthetic  # noqa: E402
