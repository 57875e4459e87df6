"""Backends: where the kernels run and which array namespace holds the data.

``CpuBackend`` binds the validated CPU kernels (``aerec.kernels``) to a resolved thread count and
uses NumPy (and its BLAS) for dense products. ``CudaBackend`` (``engine/cuda.py``) provides the
same methods over CuPy arrays; layers and optimisers only ever call ``backend.<kernel>(...)`` and
``backend.xp``.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .. import _native, kernels
from .._threads import effective_n_threads

_POOLS = {}
_POOLS_LOCK = threading.Lock()


def thread_pool(n_threads):
    """A persistent thread pool per thread count (its threads wait passively between products)."""
    with _POOLS_LOCK:
        if n_threads not in _POOLS:
            _POOLS[n_threads] = ThreadPoolExecutor(max_workers=n_threads, thread_name_prefix="aerec-gemm")
        return _POOLS[n_threads]


#: GEMM blocking: columns per block when the output is wide, rows per block otherwise. Fixed sizes,
#: so every output element is computed by the same single-threaded BLAS call whatever n_threads is.
#: Rows per block: 256, not 128, because each block is a separate BLAS call that packs its own copy
#: of the other operand, so fewer, taller blocks repack it less often (e.g. Mult-VAE's dH = G·Wᵀ,
#: 500 × 20,108 · 20,108 × 600, was faster as 2 blocks of 256 rows than as 4 of 128, on 1 and 2 threads).
#: Measured (aerec's source repository): ``benchmarks/RESULTS_SPEED_NOTES.md``.
GEMM_COL_BLOCK = 1024
GEMM_ROW_BLOCK = 256
GEMM_MIN_FLOPS = 1 << 23  # below this, one BLAS call
#: A narrow output with fewer row blocks than this (a batch of 128 users times 512 hidden units, as
#: in the deep autoencoder's layers) is also split into columns of GEMM_NARROW_COL_BLOCK, so the pool
#: has work for more than one thread. 2 keeps two cores busy; the blocks must depend on the shape
#: only (bit-identical results for any n_threads), so more cores get no more blocks.
GEMM_MIN_JOBS = 2
GEMM_NARROW_COL_BLOCK = 128
#: float32 products go to aerec's own GEMM (``kernels.gemm_f32``) when the AVX2 or AVX-512
#: module is active; float64 ones, and float32 under the generic module, to the blocks of NumPy's
#: BLAS above. A switch for side-by-side measurements (benchmarks) and tests.
USE_NATIVE_GEMM = True


def gemm_blocks(m, n):
    """The (row slice, column slice) blocks of an m × n product: a function of the shape only."""
    if n > GEMM_COL_BLOCK:
        return [(slice(0, m), slice(j, j + GEMM_COL_BLOCK)) for j in range(0, n, GEMM_COL_BLOCK)]
    rows = [slice(i, i + GEMM_ROW_BLOCK) for i in range(0, m, GEMM_ROW_BLOCK)]
    if len(rows) >= GEMM_MIN_JOBS or n < 2 * GEMM_NARROW_COL_BLOCK:
        return [(r, slice(0, n)) for r in rows]
    return [(r, slice(j, j + GEMM_NARROW_COL_BLOCK)) for r in rows for j in range(0, n, GEMM_NARROW_COL_BLOCK)]


class CpuBackend:
    """Kernels on the CPU with a fixed thread count; dense algebra through NumPy's BLAS."""

    name = "cpu"
    xp = np

    def __init__(self, n_threads=None):
        self.n_threads = effective_n_threads(n_threads)

    # arrays
    def asarray(self, a, dtype=None):
        return np.ascontiguousarray(a, dtype=dtype)

    def to_host(self, a):
        return np.asarray(a)

    def zeros(self, shape, dtype):
        return np.zeros(shape, dtype=dtype)

    def matmul(self, a, b, out=None):
        """``a @ b``: float32 through aerec's own GEMM (``kernels.gemm_f32``: OpenMP, bit-identical for
        any n_threads, no BLAS involved), otherwise as fixed-size blocks of single-threaded BLAS run
        on this backend's thread pool.

        Why our own float32 GEMM: the training products are thin (a batch of 128–500 rows, or K =
        the batch), shapes at which OpenBLAS stays well short of the FMA peak; see
        ``cpp/include/aerec/gemm_f32.h``. For the BLAS route callers hold BLAS to one thread
        (``blas_threads(1)``). Why not let OpenBLAS thread itself: its worker threads spin while
        waiting, and when the cores are shared (other processes, OpenMP kernels between products)
        its throughput collapses, far below this pool's. Fixed blocks also make the result
        independent of n_threads (each element comes from the same BLAS call).
        Measured (aerec's source repository): ``benchmarks/RESULTS_SPEED_NOTES.md``."""
        m, k = a.shape
        n = b.shape[1]
        if out is None:
            out = np.empty((m, n), dtype=np.result_type(a, b))
        if USE_NATIVE_GEMM and a.dtype == b.dtype == out.dtype == np.float32 and kernels.gemm_f32_native():
            return kernels.gemm_f32(a, b, out=out, n_threads=self.n_threads)
        if 2 * m * n * k < GEMM_MIN_FLOPS:
            return np.matmul(a, b, out=out)
        # Wide outputs split by columns; narrow ones (e.g. dH = G·Wᵀ: 500 × 600 from K = 20,108) by
        # rows — one column block there would leave every other thread idle — and, when there are
        # few rows too, by rows and columns (gemm_blocks). The split depends on the shapes only, and
        # one thread runs the same blocks in order.
        jobs = [(a[r], b[:, c], out[r, c]) for r, c in gemm_blocks(m, n)]
        if self.n_threads == 1 or len(jobs) == 1:
            for x, y, o in jobs:
                np.matmul(x, y, out=o)
            return out
        futures = [thread_pool(self.n_threads).submit(np.matmul, x, y, out=o) for x, y, o in jobs]
        for f in futures:
            f.result()
        return out

    # kernels, with the thread count bound
    def __getattr__(self, name):
        fn = getattr(kernels, name, None)
        if fn is None or name.startswith("_") or name not in kernels.__all__ or name in kernels.CPU_ONLY:
            raise AttributeError(f"{type(self).__name__} has no kernel {name!r}")

        def call(*args, **kwargs):
            kwargs.setdefault("n_threads", self.n_threads)
            return fn(*args, **kwargs)

        call.__name__ = name
        call.__doc__ = fn.__doc__
        return call


def resolve_device(device) -> str:
    """'auto' → 'cuda' when the CUDA backend is usable (the module was built, CuPy imports and a
    device is visible), else 'cpu'; 'cuda' must be usable and raises a ValueError naming what is
    missing otherwise."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cpu":
        return "cpu"
    if _native.cuda_module is None:  # the common case, decided without importing anything
        if device == "cuda":
            raise ValueError("device='cuda' was requested but aerec was built without CUDA "
                             "(rebuild with AEREC_CUDA=1 pip install .)")
        return "cpu"
    from .cuda import cuda_status

    usable, reason = cuda_status()
    if device == "cuda" and not usable:
        raise ValueError(f"device='cuda' was requested but {reason}")
    return "cuda" if usable else "cpu"


def get_backend(device="auto", n_threads=None):
    """The backend for ``device`` ('auto', 'cpu' or 'cuda', resolved by ``resolve_device``)."""
    if resolve_device(device) == "cuda":
        from .cuda import CudaBackend

        return CudaBackend(n_threads)
    return CpuBackend(n_threads)


def array_namespace(a):
    """The array module of ``a``: CuPy for a CuPy array (recognised without importing CuPy), else NumPy."""
    if type(a).__module__.split(".")[0] == "cupy":
        import cupy

        return cupy
    return np


def backend_for(arrays, n_threads=None):
    """The backend that holds ``arrays`` (fitted weights): CUDA when they are CuPy arrays."""
    if arrays and array_namespace(arrays[0]) is not np:
        from .cuda import CudaBackend

        return CudaBackend(n_threads)
    return CpuBackend(n_threads)
