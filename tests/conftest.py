"""Shared fixtures and helpers for the aerec test suite.

Inputs handed to the kernels are read-only (the kernels must never write to them) and sparse
inputs are canonical scipy CSR arrays with explicitly chosen index dtypes.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from aerec import _native

#: The CPU variants built and supported on this machine, most capable first.
ISAS = list(_native.available_isas())
DTYPES = [np.float32, np.float64]
INDEX_DTYPES = [np.int32, np.int64]
THREADS = [1, 2, 3]


@pytest.fixture(params=ISAS)
def isa(request):
    """Run the test body with one CPU variant active (parametrized over every available one)."""
    with _native.use_isa(request.param):
        assert _native.active_isa() == request.param
        yield request.param


def readonly(a, dtype=None):
    """A read-only, C-contiguous copy of ``a`` (optionally cast to ``dtype``)."""
    b = np.array(a, dtype=dtype, copy=True, order="C")
    b.flags.writeable = False
    return b


def writable(a, dtype=None):
    """A writable, C-contiguous copy of ``a``."""
    return np.array(a, dtype=dtype, copy=True, order="C")


def tol(dtype, scale=1.0):
    """(rtol, atol) for comparing a native result of ``dtype`` to a float64 oracle.

    ``scale`` is the magnitude of the values compared; atol grows with it.
    """
    scale = max(1.0, float(scale))
    if np.dtype(dtype) == np.float32:
        return 2e-4, 2e-5 * scale
    return 1e-10, 1e-12 * scale


def assert_close(got, want, dtype, *, scale=None, err_msg=""):
    """assert_allclose with ``tol(dtype)``; atol scaled by the oracle's magnitude by default."""
    want = np.asarray(want, dtype=np.float64)
    if scale is None:
        scale = float(np.max(np.abs(want[np.isfinite(want)]), initial=0.0))
    rtol, atol = tol(dtype, scale)
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), want, rtol=rtol, atol=atol, err_msg=err_msg)


def freeze_csr(A, index_dtype):
    """Set ``A``'s indptr/indices to ``index_dtype`` and make data/indices/indptr read-only."""
    A.indptr = np.array(A.indptr, dtype=index_dtype)
    A.indices = np.array(A.indices, dtype=index_dtype)
    A.data = np.array(A.data)
    for arr in (A.data, A.indices, A.indptr):
        arr.flags.writeable = False
    return A


def make_csr(n_rows, n_cols, density, dtype, index_dtype, seed, *, special=True, values=(0.5, 2.0)):
    """A random canonical ``csr_array`` (n_rows, n_cols) with read-only arrays of the given dtypes.

    With ``special=True`` (and enough rows/columns) the matrix contains:
      * row 0: empty;
      * row 1: every item except the never-used one (a full row — every *used* item);
      * row 2: a single item;
      * one column (item) that no row uses (chosen from the seed).
    Values are uniform in ``values`` (strictly positive, so a stored entry is never a zero).
    """
    rng = np.random.default_rng(seed)
    unused = int(rng.integers(n_cols)) if (special and n_cols >= 2) else None
    usable = np.array([j for j in range(n_cols) if j != unused], dtype=np.int64)
    rows = []
    for r in range(n_rows):
        if special and r == 0:
            cols = np.empty(0, dtype=np.int64)
        elif special and r == 1:
            cols = usable
        elif special and r == 2 and usable.size:
            cols = rng.choice(usable, size=1)
        elif usable.size:
            cols = usable[rng.random(usable.size) < density]
        else:
            cols = np.empty(0, dtype=np.int64)
        rows.append(np.sort(cols))
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([c.size for c in rows], dtype=np.int64)
    indices = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    data = rng.uniform(values[0], values[1], size=indices.size).astype(dtype)
    A = sp.csr_array((data, indices.astype(np.int64), indptr), shape=(n_rows, n_cols))
    A = freeze_csr(A, index_dtype)
    assert A.has_canonical_format
    assert A.indices.dtype == index_dtype and A.indptr.dtype == index_dtype and A.data.dtype == dtype
    if special and n_rows >= 3 and n_cols >= 2:
        counts = np.diff(A.indptr)
        assert counts[0] == 0 and counts[1] == n_cols - 1 and counts[2] == 1
        assert unused not in set(A.indices.tolist())
    return A


def empty_csr(n_rows, n_cols, dtype, index_dtype):
    """A CSR array with no stored entries (0 nnz), read-only arrays of the given dtypes."""
    A = sp.csr_array((np.empty(0, dtype=dtype), np.empty(0, dtype=np.int64), np.zeros(n_rows + 1, dtype=np.int64)),
                     shape=(n_rows, n_cols))
    return freeze_csr(A, index_dtype)


def central_difference(loss, flat, k, eps=1e-6):
    """(loss(x + eps·e_k) − loss(x − eps·e_k)) / 2eps, moving entry k of the flat view ``flat`` of the
    parameter ``loss()`` reads, and putting it back."""
    old = flat[k]
    flat[k] = old + eps
    up = loss()
    flat[k] = old - eps
    down = loss()
    flat[k] = old
    return (up - down) / (2 * eps)
