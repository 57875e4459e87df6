"""Thread counts and BLAS thread control.

``effective_n_threads`` follows scikit-learn's ``_openmp_effective_n_threads``: ``None`` means every
usable core (or exactly ``OMP_NUM_THREADS`` when set), a negative ``n`` means ``cores + 1 + n``, 0 is
an error, and a build without OpenMP always runs 1 thread. The resolved integer is passed to each
kernel; aerec never calls ``omp_set_num_threads``.
"""

from __future__ import annotations

import numbers
import os

from threadpoolctl import threadpool_limits

from . import _native


def usable_cpus() -> int:
    """Cores this process may run on (affinity-aware), at least 1."""
    if hasattr(os, "process_cpu_count"):  # Python 3.13+
        n = os.process_cpu_count()
    elif hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    else:
        n = os.cpu_count()
    return max(1, int(n or 1))


_OPENMP = {}  # module -> built with OpenMP (asked once per module: every kernel call resolves threads)


def openmp_enabled() -> bool:
    mod = _native.cpu_module()
    if mod not in _OPENMP:
        _OPENMP[mod] = bool(mod.build_info()["openmp"])
    return _OPENMP[mod]


def effective_n_threads(n_threads=None) -> int:
    """Resolve an ``n_threads`` parameter to a positive thread count."""
    if n_threads is not None and (isinstance(n_threads, bool) or not isinstance(n_threads, numbers.Integral)):
        raise TypeError(f"n_threads must be None or an integer, got {n_threads!r}")
    if n_threads == 0:
        raise ValueError("n_threads=0 is not allowed: use None for all cores, or a positive or negative integer")
    if not openmp_enabled():
        return 1
    if n_threads is not None and n_threads > 0:  # the common case (every kernel call): nothing to look up
        return int(n_threads)
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    max_threads = int(env) if env.isdigit() and int(env) > 0 else usable_cpus()
    if n_threads is None:
        return max_threads
    n = int(n_threads)
    return max(1, max_threads + 1 + n) if n < 0 else n


def blas_threads(n: int | None):
    """Context manager limiting BLAS (OpenBLAS/MKL) to ``n`` threads; ``None`` leaves them alone."""
    return threadpool_limits(limits=n, user_api="blas")
