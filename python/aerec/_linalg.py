"""Blocked Cholesky inverse of a symmetric positive-definite matrix, on single-threaded BLAS calls.

EASE needs P = (XᵀX + λI)⁻¹ for tens of thousands of items. LAPACK's ``potrf`` + ``potrs`` against
the identity does it, but

* OpenBLAS's *threaded* ``potrf`` was seen to segfault for n ≥ 28,000 (SciPy 1.17's bundled
  OpenBLAS 0.3.30 and NumPy 2.4's 0.3.31 alike, with a diagonal float32 matrix and 2 threads; one
  thread is fine; ``benchmarks/quality/RESULTS_I2_gowalla.md``) — a crash aerec must never pass on
  to its users;
* ``potrs`` against I costs 2n³ flops where the structure needs n³/3 + n³/3: column j of L⁻¹ is zero
  above j, and so is the part of Pᵢⱼ (i ≥ j) that the back-substitution needs.

So the factorisation and the inverse are written here as fixed-size tiles of single-threaded BLAS
calls (SciPy's own BLAS/LAPACK, reached through its Cython capsules with explicit leading
dimensions: no copies of sub-matrices), spread over aerec's passive thread pool. Total work
n³/3 (Cholesky) + 2n³/3 (two triangular solves on the trailing block of each column chunk), about
2.3× fewer flops than ``potrs(I)``. Each tile is computed by the same sequence of BLAS calls
whatever the thread count, so the result is bit-identical for any ``n_threads``. ctypes releases the
GIL during each foreign call, so the pool's threads run the BLAS calls concurrently.
"""

from __future__ import annotations

import ctypes

import numpy as np

from .engine.backend import thread_pool

__all__ = ["cholesky_inverse"]

#: Tile width: the rank of each trailing update and the width of each column chunk of the inverse.
BLOCK = 256

_c_int_p = ctypes.POINTER(ctypes.c_int)


def _capsule_pointer(capsule):
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_ptr = ctypes.pythonapi.PyCapsule_GetPointer
    get_ptr.restype, get_ptr.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return get_ptr(capsule, get_name(capsule))


_FUNCS = {}


def _funcs(dtype):
    """(gemm, trsm, potrf) ctypes callables for float32 ('s') or float64 ('d')."""
    p = "s" if dtype == np.float32 else "d"
    if p not in _FUNCS:
        from scipy.linalg import cython_blas, cython_lapack

        vp, cp = ctypes.c_void_p, ctypes.c_char_p
        gemm_t = ctypes.CFUNCTYPE(None, cp, cp, _c_int_p, _c_int_p, _c_int_p, vp, vp, _c_int_p, vp, _c_int_p, vp, vp,
                                  _c_int_p)
        trsm_t = ctypes.CFUNCTYPE(None, cp, cp, cp, cp, _c_int_p, _c_int_p, vp, vp, _c_int_p, vp, _c_int_p)
        potrf_t = ctypes.CFUNCTYPE(None, cp, _c_int_p, vp, _c_int_p, _c_int_p)
        _FUNCS[p] = (gemm_t(_capsule_pointer(cython_blas.__pyx_capi__[p + "gemm"])),
                     trsm_t(_capsule_pointer(cython_blas.__pyx_capi__[p + "trsm"])),
                     potrf_t(_capsule_pointer(cython_lapack.__pyx_capi__[p + "potrf"])))
    return _FUNCS[p]


class _Fortran:
    """Raw BLAS/LAPACK on tiles of Fortran-ordered square matrices (column-major, leading dim n)."""

    def __init__(self, n, dtype):
        self.n = n
        self.itemsize = np.dtype(dtype).itemsize
        self.scalar = ctypes.c_float if dtype == np.float32 else ctypes.c_double
        self.gemm_fn, self.trsm_fn, self.potrf_fn = _funcs(dtype)

    def at(self, a, i, j):
        """Address of element (i, j) of the Fortran-ordered matrix ``a``."""
        return a.ctypes.data + (j * self.n + i) * self.itemsize

    @staticmethod
    def _i(v):
        return ctypes.byref(ctypes.c_int(int(v)))

    def _s(self, v):
        return ctypes.byref(self.scalar(v))

    def potrf_lower(self, a, k, b):
        info = ctypes.c_int(0)
        self.potrf_fn(b"L", self._i(b), self.at(a, k, k), self._i(self.n), ctypes.byref(info))
        return info.value

    def gemm_nt_sub(self, a, ci, cj, ai, aj, bi, bj, m, ncol, kdim):
        """C[ci:ci+m, cj:cj+ncol] -= A[ai:ai+m, aj:aj+kdim] · B[bi:bi+ncol, bj:bj+kdim]ᵀ (all in ``a``)."""
        n = self._i(self.n)
        self.gemm_fn(b"N", b"T", self._i(m), self._i(ncol), self._i(kdim), self._s(-1.0), self.at(a, ai, aj), n,
                  self.at(a, bi, bj), n, self._s(1.0), self.at(a, ci, cj), n)

    def trsm(self, side, trans, l_mat, li, m, ncol, b_mat, bi, bj):
        """Solve with the lower-triangular L = l_mat[li:, li:] (leading block) in place on
        B = b_mat[bi:bi+m, bj:bj+ncol].

        side 'R', trans 'T': B ← B · L⁻ᵀ (L of order ncol); side 'L': B ← op(L)⁻¹ · B (L of order m)."""
        n = self._i(self.n)
        self.trsm_fn(side, b"L", trans, b"N", self._i(m), self._i(ncol), self._s(1.0), self.at(l_mat, li, li), n,
                     self.at(b_mat, bi, bj), n)


def _run(pool, jobs):
    """Run zero-argument callables on ``pool`` (or inline when it is None) and wait for all of them."""
    if pool is None or len(jobs) == 1:
        for job in jobs:
            job()
        return
    for f in [pool.submit(job) for job in jobs]:
        f.result()


def cholesky_inverse(a, n_threads=1, block=BLOCK, progress=None):
    """Inverse of the symmetric positive-definite ``a`` (Fortran-ordered, float32/float64, lower
    triangle read), by a blocked Cholesky factorisation in place followed by blocked triangular solves.

    Returns the full symmetric inverse as a new Fortran-ordered array; ``a`` is overwritten with the
    Cholesky factor L (lower triangle). Callers must hold BLAS to one thread (``blas_threads(1)``):
    the parallelism comes from running independent tiles on ``n_threads`` pool threads.
    Raises ``np.linalg.LinAlgError`` if ``a`` is not positive definite. ``progress(stage)`` is called
    after the factorisation ('Cholesky') and the inverse ('inverse').
    """
    if a.ndim != 2 or a.shape[0] != a.shape[1] or not a.flags.f_contiguous or not a.flags.writeable:
        raise ValueError("cholesky_inverse needs a writeable, Fortran-ordered square matrix")
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"cholesky_inverse supports float32 and float64, got {a.dtype}")
    if block < 1:
        raise ValueError("block must be >= 1")
    n = a.shape[0]
    if n >= 2**31:
        raise ValueError(f"cholesky_inverse: order {n} exceeds the 32-bit BLAS interface")
    f = _Fortran(n, a.dtype)
    pool = thread_pool(n_threads) if n_threads > 1 else None

    # 1. Right-looking blocked Cholesky, lower: A = L Lᵀ.
    for k0 in range(0, n, block):
        b = min(block, n - k0)
        info = f.potrf_lower(a, k0, b)
        if info != 0:
            raise np.linalg.LinAlgError(f"the matrix is not positive definite (leading minor {k0 + info} of {n})")
        k1 = k0 + b
        if k1 == n:
            break
        # panel: A[k1:, k0:k1] ← A[k1:, k0:k1] · L_kk⁻ᵀ, in row chunks
        _run(pool, [
            (lambda r0=r0, k0=k0, b=b: f.trsm(b"R", b"T", a, k0, min(block, n - r0), b, a, r0, k0))
            for r0 in range(k1, n, block)
        ])
        # trailing update of the lower triangle, one column block per job:
        # A[j0:, j0:j1] -= A[j0:, k0:k1] · A[j0:j1, k0:k1]ᵀ
        _run(pool, [
            (lambda j0=j0, k0=k0, b=b: f.gemm_nt_sub(a, j0, j0, j0, k0, j0, k0, n - j0, min(block, n - j0), b))
            for j0 in range(k1, n, block)
        ])
    if progress is not None:
        progress("Cholesky")

    # 2. Inverse, one column chunk [c0, c1) per job, touching only rows >= c0:
    #    Y = L[c0:, c0:]⁻¹ E and P[c0:, c0:c1] = L[c0:, c0:]⁻ᵀ Y, with E the identity's columns.
    p = np.zeros((n, n), dtype=a.dtype, order="F")
    p[np.diag_indices(n)] = 1

    def chunk(c0):
        cb = min(block, n - c0)
        f.trsm(b"L", b"N", a, c0, n - c0, cb, p, c0, c0)
        f.trsm(b"L", b"T", a, c0, n - c0, cb, p, c0, c0)

    _run(pool, [(lambda c0=c0: chunk(c0)) for c0 in range(0, n, block)])
    # 3. Mirror the lower triangle into the upper, tile by tile.
    for c0 in range(0, n, block):
        c1 = min(n, c0 + block)
        p[c0:c1, c1:] = p[c1:, c0:c1].T
        t = p[c0:c1, c0:c1]
        t[np.triu_indices(c1 - c0, 1)] = t.T[np.triu_indices(c1 - c0, 1)]
    if progress is not None:
        progress("inverse")
    return p
