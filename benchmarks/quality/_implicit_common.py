"""Helpers shared by the implicit-feedback reproduction scripts (i1_ml1m.py, i2_gowalla.py):
locating the shared data, timing, machine description and Markdown tables."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def data_dir(name, override=None):
    """``override`` or ``<shared data>/<name>``: $AEREC_DATA_DIR, ../shared/data from the cwd, then
    ../shared/data beside the repository. Exits with a message when absent."""
    if override:
        p = Path(override)
    else:
        from aerec.datasets import shared_data_dir

        base = shared_data_dir()
        if base is None and (ROOT.parent / "shared" / "data").is_dir():
            base = ROOT.parent / "shared" / "data"
        p = base / name if base is not None else None
    if p is None or not p.is_dir():
        sys.exit(f"data folder for {name!r} not found ({p}); set AEREC_DATA_DIR or pass --data-dir")
    return p


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_lines(n_threads):
    import numpy as np
    import scipy

    import aerec

    cfg = aerec.config()
    blas = ", ".join(sorted({f"{b.get('internal_api')} {b.get('version')}" for b in cfg.get("blas", [])}))
    lines = [
        f"- Machine: {cpu_model()}, {os.cpu_count()} logical CPUs (shared with other jobs: timings are noisy), "
        f"{platform.system()} {platform.release()}",
        f"- Threads: {n_threads} (aerec `n_threads`, BLAS, torch `set_num_threads`)",
        f"- aerec {cfg['version']} (ISA {cfg['isa']}, OpenMP {cfg['openmp']}), Python {platform.python_version()}, "
        f"NumPy {np.__version__}, SciPy {scipy.__version__}, BLAS {blas}",
    ]
    try:
        import torch  # noqa: F401

        lines[-1] += f", torch {torch.__version__}"
    except ImportError:
        pass
    lines.append(f"- Date: {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}")
    return lines


def fmt(mean, se=None, digits=4):
    if mean is None or mean != mean:
        return "—"
    return f"{mean:.{digits}f}" if se is None else f"{mean:.{digits}f} ± {se:.{digits}f}"


def markdown_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def write_section(path, lines):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    log(f"wrote {path}")
