"""Readers for every MovieLens release's rating file and for the Netflix Prize data, all returning
``(users, items, ratings)`` arrays in file order (original ids) for ``aerec.data.IdMapper`` or
``triples_to_csr``.

* ``load_movielens(path)`` — 100K ``u.data`` (tab-separated), 1M/10M ``ratings.dat``
  (``::``-separated), 20M/25M/32M/latest ``ratings.csv`` (comma-separated, with a header); ``path``
  may be the release folder or the file.
* ``load_netflix_prize(path)`` — the Netflix Prize ``training_set`` per-movie files
  (``mv_0000001.txt``: a ``<movie id>:`` line, then ``customer,rating,date`` lines) or the combined
  ``combined_data_*.txt`` files (several ``<movie id>:`` blocks); also NVIDIA DeepRecommender's
  ``customer<TAB>movie<TAB>rating`` partitions (``layout="deeprec"``).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path

import numpy as np

from ._io import readable


def _open(path):
    name = str(path)
    for suffix, fn in ((".gz", gzip.open), (".xz", lzma.open), (".bz2", bz2.open)):
        if name.endswith(suffix):
            return fn(path, "rt", encoding="utf-8", errors="strict")
    return open(path, encoding="utf-8", errors="strict")


_MOVIELENS_FILES = ("ratings.csv", "ratings.dat", "u.data")


def load_movielens(path):
    """(users, items, ratings) of a MovieLens release (100K, 1M, 10M, 20M, 25M, 32M, latest).

    The format is chosen by the file name: ``u.data`` (tab), ``ratings.dat`` (``::``),
    ``ratings.csv`` (comma, header ``userId,movieId,rating,timestamp``). Ids are MovieLens' own.
    """
    path = Path(path)
    if path.is_dir():
        for name in _MOVIELENS_FILES:
            for cand in (path / name, *(path / (name + s) for s in (".gz", ".xz", ".bz2"))):
                if cand.exists():
                    path = cand
                    break
            if not path.is_dir():
                break
        else:
            raise FileNotFoundError(f"{path}: no {', '.join(_MOVIELENS_FILES)} in this folder")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    base = path.name
    for suffix in (".gz", ".xz", ".bz2"):
        base = base[: -len(suffix)] if base.endswith(suffix) else base
    sep = {"ratings.csv": ",", "ratings.dat": "::", "u.data": "\t"}.get(base)
    if sep is None:
        raise ValueError(f"{path.name}: not a MovieLens rating file ({', '.join(_MOVIELENS_FILES)})")
    users, items, ratings = [], [], []
    with readable(path), _open(path) as fh:
        for n, line in enumerate(fh, start=1):
            line = line.strip()
            if not line or (n == 1 and line.lower().startswith("userid")):
                continue
            fields = line.split(sep)
            if len(fields) < 3:
                raise ValueError(f"{path}:{n}: expected user{sep}item{sep}rating[...], got {line[:80]!r}")
            try:
                users.append(int(fields[0]))
                items.append(int(fields[1]))
                ratings.append(float(fields[2]))
            except ValueError:
                raise ValueError(f"{path}:{n}: non-numeric field in {line[:80]!r}") from None
    r = np.asarray(ratings)
    if not np.isfinite(r).all():
        raise ValueError(f"{path}: non-finite rating")
    return np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64), r


def load_netflix_prize(path, layout="prize"):
    """(users, items, ratings) of the Netflix Prize data; items are movie ids, users customer ids.

    path : a file or a folder of files (``mv_*.txt`` / ``combined_data_*.txt`` for
        ``layout="prize"``, ``part-*.txt`` for ``layout="deeprec"``), optionally compressed.
    """
    path = Path(path)
    if path.is_dir():
        pattern = ("mv_*.txt*", "combined_data_*.txt*") if layout == "prize" else ("part-*.txt*",)
        files = sorted(f for p in pattern for f in path.glob(p))
        if not files:
            raise FileNotFoundError(f"{path}: no Netflix Prize files ({', '.join(pattern)})")
    elif path.exists():
        files = [path]
    else:
        raise FileNotFoundError(f"{path} does not exist")
    if layout not in ("prize", "deeprec"):
        raise ValueError(f"layout must be 'prize' or 'deeprec', got {layout!r}")
    users, items, ratings = [], [], []
    for f in files:
        movie = None
        with readable(f), _open(f) as fh:
            for n, line in enumerate(fh, start=1):
                line = line.strip()
                if not line:
                    continue
                try:
                    if layout == "deeprec":
                        c, m, r = line.split("\t")[:3]
                        users.append(int(c))
                        items.append(int(m))
                        ratings.append(float(r))
                    elif line.endswith(":"):
                        movie = int(line[:-1])
                    else:
                        if movie is None:
                            raise ValueError("a rating line before any '<movie id>:' line")
                        c, r = line.split(",")[:2]
                        users.append(int(c))
                        items.append(movie)
                        ratings.append(float(r))
                except ValueError as exc:
                    raise ValueError(f"{f}:{n}: malformed line {line[:80]!r} ({exc})") from None
                if ratings and not np.isfinite(ratings[-1]):
                    raise ValueError(f"{f}:{n}: non-finite rating in {line[:80]!r}")
    return np.asarray(users, dtype=np.int64), np.asarray(items, dtype=np.int64), np.asarray(ratings)
