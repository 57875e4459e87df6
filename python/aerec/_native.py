"""Find and load the compiled kernel modules.

The CPU kernels are built once per instruction set: ``_aerec_cpu`` (baseline x86-64 or the native
architecture elsewhere), ``_aerec_cpu_avx2`` and ``_aerec_cpu_avx512``. At import the best variant
that was built *and* that this CPU supports is chosen, so one wheel runs everywhere and uses
AVX-512 where it exists. ``AEREC_ISA=generic|avx2|avx512`` forces a variant (for benchmarks and
debugging); ``use_isa`` does the same inside a ``with`` block.

The optional ``_aerec_cuda`` module is loaded if it was built; ``HAS_CUDA`` is true only when it
imports *and* sees a device.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import warnings

__all__ = ["ISA_ORDER", "available_isas", "cpu_module", "active_isa", "use_isa", "HAS_CUDA", "cuda_module"]

# Most capable first.
ISA_ORDER = ("avx512", "avx2", "generic")
_MODULE_NAME = {"generic": "_aerec_cpu", "avx2": "_aerec_cpu_avx2", "avx512": "_aerec_cpu_avx512"}


def _cpu_features() -> dict:
    try:  # NumPy's own runtime CPU detection (cpuid + OS support), NumPy >= 2
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:  # NumPy 1.x
        try:
            from numpy.core._multiarray_umath import __cpu_features__
        except ImportError:
            return {}
    return dict(__cpu_features__)


def _supported(isa: str, features: dict) -> bool:
    if isa == "generic":
        return True
    if isa == "avx2":
        return bool(features.get("AVX2") and features.get("FMA3"))
    if isa == "avx512":
        # -mavx512{f,cd,bw,dq,vl}: the Skylake-X group.
        return bool(features.get("AVX512_SKX") and features.get("FMA3"))
    return False


def _load_variants() -> dict:
    features = _cpu_features()
    modules, errors = {}, {}
    for isa in ISA_ORDER:
        if not _supported(isa, features):
            continue
        try:
            modules[isa] = importlib.import_module(f"aerec.{_MODULE_NAME[isa]}")
        except ImportError as exc:  # not built in this installation
            errors[isa] = exc
    if not modules:
        here = os.path.dirname(__file__)
        raise ImportError(
            "aerec's compiled kernels could not be imported. This usually means the package was not "
            "built: install it with `pip install .` (or `pip install -e .` for development) rather than "
            f"importing the source tree. Contents of {here}: {sorted(os.listdir(here))}. "
            f"Import errors: {errors}"
        )
    return modules


_VARIANTS = _load_variants()


def available_isas() -> tuple:
    """The CPU variants that are both built and supported here, most capable first."""
    return tuple(isa for isa in ISA_ORDER if isa in _VARIANTS)


def _initial_isa() -> str:
    forced = os.environ.get("AEREC_ISA", "").strip().lower()
    if forced:
        if forced not in _VARIANTS:
            warnings.warn(
                f"AEREC_ISA={forced!r} is not available (built and supported here: {available_isas()}); "
                f"using {available_isas()[0]!r}",
                RuntimeWarning,
                stacklevel=2,
            )
        else:
            return forced
    return available_isas()[0]


_active = _initial_isa()


def active_isa() -> str:
    """Name of the CPU variant in use: 'avx512', 'avx2' or 'generic'."""
    return _active


def cpu_module():
    """The extension module of the active CPU variant."""
    return _VARIANTS[_active]


@contextlib.contextmanager
def use_isa(isa: str):
    """Temporarily run every kernel with the given CPU variant (tests and benchmarks)."""
    global _active
    if isa not in _VARIANTS:
        raise ValueError(f"ISA variant {isa!r} is not available here; available: {available_isas()}")
    previous, _active = _active, isa
    try:
        yield _VARIANTS[isa]
    finally:
        _active = previous


def _load_cuda():
    try:
        mod = importlib.import_module("aerec._aerec_cuda")
    except ImportError:
        return None, False
    try:
        n = int(mod.device_count())
    except Exception as exc:  # built but cannot start: CPU still works
        warnings.warn(f"aerec's CUDA module is built but could not start ({exc}); using the CPU", RuntimeWarning,
                      stacklevel=2)
        return mod, False
    return mod, n > 0


cuda_module, HAS_CUDA = _load_cuda()
