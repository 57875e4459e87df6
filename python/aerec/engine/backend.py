"""Backends: where the kernels run and which array namespace holds the data.

``CpuBackend`` binds the validated CPU kernels (``aerec.kernels``) to a resolved thread count and
uses NumPy (and its BLAS) for dense products. A CUDA backend provides the same methods over CuPy
arrays; layers and optimisers only ever call ``backend.<kernel>(...)`` and ``backend.xp``.
"""

from __future__ import annotations

import numpy as np

from .. import _native, kernels
from .._threads import effective_n_threads


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
        return np.matmul(a, b, out=out)

    # kernels, with the thread count bound
    def __getattr__(self, name):
        fn = getattr(kernels, name, None)
        if fn is None or name.startswith("_") or name not in kernels.__all__:
            raise AttributeError(f"{type(self).__name__} has no kernel {name!r}")

        def call(*args, **kwargs):
            kwargs.setdefault("n_threads", self.n_threads)
            return fn(*args, **kwargs)

        call.__name__ = name
        call.__doc__ = fn.__doc__
        return call


def resolve_device(device) -> str:
    """'auto' → 'cuda' when a CUDA training backend is usable, else 'cpu'; 'cuda' must be usable."""
    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if device == "cpu":
        return "cpu"
    if device == "cuda":
        if _native.cuda_module is None:
            raise ValueError("device='cuda' was requested but aerec was built without CUDA "
                             "(rebuild with AEREC_CUDA=1 pip install .)")
        if not _native.HAS_CUDA:
            raise ValueError("device='cuda' was requested but no CUDA device is visible")
        raise ValueError("device='cuda': the CUDA training backend is not available in this version yet; "
                         "use device='cpu'")
    return "cpu"  # 'auto': the CUDA training backend is not available yet


def get_backend(device="auto", n_threads=None):
    """The backend for a resolved device."""
    resolved = resolve_device(device)
    return CpuBackend(n_threads)
