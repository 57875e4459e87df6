"""Regenerate benchmarks/RESULTS.md in one command:

    python benchmarks/make_results.py            # all suites (≈ 30 min on 2 quiet cores)
    python benchmarks/make_results.py --quick    # kernels only
    AEREC_BENCH_EASE=1 python benchmarks/make_results.py        # + EASE at 20,108 items vs the paper (≈ +20 min)
    python benchmarks/make_results.py --ease-json ease.json     # include an EASE run made separately

Runs the pytest-benchmark suites with JSON output, summarises each (medians, same-run ratios, the
side-by-side table of bench_peers.py), records the machine, the commands, the date and the load
average around every suite, checks issue 6's targets against the measured figures, and appends the
quality sections written by benchmarks/quality/*.py (RESULTS_*.md) as they stand. Timings on a
shared 2-core machine are noisy: read the same-run ratios.
"""

from __future__ import annotations

import argparse
import datetime
import json
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
    "kernels": ("bench_kernels.py",
                "Kernels against NumPy/SciPy (each family, both shapes, AVX-512 vs the baseline build)"),
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


ENV_VARS = ("AEREC_BENCH_SIZE", "AEREC_BENCH_EASE", "AEREC_BENCH_EASE_ITEMS", "AEREC_BENCH_NETFLIX", "AEREC_BENCH_RSS",
            "OMP_NUM_THREADS")


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _load():
    try:
        return "load average {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())
    except OSError:  # pragma: no cover
        return "load average ?"


def _side(data):
    out = {}
    for b in (data or {}).get("benchmarks", []):
        r = b.get("extra_info", {}).get("side_by_side")
        if r:
            out[(r["case"], r["n_threads"])] = r
    return out


def _median_by_name(data, prefix):
    return {b["name"]: b["stats"]["median"] for b in (data or {}).get("benchmarks", []) if b["name"].startswith(prefix)}


def targets(peers, models, ease):
    """Issue 6's targets against the measured figures: Markdown lines (met / MISSED / not measured)."""
    side = _side(peers)
    lines = ["## Issue 6 targets (same-run ratios; measured, not asserted)", "",
             "| target | threads | measured | verdict |", "|---|---|---|---|"]

    def ratio_row(label, key, peer, need, threads=(2, 1), ours="aerec"):
        for n in threads:
            r = side.get((key, n))
            if not r or peer not in r["impls"] or ours not in r["impls"]:
                lines.append(f"| {label} | {n} | not measured | — |")
                continue
            a, p = r["impls"][ours]["epoch_seconds"], r["impls"][peer]["epoch_seconds"]
            x = p / a
            lines.append(f"| {label} | {n} | {x:.2f}× ({ours} {a:.3g} s vs {p:.3g} s; load "
                         f"{'–'.join(f'{v:.1f}' for v in r['loadavg_1min'])}) | "
                         f"{'met' if x >= need else '**MISSED**'} |")

    ratio_row("Mult-VAE epoch, ML-20M shape: ≥ 2× the dense-input peer", "multvae-ml20m", "torch-dense", 2.0)
    ratio_row("Mult-VAE epoch, ML-20M shape: ≥ 1.3× the sparse-input peer", "multvae-ml20m", "torch-sparse", 1.3)
    for n in (2, 1):
        r = side.get(("multvae-ml20m", n))
        if r:
            f = r["impls"]["aerec"]["fraction_of_sgemm"]
            lines.append(f"| Mult-VAE epoch, ML-20M shape: ≥ 70 % of the sgemm bound | {n} | {100 * f:.0f} % "
                         f"({r['impls']['aerec']['useful_gflops']:.0f} of {r['sgemm_gflops']:.0f} GFLOP/s) | "
                         f"{'met' if f >= 0.7 else '**MISSED**'} |")
    ratio_row("I-AutoRec epoch, ML-1M: ≥ 8× the dense-masked peer", "autorec-ml1m", "torch-dense", 8.0)
    ratio_row("DeepAutoencoder epoch with re-feeding, ML-1M: ≥ 1.3× the peer (NVIDIA's dense form)",
              "deepae-ml1m-refeed1", "torch-dense", 1.3)
    ratio_row("recommend(k=100), 10,000 users, ML-20M shape: ≥ 2× PyTorch scores + topk (sparse first layer)",
              "recommend-ml20m", "torch-sparse", 2.0)
    ratio_row("recommend(k=100), 10,000 users, ML-20M shape: ≥ 2× PyTorch scores + topk (dense input)",
              "recommend-ml20m", "torch-dense", 2.0)
    ratio_row("recommend(k=100, precision='bfloat16') vs PyTorch float32 scores + topk (sparse first layer)",
              "recommend-ml20m", "torch-sparse", 2.0, ours="aerec-bf16")
    ratio_row("recommend(k=100, precision='bfloat16') vs PyTorch with the same bfloat16 output layer (oneDNN)",
              "recommend-ml20m", "torch-sparse-bf16", 2.0, ours="aerec-bf16")
    e = _median_by_name(ease, "test_ease_fit_vs_paper")
    if e.get("test_ease_fit_vs_paper[paper-numpy]") and e.get("test_ease_fit_vs_paper[aerec-float32]"):
        paper = e["test_ease_fit_vs_paper[paper-numpy]"]
        for dt in ("float32", "float64"):
            t = e.get(f"test_ease_fit_vs_paper[aerec-{dt}]")
            if t:
                x = paper / t
                lines.append(f"| EASE fit, 20,108 items: ≥ 4× the paper's NumPy code (aerec {dt}) | 2 | {x:.2f}× "
                             f"(aerec {t:.0f} s vs {paper:.0f} s) | {'met' if x >= 4 else '**MISSED**'} |")
    else:
        lines.append("| EASE fit, 20,108 items: ≥ 4× the paper's NumPy code | 2 | not run in this regeneration "
                     "(AEREC_BENCH_EASE=1 or --ease-json) | — |")
    rss = [b["extra_info"] for b in (models or {}).get("benchmarks", []) if "peak_rss_mb" in b.get("extra_info", {})]
    if rss:
        mb = rss[0]["peak_rss_mb"]
        gb = mb * 2**20 / 1e9
        lines.append(f"| Mult-VAE training at the ML-20M shape: peak memory ≤ 2.5 GB | 2 | {gb:.2f} GB ({mb:.0f} MiB "
                     f"peak RSS of a whole 1-epoch fit incl. the data; {rss[0]['fit_seconds']:.0f} s) | "
                     f"{'met' if gb <= 2.5 else '**MISSED**'} |")
    else:
        lines.append("| Mult-VAE training at the ML-20M shape: peak memory ≤ 2.5 GB | 2 | not measured | — |")
    return lines


def _previous_section(path, title):
    """The '## title' section of an existing RESULTS.md (up to the next '## ' or '# '), or None."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    head = f"## {title}\n"
    k = text.find(head)
    if k < 0:
        return None
    rest = text[k + len(head):]
    ends = [m for m in (rest.find("\n## "), rest.find("\n# ")) if m >= 0]
    body = rest[:min(ends)].strip() if ends else rest.strip()
    note = "*Not rerun in this regeneration: carried over from the previous RESULTS.md.*"
    return body[len(note):].strip() if body.startswith(note) else body


def _merge(jsons):
    """One pytest-benchmark JSON from several (the peers suite runs one pytest per case)."""
    if not jsons:
        return None
    merged = dict(jsons[0])
    by_name = {}  # a later file's run of the same benchmark (a rerun, e.g. peers-rerun.json) replaces it
    for d in jsons:
        for b in d.get("benchmarks", []):
            by_name[b.get("fullname", b["name"])] = b
    merged["benchmarks"] = list(by_name.values())
    return merged


def _invocations(name, script):
    """pytest targets for a suite: the peers suite runs in three pytest sessions (ML-1M cases; the
    ML-20M training cases; recommend, Netflix and EASE), so that results are written as each group
    ends (a long run stopped midway keeps them) without paying the imports once per case."""
    if name != "peers":
        return [[str(HERE / script)]]
    import workloads

    groups = [[c for c in workloads.CASES if "ml1m" in c], [c for c in workloads.CASES if c.endswith("-ml20m")
                                                             and not c.startswith("recommend")]]
    rest = [c for c in workloads.CASES if not any(c in g for g in groups)]
    runs = [[f"{HERE / script}::test_side_by_side[{case}-{n}]" for case in g for n in (2, 1)] for g in groups + [rest]]
    runs[-1].append(f"{HERE / script}::test_ease_fit_vs_paper")
    return runs


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="kernels only")
    ap.add_argument("--out", default=str(HERE / "RESULTS.md"))
    ap.add_argument("--suites", default=None,
                    help="comma-separated subset of " + ",".join(SUITES) + ", run in this order; the sections of "
                    "suites not run are carried over from the existing output file, labelled so")
    ap.add_argument("--ease-json", default=None,
                    help="a bench_peers.py JSON with the EASE-vs-paper run made separately "
                    "(AEREC_BENCH_EASE=1 -k ease)")
    ap.add_argument("--ease-note", default="", help="when/how the --ease-json run was made (date, load average)")
    ap.add_argument("--keep-json", default=None,
                    help="copy each suite's JSON (and its time/load record, NAME.meta.json) into this folder")
    ap.add_argument("--from-json", default=None,
                    help="render from a --keep-json folder instead of running: NAME.json (+ NAME-*.json, e.g. an "
                    "opt-in case run separately, merged in) and NAME.meta.json per suite; "
                    "suites without JSON there run")
    args = ap.parse_args(argv)
    suites = ["kernels"] if args.quick else (args.suites.split(",") if args.suites else list(SUITES))
    env = " ".join(f"{k}={os.environ[k]}" for k in ENV_VARS if k in os.environ)
    argline = " ".join(argv if argv is not None else sys.argv[1:])
    started = _now()
    previous = {name: _previous_section(args.out, SUITES[name][1]) for name in SUITES if name not in suites}
    done, results = {}, {}

    def write(running=None):
        sections = [
            "# aerec — measured results",
            "",
            "Regenerate with `python benchmarks/make_results.py` (the quality sections come from "
            "`benchmarks/quality/*.py`, see below). Machine: " + machine(),
            "",
            f"This file: `{(env + ' ') if env else ''}python benchmarks/make_results.py"
            f"{' ' + argline if argline else ''}`"
            + (f", rendered {_now()} from the JSON of the runs named in each section" if args.from_json else
               f", run {started} → {_now()}{f' (still running: {running})' if running else ''}")
            + ". The machine is shared "
            "(2 cores, other engineers' jobs running): the load average is given beside every suite and every "
            "side-by-side case; compare implementations only within a block measured in the same run.",
            "",
        ]
        ease = json.loads(Path(args.ease_json).read_text()) if args.ease_json else results.get("peers")
        if "peers" in results or "models" in results or args.ease_json:
            sections += targets(results.get("peers"), results.get("models"), ease) + [""]
        for name in SUITES:
            if name in done:
                sections += done[name]
            elif previous.get(name):
                sections += [f"## {SUITES[name][1]}", "",
                             "*Not rerun in this regeneration: carried over from the previous RESULTS.md.*", "",
                             previous[name], ""]
        if args.ease_json:
            sections += ["## EASE fit at 20,108 items vs the paper's NumPy code (run separately)", "",
                         "`AEREC_BENCH_EASE=1 python -m pytest benchmarks/bench_peers.py -k ease "
                         "--benchmark-json=ease.json`" + (f" — {args.ease_note}" if args.ease_note else ""), "",
                         summarize(args.ease_json), ""]
        # Hand-kept sections: where the time goes (profiles behind the missed targets), the GPU table
        # (filled by benchmarks/gpu_check.sh on a GPU machine), then quality.
        for extra in [HERE / "RESULTS_SPEED_NOTES.md", HERE / "RESULTS_GPU.md",
                      *sorted((HERE / "quality").glob("RESULTS_*.md"))]:
            if extra.exists():
                sections += [extra.read_text().strip(), ""]
        Path(args.out).write_text("\n".join(sections))

    def reuse(name, script, title):
        folder = Path(args.from_json)
        files = sorted(folder.glob(f"{name}.json")) + sorted(f for f in folder.glob(f"{name}-*.json")
                                                            if not f.name.endswith(".meta.json"))
        if not files:
            return False
        merged = _merge([json.loads(f.read_text()) for f in files])
        metas = [json.loads(m.read_text()) for m in (folder / f"{f.stem}.meta.json" for f in files) if m.exists()]
        runs = "; ".join(f"run {m['t0']} → {m['t1']}, {m['load0']} at the start, {m['load1']} at the end"
                         for m in metas) or "run times not recorded"
        path = Path(tmp) / f"{name}.json"
        path.write_text(json.dumps(merged))
        results[name] = merged
        done[name] = [f"## {title}", "",
                      f"`python -m pytest benchmarks/{script} -p no:cacheprovider --benchmark-json=out.json "
                      f"--benchmark-min-rounds=5 --benchmark-max-time=1`"
                      + (" (one pytest per group of cases)" if name == "peers" else ""), "",
                      f"Rendered from {', '.join(f.name for f in files)}: {runs}.", "", summarize(path), ""]
        return True

    with tempfile.TemporaryDirectory() as tmp:
        for name in suites:
            script, title = SUITES[name]
            if args.from_json and reuse(name, script, title):
                write(running=f"suite {name}")
                continue
            jsons, t0, load0 = [], _now(), _load()
            for k, targets_ in enumerate(_invocations(name, script)):
                out = Path(tmp) / f"{name}-{k}.json"
                cmd = [sys.executable, "-m", "pytest", *targets_, "-q", "-p", "no:cacheprovider",
                       f"--benchmark-json={out}", "--benchmark-min-rounds=5", "--benchmark-max-time=1"]
                print("running:", " ".join(cmd[2:]), flush=True)
                subprocess.run(cmd, check=False, cwd=HERE.parent, env=dict(os.environ))
                if out.exists():
                    jsons.append(json.loads(out.read_text()))
                merged = _merge(jsons)
                load1, t1 = _load(), _now()
                section = [f"## {title}", "",
                           f"`{(env + ' ') if env else ''}python -m pytest benchmarks/{script} -p no:cacheprovider "
                           f"--benchmark-json=out.json --benchmark-min-rounds=5 --benchmark-max-time=1`"
                           + (" (one pytest per case)" if name == "peers" else ""), "",
                           f"Run {t0} → {t1}; {load0} at the start, {load1} at the end.", ""]
                if merged:
                    results[name] = merged
                    path = Path(tmp) / f"{name}.json"
                    path.write_text(json.dumps(merged))
                    section += [summarize(path), ""]
                    if args.keep_json:
                        Path(args.keep_json).mkdir(parents=True, exist_ok=True)
                        (Path(args.keep_json) / f"{name}.json").write_text(path.read_text())
                        (Path(args.keep_json) / f"{name}.meta.json").write_text(json.dumps(
                            {"t0": t0, "t1": t1, "load0": load0, "load1": load1}))
                else:
                    section += ["(the suite produced no results)", ""]
                done[name] = section
                write(running=f"suite {name}")
    write()
    print("wrote", args.out)


if __name__ == "__main__":
    main()
