"""Input checks shared by the kernel wrappers and the estimators.

Malformed input is rejected here with a ``ValueError``/``TypeError`` that names the argument, before
any native code sees it (the bindings check again, as a last line of defence).
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

FLOAT_DTYPES = (np.float32, np.float64)
INDEX_DTYPES = (np.int32, np.int64)


def check_float_dtype(dtype, name="dtype") -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name} must be float32 or float64, got {dtype!r}") from exc
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"{name} must be float32 or float64, got {dt}")
    return dt


def check_csr(X, *, name="X", n_cols=None, dtype=None, require_finite=True, pattern_only=False):
    """Validate a CSR matrix and return it with matching int32/int64 ``indptr``/``indices``.

    Checks: scipy CSR (``csr_matrix``/``csr_array``); ``indptr`` starts at 0, never decreases and ends
    at nnz; column indices in range, sorted and unique within each row (canonical format); values
    of ``dtype`` (when given) and finite. Nothing is converted silently except ``indptr``/``indices``
    to a common integer type (as scipy itself may mix them). ``pattern_only`` skips the value checks.
    """
    if not sp.issparse(X) or X.format != "csr":
        kind = f"sparse {X.format}" if sp.issparse(X) else type(X).__name__
        raise TypeError(f"{name} must be a scipy.sparse CSR matrix, got {kind} "
                        "(convert with scipy.sparse.csr_array(...))")
    n_rows, m = X.shape
    if n_cols is not None and m != n_cols:
        raise ValueError(f"{name} has {m} columns, expected {n_cols}")
    indptr, indices = np.asarray(X.indptr), np.asarray(X.indices)
    if indptr.dtype not in INDEX_DTYPES or indices.dtype not in INDEX_DTYPES:
        raise TypeError(f"{name}: indices must be int32 or int64, got {indptr.dtype}/{indices.dtype}")
    if indptr.dtype != indices.dtype:
        common = np.promote_types(indptr.dtype, indices.dtype)
        indptr, indices = indptr.astype(common), indices.astype(common)
    nnz = indices.shape[0]
    if indptr.ndim != 1 or indptr.shape[0] != n_rows + 1:
        raise ValueError(f"{name}: indptr must have n_rows + 1 = {n_rows + 1} entries, got {indptr.shape}")
    if indptr[0] != 0:
        raise ValueError(f"{name}: indptr[0] must be 0, got {indptr[0]}")
    if indptr[-1] != nnz:
        raise ValueError(f"{name}: indptr[-1] = {indptr[-1]} does not equal nnz = {nnz}")
    if n_rows and np.any(np.diff(indptr) < 0):
        raise ValueError(f"{name}: indptr decreases at row {int(np.argmax(np.diff(indptr) < 0))}")
    if nnz:
        lo, hi = indices.min(), indices.max()
        if lo < 0 or hi >= m:
            bad = int(lo if lo < 0 else hi)
            raise ValueError(f"{name}: column index {bad} is out of range [0, {m})")
        step_ok = np.diff(indices) > 0
        starts = indptr[1:-1]
        step_ok[starts[(starts > 0) & (starts < nnz)] - 1] = True  # a row boundary may step down
        if not step_ok.all():
            k = int(np.argmin(step_ok)) + 1
            row = int(np.searchsorted(indptr, k, side="right") - 1)
            raise ValueError(
                f"{name}: column indices in row {row} are unsorted or duplicated; canonical CSR is required "
                "(call X.sum_duplicates() and X.sort_indices() first)"
            )
    data = None
    if not pattern_only:
        data = np.asarray(X.data)
        if data.ndim != 1 or data.shape[0] != nnz:
            raise ValueError(f"{name}: data has {data.shape} entries but indices has nnz = {nnz}")
        if dtype is not None and data.dtype != np.dtype(dtype):
            raise TypeError(f"{name}: values must be {np.dtype(dtype)}, got {data.dtype} (cast with X.astype(...))")
        if data.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"{name}: values must be float32 or float64, got {data.dtype}")
        if require_finite and nnz and not np.isfinite(data).all():
            raise ValueError(f"{name} contains NaN or infinite values")
    return (np.ascontiguousarray(indptr), np.ascontiguousarray(indices),
            None if data is None else np.ascontiguousarray(data), n_rows, m)


def check_dense(a, *, name, dtype=None, ndim=None, shape=None, writeable=False, require_finite=False):
    """Validate a NumPy array without converting it: dtype, C order, dimensions and shape."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
    if dtype is not None and a.dtype != np.dtype(dtype):
        raise TypeError(f"{name} must have dtype {np.dtype(dtype)}, got {a.dtype}")
    if a.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if shape is not None:
        for d, (got, want) in enumerate(zip(a.shape, shape)):
            if want is not None and got != want:
                raise ValueError(f"{name} has shape {a.shape}; expected extent {want} in dimension {d}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use np.ascontiguousarray)")
    if not a.flags.aligned:
        raise ValueError(f"{name}'s data is not aligned to its dtype (e.g. np.frombuffer at an odd offset); "
                         "pass a copy (np.array)")
    if writeable and not a.flags.writeable:
        raise ValueError(f"{name} is read-only but is updated in place")
    if require_finite and not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return a


def check_scalar(x, name, *, kind=numbers.Real, low=None, high=None, low_inclusive=True, high_inclusive=True):
    """A scalar parameter of the given kind within [low, high] (bounds optional)."""
    if isinstance(x, bool) or not isinstance(x, kind):
        raise TypeError(f"{name} must be {'an integer' if kind is numbers.Integral else 'a real number'}, got {x!r}")
    if isinstance(x, numbers.Real) and not np.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")
    if low is not None and (x < low or (x == low and not low_inclusive)):
        raise ValueError(f"{name} must be {'>=' if low_inclusive else '>'} {low}, got {x!r}")
    if high is not None and (x > high or (x == high and not high_inclusive)):
        raise ValueError(f"{name} must be {'<=' if high_inclusive else '<'} {high}, got {x!r}")
    return x


def check_bool(x, name):
    """A flag: True or False (a truthy string such as 'no' is refused, not guessed)."""
    if not isinstance(x, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {x!r}")
    return bool(x)


def check_layer_widths(dims, name="hidden_dims", *, allow_empty=False):
    """A sequence of positive integer layer widths (a tuple or list; e.g. (600,))."""
    if isinstance(dims, (str, bytes)) or not isinstance(dims, (tuple, list, np.ndarray)):
        raise TypeError(f"{name} must be a tuple of positive integer layer widths, got {dims!r}")
    for d in dims:
        if isinstance(d, (bool, np.bool_)) or not isinstance(d, numbers.Integral):
            raise TypeError(f"{name} must hold integer layer widths, got {d!r} in {dims!r}")
        if d < 1:
            raise ValueError(f"{name} must hold positive layer widths, got {d!r} in {dims!r}")
    if not allow_empty and len(dims) == 0:
        raise ValueError(f"{name} must hold at least one layer width, got {dims!r}")
    return [int(d) for d in dims]


def check_seed(seed, name="seed") -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) < 2**64:
        raise ValueError(f"{name} must be an integer in [0, 2**64), got {seed!r}")
    return int(seed)


def check_sparse_structure(X, name="X"):
    """Validate the index arrays of a user's scipy.sparse input *before* SciPy touches them.

    SciPy trusts indptr/indices/row/col: slicing, sorting or converting a matrix whose indices are
    out of range or whose indptr is broken reads or writes out of bounds (seen: a segfault). This
    checks what the format stores — CSR/CSC/BSR: indptr starts at 0, never decreases, ends at nnz,
    indices in range; COO: row and column in range — and raises ValueError naming the problem.
    LIL, DOK and DIA are built through SciPy's own API and are converted as they are.
    """
    fmt = X.format
    if fmt in ("csr", "csc", "bsr"):
        indptr, indices = np.asarray(X.indptr), np.asarray(X.indices)
        if fmt == "bsr":
            R, C = X.blocksize
            n_major, n_minor = X.shape[0] // R, X.shape[1] // C
        else:
            n_major, n_minor = (X.shape[0], X.shape[1]) if fmt == "csr" else (X.shape[1], X.shape[0])
        if indptr.ndim != 1 or indptr.shape[0] != n_major + 1:
            raise ValueError(f"{name}: indptr has {indptr.shape[0]} entries, expected {n_major + 1}")
        if indptr[0] != 0 or indptr[-1] != indices.shape[0] or (n_major and np.any(np.diff(indptr) < 0)):
            raise ValueError(f"{name}: indptr is broken (must start at 0, never decrease and end at nnz = "
                             f"{indices.shape[0]})")
        if indices.size and (indices.min() < 0 or indices.max() >= n_minor):
            raise ValueError(f"{name}: an index is out of range [0, {n_minor})")
        data_len = np.asarray(X.data).shape[0]
        if data_len != indices.shape[0]:
            raise ValueError(f"{name}: data has {data_len} entries but indices has {indices.shape[0]}")
    elif fmt == "coo":
        rows, cols = np.asarray(X.coords[0] if hasattr(X, "coords") else X.row), np.asarray(
            X.coords[1] if hasattr(X, "coords") else X.col)
        if rows.shape != cols.shape or rows.shape[0] != np.asarray(X.data).shape[0]:
            raise ValueError(f"{name}: row, col and data of a COO matrix must have the same length")
        if rows.size and (rows.min() < 0 or rows.max() >= X.shape[0] or cols.min() < 0 or cols.max() >= X.shape[1]):
            raise ValueError(f"{name}: a row or column index is out of range for shape {X.shape}")
    return X
