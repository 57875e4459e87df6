"""Summarise a pytest-benchmark JSON file as Markdown: per group, each variant's median and its
speed-up over the NumPy/SciPy reference measured in the same run, plus the sgemm rate.

    python -m pytest benchmarks/bench_kernels.py --benchmark-json=bench.json
    python benchmarks/summarize.py bench.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict


def summarize(path):
    data = json.load(open(path))
    groups = defaultdict(list)
    sgemm = None
    for b in data["benchmarks"]:
        groups[b["group"]].append(b)
        sgemm = b.get("extra_info", {}).get("sgemm_gflops", sgemm)
    machine = data.get("machine_info", {})
    lines = [f"Machine: {machine.get('cpu', {}).get('brand_raw', '?')}, "
             f"{machine.get('cpu', {}).get('count', '?')} logical CPUs; "
             f"NumPy sgemm (2048³, all BLAS threads) measured in this run: {sgemm:.0f} GFLOP/s" if sgemm else "", "",
             "| group | variant | median (ms) | speed-up of aerec vs the fastest reference in the group |",
             "|---|---|---|---|"]

    def variant(b):
        name = b["name"].split("[")[0].replace("test_", "")
        params = {k: v for k, v in (b.get("params") or {}).items() if k not in ("n_threads", "shape", "model_name")}
        return name + (" [" + ", ".join(f"{k}={v}" for k, v in params.items()) + "]" if params else "")

    for group in sorted(groups):
        rows = groups[group]
        refs = [b for b in rows if "aerec" not in b["name"]]
        best_ref = min(refs, key=lambda b: b["stats"]["median"]) if refs else None
        for b in sorted(rows, key=lambda b: b["stats"]["median"]):
            med = b["stats"]["median"]
            if "aerec" in b["name"] and best_ref is not None:
                ratio = f"{best_ref['stats']['median'] / med:.2f}× vs {variant(best_ref)}"
            else:
                ratio = "reference"
            lines.append(f"| {group} | {variant(b)} | {med * 1e3:.2f} | {ratio} |")
    extra = [b for b in data["benchmarks"] if {"gflops", "users_per_second"} & set(b.get("extra_info", {}))]
    if extra:
        lines += ["", "| benchmark | median (s) | derived |", "|---|---|---|"]
        for b in extra:
            info = b["extra_info"]
            derived = ", ".join(f"{k} = {v:.3g}" if isinstance(v, float) else f"{k} = {v}"
                                for k, v in info.items() if k != "sgemm_gflops")
            lines.append(f"| {b['name']} | {b['stats']['median']:.3f} | {derived} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarize(sys.argv[1]))
