"""``aerec.show_config()``: what this installation was built with and what it will use."""

from __future__ import annotations

import sys

from threadpoolctl import threadpool_info

from . import _native, kernels
from ._threads import effective_n_threads, usable_cpus


def config() -> dict:
    """The build and runtime facts as a dict (what ``show_config`` prints)."""
    info = dict(_native.cpu_module().build_info())
    cuda = {"built": _native.cuda_module is not None, "devices": 0}
    if _native.cuda_module is not None:
        try:
            cuda["devices"] = int(_native.cuda_module.device_count())
            cuda.update(_native.cuda_module.build_info())
        except Exception as exc:  # pragma: no cover - depends on the machine
            cuda["error"] = str(exc)
    # What device="auto" will pick, and why not the GPU when it does not.
    from .engine.backend import resolve_device

    cuda["auto_device"] = resolve_device("auto")
    if _native.cuda_module is not None and cuda["auto_device"] == "cpu":
        from .engine.cuda import cuda_status

        cuda["why_not"] = cuda_status()[1]
    blas = [
        {k: lib.get(k) for k in ("internal_api", "prefix", "version", "num_threads", "threading_layer",
                                 "architecture")}
        for lib in threadpool_info()
        if lib.get("user_api") == "blas"
    ]
    return {
        "version": info["version"],
        "python": sys.version.split()[0],
        "isa": _native.active_isa(),
        "isa_available": list(_native.available_isas()),
        "openmp": info["openmp"],
        "threads": effective_n_threads(None),
        "usable_cpus": usable_cpus(),
        "compiler": info.get("compiler", "?"),
        "sanitizers": info.get("sanitizers", False),
        "amx_bf16": kernels.amx_bf16_available(),  # recommend(precision='bfloat16') on AMX tiles
        "cuda": cuda,
        "blas": blas,
    }


def show_config(file=None) -> None:
    """Print version, OpenMP and threads, the CPU variant in use, CUDA, and NumPy/SciPy's BLAS."""
    c = config()
    out = file or sys.stdout
    cuda = c["cuda"]
    lines = [
        f"aerec {c['version']} (Python {c['python']}, {c['compiler']})",
        f"  CPU kernels : {c['isa']} (available here: {', '.join(c['isa_available'])})",
        f"  OpenMP      : {'yes' if c['openmp'] else 'no (single-threaded build)'}; "
        f"threads used by default: {c['threads']} of {c['usable_cpus']} usable CPUs",
        f"  bfloat16    : recommend(precision='bfloat16') runs on "
        f"{'Intel AMX tiles' if c['amx_bf16'] else 'the sgemm fallback (no AMX-BF16 here)'}",
        f"  CUDA        : {'built' if cuda['built'] else 'not built'}; devices visible: {cuda['devices']}; "
        f"device='auto' trains on: {cuda['auto_device']}" + (f" ({cuda['why_not']})" if cuda.get("why_not") else ""),
    ]
    if c["sanitizers"]:
        lines.append("  sanitizers  : AddressSanitizer + UBSan build")
    if not c["blas"]:
        lines.append("  BLAS        : none loaded yet")
    for lib in c["blas"]:
        lines.append(f"  BLAS        : {lib['internal_api']} {lib['version']} ({lib['threading_layer']}, "
                     f"{lib['num_threads']} threads, {lib['architecture']}) from {lib['prefix']}")
    print("\n".join(lines), file=out)
