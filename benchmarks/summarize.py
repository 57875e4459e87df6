"""Summarise a pytest-benchmark JSON file as Markdown: per group, each variant's median and its
speed-up over the NumPy/SciPy reference measured in the same run, plus the sgemm rate; the
side-by-side cases of bench_peers.py (aerec and its PyTorch peers interleaved) as one table with
seconds per epoch, peak RSS, FLOPs, GFLOP/s, fraction of sgemm and the ratio to each peer.

    python -m pytest benchmarks/bench_kernels.py --benchmark-json=bench.json
    python benchmarks/summarize.py bench.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

#: Kernel groups are named by the C++ stem of the kernel family they measure. Runs recorded before
#: (benchmarks/results/) used the old names on the left; they are renamed as they are read, so old
#: and new JSON summarise alike.
OLD_GROUP_PREFIXES = {"multinomial": "losses[multinomial ", "topk100": "topk[k=100 ",
                      "activation_tanh": "activations[tanh ", "adam": "optim[adam ",
                      "scoring_gemm": "gemm_bf16[", "scoring_topk100": "screened_topk[k=100 "}


def group_name(group):
    """A benchmark group's current name (old kernel group names mapped to the stem-named ones)."""
    prefix, bracket, rest = group.partition("[")
    new = OLD_GROUP_PREFIXES.get(prefix) if bracket else None
    return new + rest if new else group


def summarize(path):
    data = json.load(open(path))
    groups = defaultdict(list)
    sgemm = None
    side = [b["extra_info"]["side_by_side"] for b in data["benchmarks"] if "side_by_side" in b.get("extra_info", {})]
    for b in data["benchmarks"]:
        if "side_by_side" in b.get("extra_info", {}):
            continue
        groups[group_name(b["group"])].append(b)
        sgemm = b.get("extra_info", {}).get("sgemm_gflops", sgemm)
    machine = data.get("machine_info", {})
    lines = [f"Machine: {machine.get('cpu', {}).get('brand_raw', '?')}, "
             f"{machine.get('cpu', {}).get('count', '?')} logical CPUs; "
             f"NumPy sgemm (2048³, all BLAS threads) measured in this run: {sgemm:.0f} GFLOP/s" if sgemm else "", "",
             ]
    if side:
        lines += [side_by_side_table(side), ""]
    if groups:
        lines += ["| group | variant | median (ms) | speed-up of aerec vs the fastest reference in the group |",
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
    extra = [b for b in data["benchmarks"]
             if {"gflops", "users_per_second", "peak_rss_mb"} & set(b.get("extra_info", {}))]
    if extra:
        lines += ["", "| benchmark | median (s) | derived |", "|---|---|---|"]
        for b in extra:
            info = b["extra_info"]
            derived = ", ".join(f"{k} = {v:.3g}" if isinstance(v, float) else f"{k} = {v}"
                                for k, v in info.items() if k != "sgemm_gflops")
            lines.append(f"| {b['name']} | {b['stats']['median']:.3f} | {derived} |")
    return "\n".join(lines)


IMPL_NAMES = {"aerec": "aerec", "torch-dense": "PyTorch, dense input (papers' / libraries' form)",
              "torch-sparse": "PyTorch, sparse first layer (torch.sparse.mm)",
              "numpy": "NumPy/SciPy (no native code)",
              "aerec-bf16": "aerec, bfloat16 output layer (recommend(precision='bfloat16'))",
              "torch-sparse-bf16": "PyTorch, sparse first layer, bfloat16 output layer (oneDNN)"}


def side_by_side_table(results):
    """One row per case × threads × implementation (results: the ``side_by_side`` dicts)."""
    lines = ["Every row of a case × threads block was timed in the same rounds, interleaved (order rotated each "
             "round); median over the rounds. *speed-up* = the implementation's time / aerec's time (how many "
             "times faster aerec is). GFLOP/s and % of sgemm count the useful FLOPs (what aerec executes: the "
             "sparse-aware count); *executed GFLOP* is what each form computes. sgemm: NumPy's BLAS at the "
             "same thread count in this session. Peak RSS: the workload alone in a fresh process (interpreter "
             "and imports included; PyTorch alone adds ≈ 300 MB), measured at 2 threads.", "",
             "| case | threads | implementation | s/epoch | how | executed GFLOP/epoch | useful GFLOP/s | % of sgemm "
             "| speed-up of aerec | peak RSS (MB) | load avg (1 min) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(results, key=lambda r: (r["title"], -r["n_threads"])):
        load = "–".join(f"{v:.1f}" for v in r["loadavg_1min"])
        for impl, row in r["impls"].items():
            rss = row.get("rss", {})
            rss_s = f"{rss['peak_rss_mb']:.0f}" if "peak_rss_mb" in rss else ("error" if rss else "–")
            speed = "—" if impl == "aerec" else f"**{row['time_vs_aerec']:.2f}×**"
            lines.append(
                f"| {r['title']} | {r['n_threads']} | {IMPL_NAMES.get(impl, impl)} | {row['epoch_seconds']:.3g} | "
                f"{r['label']} | {row['executed_gflop_per_epoch']:.4g} | {row['useful_gflops']:.1f} | "
                f"{100 * row['fraction_of_sgemm']:.0f} % of {r['sgemm_gflops']:.0f} | {speed} | {rss_s} | {load} |")
    notes = sorted({f"{r['title']}: {r['data']}" for r in results if r.get("data")})
    if notes:
        lines += ["", "Data: " + "; ".join(notes) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarize(sys.argv[1]))
