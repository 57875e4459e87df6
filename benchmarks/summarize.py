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
             f"NumPy sgemm (2048³, all BLAS threads): {sgemm:.0f} GFLOP/s" if sgemm else "", "",
             "| group | variant | median (ms) | speed-up vs reference |", "|---|---|---|---|"]
    for group in sorted(groups):
        rows = groups[group]
        ref = [b for b in rows if "aerec" not in b["name"]]
        ref_median = ref[0]["stats"]["median"] if ref else None
        for b in sorted(rows, key=lambda b: b["stats"]["median"]):
            med = b["stats"]["median"]
            variant = b["name"].split("[")[0].replace("test_", "")
            if "isa" in (b.get("params") or {}):
                variant += f" ({b['params']['isa']})"
            ratio = f"{ref_median / med:.1f}×" if ref_median and "aerec" in b["name"] else "1.0× (reference)"
            lines.append(f"| {group} | {variant} | {med * 1e3:.2f} | {ratio} |")
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
