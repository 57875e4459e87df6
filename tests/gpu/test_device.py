"""Device resolution, on any machine: 'cpu' is always the CPU, 'auto' falls back to it, and
'cuda' without a usable CUDA backend raises a ValueError naming what is missing."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from aerec import _native
from aerec.engine import backend
from aerec.engine.backend import CpuBackend, get_backend, resolve_device


class _FakeModule:
    def __init__(self, n):
        self.n = n

    def device_count(self):
        return self.n


def test_cpu_and_invalid():
    assert resolve_device("cpu") == "cpu"
    assert isinstance(get_backend("cpu", n_threads=1), CpuBackend)
    with pytest.raises(ValueError, match="'auto', 'cpu' or 'cuda'"):
        resolve_device("gpu")


def test_without_the_module(monkeypatch):
    monkeypatch.setattr(_native, "cuda_module", None)
    monkeypatch.setattr(_native, "HAS_CUDA", False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="built without CUDA"):
        resolve_device("cuda")


def test_module_without_a_device(monkeypatch):
    monkeypatch.setattr(_native, "cuda_module", _FakeModule(0))
    monkeypatch.setattr(_native, "HAS_CUDA", False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="no CUDA device is visible"):
        resolve_device("cuda")


def test_module_and_device_without_cupy(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_cupy(name, *args, **kwargs):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("No module named 'cupy' (test)")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(_native, "cuda_module", _FakeModule(1))
    monkeypatch.setattr(_native, "HAS_CUDA", True)
    monkeypatch.setattr(builtins, "__import__", no_cupy)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="CuPy is not installed"):
        resolve_device("cuda")


def test_broken_cupy_falls_back_on_auto(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def broken(name, *args, **kwargs):
        if name == "cupy":
            raise RuntimeError("libnvrtc.so.13: cannot open shared object file (test)")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(_native, "cuda_module", _FakeModule(1))
    monkeypatch.setattr(_native, "HAS_CUDA", True)
    monkeypatch.setattr(builtins, "__import__", broken)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(ValueError, match="CuPy failed to import"):
        resolve_device("cuda")


def test_estimator_device_cuda_fails_clearly_here_or_trains():
    """On this machine an estimator with device='cuda' either trains on the GPU (a usable CUDA
    backend) or refuses with the reason — it never silently runs on the CPU."""
    from aerec import MultDAE
    from aerec.engine.cuda import cuda_status

    X = sp.random(40, 30, density=0.2, format="csr", random_state=0)
    model = MultDAE(n_components=4, n_epochs=1, batch_size=20, random_state=0, device="cuda")
    usable, reason = cuda_status() if _native.cuda_module is not None else (False, "built without CUDA")
    if usable:
        assert model.fit(X).device_ == "cuda"
        assert all(isinstance(W, np.ndarray) for W in model.coefs_)
    else:
        with pytest.raises(ValueError, match="device='cuda' was requested"):
            model.fit(X)


def test_array_namespace_is_numpy_for_host_arrays():
    assert backend.array_namespace(np.zeros(3)) is np
    assert backend.backend_for([np.zeros((2, 2))], n_threads=1).name == "cpu"


def test_cuda_backend_offers_every_kernel_of_the_cpu_backend():
    """Layers and estimators call backend.<kernel>(...): the CUDA backend must have them all (this
    does not import CuPy: only the class is inspected)."""
    from aerec import kernels
    from aerec.engine.cuda import CudaBackend

    missing = [n for n in kernels.__all__ if n != "ACTIVATIONS" and n not in kernels.CPU_ONLY
               and not callable(getattr(CudaBackend, n, None))]
    missing += [n for n in ("asarray", "to_host", "zeros", "matmul") if not callable(getattr(CudaBackend, n, None))]
    assert not missing, missing
