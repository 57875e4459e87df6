"""Helpers for the GPU tests: find the CUDA module, skip with a reason when something is missing,
and hold device memory without CuPy (through the module's own test helpers).

Nothing here imports CuPy at import time: collection works on machines without it.
"""

from __future__ import annotations

import importlib
import os
import sys

import numpy as np
import pytest

from aerec import _native


def load_cuda_module():
    """aerec's CUDA module: the one in the installed package, or one built elsewhere when
    ``AEREC_CUDA_MODULE_DIR`` names its folder (``.ci/run``'s compile-only build)."""
    folder = os.environ.get("AEREC_CUDA_MODULE_DIR")
    if folder:
        sys.path.insert(0, folder)
        try:
            return importlib.import_module("_aerec_cuda")
        finally:
            sys.path.remove(folder)
    return _native.cuda_module


def require_module():
    mod = load_cuda_module()
    if mod is None:
        pytest.skip("aerec was built without CUDA (build with AEREC_CUDA=1 pip install .)")
    return mod


def require_gpu():
    mod = require_module()
    if mod.device_count() < 1:
        pytest.skip("no CUDA device is visible")
    return mod


def require_cupy():
    """CuPy, when the CUDA backend can run here (installed module, a device, CuPy)."""
    require_gpu()
    if _native.cuda_module is None:
        pytest.skip("the CUDA module is not installed in the aerec package (the backend tests need "
                    "aerec._aerec_cuda; rebuild with AEREC_CUDA=1 pip install .)")
    return pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'aerec[cuda]')")


class DeviceArrays:
    """Device buffers through the CUDA module's ``_test_*`` helpers (no array library needed)."""

    def __init__(self, mod):
        self.mod, self._ptrs = mod, []

    def put(self, a, dtype=None):
        """Upload a NumPy array (None → a null pointer); returns the device pointer."""
        if a is None:
            return 0
        a = np.ascontiguousarray(a, dtype=dtype)
        p = self.empty(a.shape, a.dtype)
        self.mod._test_upload(p, a)
        return p

    def empty(self, shape, dtype):
        p = self.mod._test_malloc(int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize)
        self._ptrs.append(p)
        return p

    def get(self, p, shape, dtype):
        out = np.empty(shape, dtype=dtype)
        self.mod.synchronize()
        self.mod._test_download(out, p)
        return out

    def free(self):
        for p in self._ptrs:
            self.mod._test_free(p)
        self._ptrs = []


def item_major_host(X):
    """(items, ptr, rows, pos), int64: X's entries grouped by column, rows ascending — the view the
    CUDA backward kernels take (CudaBackend builds the same on the device)."""
    rows = np.repeat(np.arange(X.shape[0], dtype=np.int64), np.diff(X.indptr))
    pos = np.lexsort((rows, np.asarray(X.indices, dtype=np.int64)))
    items, counts = np.unique(np.asarray(X.indices, dtype=np.int64)[pos], return_counts=True)
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return items.astype(np.int64), ptr, rows[pos], pos.astype(np.int64)


def full_column_pointers(X):
    """The item-major view over every column: (col_ptr, rows, pos)."""
    _, _, rows, pos = item_major_host(X)
    counts = np.bincount(np.asarray(X.indices, dtype=np.int64), minlength=X.shape[1])
    return np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), rows, pos
