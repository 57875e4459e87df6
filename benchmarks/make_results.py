"""Regenerate benchmarks/RESULTS.md in one command:

    python benchmarks/make_results.py            # all suites (≈ 15 min on 2 cores, more with EASE)
    python benchmarks/make_results.py --quick    # kernels only

Runs the pytest-benchmark suites with JSON output, summarises each (medians and same-run ratios),
records the machine, and appends the quality sections written by benchmarks/quality/*.py
(RESULTS_*.md) as they stand. Timings on a shared 2-core machine are noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from summarize import summarize  # noqa: E402

SUITES = {
    "kernels": ("bench_kernels.py", "Kernels against NumPy/SciPy (each family, both shapes, AVX-512 vs the baseline build)"),
    "models": ("bench_models.py", "Models: epoch time at the ML-20M shape, EASE fit, recommend"),
    "peers": ("bench_peers.py", "Against PyTorch (dense-input and sparse-input forms), same run"),
}


def machine():
    import aerec

    cfg = aerec.config()
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = ", ".join(f"{b['internal_api']} {b['version']} ({b['num_threads']} threads)" for b in cfg["blas"]) or "?"
    return (f"{cpu}, {cfg['usable_cpus']} usable CPUs; aerec {cfg['version']} ({cfg['isa']} kernels, "
            f"OpenMP {'on' if cfg['openmp'] else 'off'}, {cfg['threads']} threads); BLAS: {blas}; "
            f"Python {cfg['python']}; {datetime.date.today().isoformat()}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="kernels only")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args(argv)
    suites = ["kernels"] if args.quick else list(SUITES)
    sections = [
        "# aerec — measured results",
        "",
        "Regenerate with `python benchmarks/make_results.py` (the quality sections come from "
        "`benchmarks/quality/*.py`, see below). Machine: " + machine(),
        "",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for name in suites:
            script, title = SUITES[name]
            out = Path(tmp) / f"{name}.json"
            cmd = [sys.executable, "-m", "pytest", str(HERE / script), "-q", "-p", "no:cacheprovider",
                   f"--benchmark-json={out}", "--benchmark-min-rounds=5", "--benchmark-max-time=1"]
            print("running:", " ".join(cmd[2:]), flush=True)
            subprocess.run(cmd, check=False, cwd=HERE.parent, env=dict(os.environ))
            sections += [f"## {title}", "", f"`python -m pytest benchmarks/{script} --benchmark-json=out.json`", ""]
            sections += [summarize(out) if out.exists() else "(the suite produced no results)", ""]
    # Hand-kept sections: the GPU table (filled by benchmarks/gpu_check.sh on a GPU machine), then quality.
    for extra in [HERE / "RESULTS_GPU.md", *sorted((HERE / "quality").glob("RESULTS_*.md"))]:
        if not extra.exists():
            continue
        sections += [extra.read_text().strip(), ""]
    Path(args.out).write_text("\n".join(sections))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
