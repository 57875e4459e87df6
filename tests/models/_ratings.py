"""Rating data for the explicit-model tests: ML-100K u1 (when ../shared/data has it) and a small
seeded low-rank rating matrix that needs no files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

#: $AEREC_DATA_DIR (as aerec.datasets reads it), else ../shared/data beside the repository.
ML100K = Path(os.environ.get("AEREC_DATA_DIR") or Path(__file__).resolve().parents[3] / "shared" / "data") / "ml-100k"


def read_ml100k(name):
    """``u1.base``-style file (user<TAB>item<TAB>rating<TAB>timestamp, 1-based ids) → 943 × 1682 CSR."""
    path = ML100K / name
    if not path.exists():
        pytest.skip(f"ML-100K is not available ({path} is absent)")
    a = np.loadtxt(path, dtype=np.int64, usecols=(0, 1, 2))
    return sp.csr_array((a[:, 2].astype(np.float32), (a[:, 0] - 1, a[:, 1] - 1)), shape=(943, 1682))


def synthetic_ratings(n_users=120, n_items=80, density=0.25, rank=3, seed=0):
    """Ratings 1..5 from a planted low-rank model plus noise, ``density`` of the pairs observed."""
    rng = np.random.default_rng(seed)
    U, V = rng.standard_normal((n_users, rank)), rng.standard_normal((rank, n_items))
    full = np.clip(np.rint(3.2 + 0.8 * (U @ V) / np.sqrt(rank) + 0.3 * rng.standard_normal((n_users, n_items))), 1, 5)
    mask = rng.random((n_users, n_items)) < density
    return sp.csr_array(np.where(mask, full, 0.0).astype(np.float32))


def split_entries(X, fraction=0.2, seed=0):
    """(train, test) CSR arrays partitioning X's stored ratings."""
    coo = X.tocoo()
    test = np.random.default_rng(seed).random(coo.nnz) < fraction
    part = lambda m: sp.csr_array((coo.data[m], (coo.row[m], coo.col[m])), shape=X.shape)  # noqa: E731
    return part(~test), part(test)
