"""Protocol I1 (Mult-VAE strong generalisation, PROTOCOLS.md) on MovieLens-1M.

Split: ``aerec.model_selection.strong_generalization_split`` with 600 validation + 600 test users and
the reference's seed 98765 (ratings > 3.5, users with >= 5 interactions). Every model is fitted on the
training users, selects its epoch (or λ) on the validation users, and is reported on the test users:
NDCG@100, Recall@20/@50 as the reference computes them (hits / min(k, #targets), "truncated") and the
standard recall (hits / #targets), means ± standard errors over the scored test users.

Models (``--models``, comma-separated):
  vae        aerec MultVAE, reference settings (its defaults), best epoch by validation NDCG@100
  dae        aerec MultDAE, reference settings
  torch-vae  the PyTorch re-implementation of the reference notebook (benchmarks/peers/torch_multvae.py)
  torch-dae  the same for Mult-DAE (not in the default list)
  ease       aerec EASE, λ chosen on the validation users from ``--ease-grid``
  pop        Popularity

The issue's requirement — aerec MultVAE within one standard error of (or above) the reference run —
is checked against the torch peer trained on the same split in the same run, and printed.

Usage:  python benchmarks/quality/i1_ml1m.py [--epochs 200] [--models ...] [--out RESULTS.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "peers"))

from _implicit_common import data_dir, fmt, log, machine_lines, markdown_table, write_section  # noqa: E402

ALL_MODELS = ("vae", "dae", "torch-vae", "torch-dae", "ease", "pop")
DEFAULT_MODELS = ("vae", "dae", "torch-vae", "ease", "pop")
LABELS = {"vae": "aerec MultVAE", "dae": "aerec MultDAE", "torch-vae": "torch Mult-VAE (reference re-impl.)",
          "torch-dae": "torch Mult-DAE (reference re-impl.)", "ease": "aerec EASE", "pop": "aerec Popularity"}
KS = (20, 50, 100)
SPLIT_SEED = 98765


def load_split(path, n_heldout_users=600, max_train_users=None):
    """The I1 split of ML-1M. ``max_train_users`` keeps only the first training users (smoke tests)."""
    from aerec.datasets import load_ml1m
    from aerec.model_selection import strong_generalization_split

    users, items, ratings = load_ml1m(path)
    split = strong_generalization_split(users, items, ratings, n_heldout_users=n_heldout_users, seed=SPLIT_SEED)
    if max_train_users is not None:
        split.train = split.train[:max_train_users]
    return split


def evaluate(recommended, target):
    from aerec.metrics import evaluate_rankings

    return evaluate_rankings(np.asarray(recommended)[:, :max(KS)], target, ks=KS)


def _result(key, metrics, fit_s, n_epochs=None, best_epoch=None, best_val=None, params=None, notes=None,
            train_s_per_epoch=None):
    return dict(key=key, label=LABELS[key], metrics=metrics, fit_s=fit_s, n_epochs=n_epochs, best_epoch=best_epoch,
                best_val=best_val, params=params or {}, notes=notes or [], train_s_per_epoch=train_s_per_epoch)


def run_aerec_ae(key, split, epochs, threads, seed, verbose=True):
    from aerec import MultDAE, MultVAE

    cls = MultVAE if key == "vae" else MultDAE
    model = cls(n_epochs=epochs, random_state=seed, n_threads=threads, verbose=verbose)
    log(f"{LABELS[key]}: fitting {epochs} epochs on {split.train.shape[0]:,} users x {split.train.shape[1]:,} items")
    t0 = time.perf_counter()
    model.fit(split.train, X_val=split.val_fold_in, y_val=split.val_target)
    fit_s = time.perf_counter() - t0
    rec, _ = model.recommend(split.test_fold_in, k=max(KS))
    m = evaluate(rec, split.test_target)
    best = model.best_epoch_
    log(f"{LABELS[key]}: {fit_s:.1f} s ({fit_s / model.n_iter_:.2f} s/epoch incl. validation), best epoch "
        f"{best + 1} (val NDCG@100 {model.validation_scores_[best]:.4f}), test NDCG@100 {m['ndcg@100']:.4f}")
    params = {k: v for k, v in model.get_params().items() if k != "verbose"}
    return _result(key, m, fit_s, model.n_iter_, best, model.validation_scores_[best], params,
                   [f"updates {model.n_updates_}, final β {model.beta_:.4f}"])


def run_torch_ae(key, split, epochs, threads, seed, verbose=True):
    from torch_multvae import TorchMultVAE

    model = TorchMultVAE(variational=(key == "torch-vae"), n_epochs=epochs, random_seed=seed, n_threads=threads,
                         verbose=verbose)
    log(f"{LABELS[key]}: fitting {epochs} epochs")
    t0 = time.perf_counter()
    model.fit(split.train, split.val_fold_in, split.val_target)
    fit_s = time.perf_counter() - t0
    rec = model.recommend(split.test_fold_in, k=max(KS))
    m = evaluate(rec, split.test_target)
    best = model.best_epoch_
    train_med = float(np.median(model.epoch_seconds_))
    log(f"{LABELS[key]}: {fit_s:.1f} s ({fit_s / model.n_iter_:.2f} s/epoch incl. validation, median training "
        f"epoch {train_med:.2f} s), best epoch {best + 1} (val NDCG@100 {model.validation_scores_[best]:.4f}), "
        f"test NDCG@100 {m['ndcg@100']:.4f}")
    return _result(key, m, fit_s, model.n_iter_, best, model.validation_scores_[best], model.get_params(),
                   [f"updates {model.n_updates_}, final β {model.beta_:.4f}"], train_s_per_epoch=train_med)


def run_ease(split, grid, threads):
    from aerec import EASE

    val_scores = {}
    fits = {}
    for lam in grid:
        t0 = time.perf_counter()
        model = EASE(l2=lam, n_threads=threads).fit(split.train)
        fits[lam] = time.perf_counter() - t0
        rec, _ = model.recommend(split.val_fold_in, k=100)
        val_scores[lam] = evaluate(rec, split.val_target)["ndcg@100"]
        log(f"EASE λ={lam:g}: fit {fits[lam]:.2f} s, val NDCG@100 {val_scores[lam]:.4f}")
    best = max(grid, key=lambda lam: val_scores[lam])
    model = EASE(l2=best, n_threads=threads)
    t0 = time.perf_counter()
    model.fit(split.train)
    fit_s = time.perf_counter() - t0
    rec, _ = model.recommend(split.test_fold_in, k=max(KS))
    m = evaluate(rec, split.test_target)
    log(f"EASE: chose λ={best:g}; test NDCG@100 {m['ndcg@100']:.4f}")
    params = {k: v for k, v in model.get_params().items() if k != "verbose"}
    grid_txt = ", ".join(f"λ={lam:g}: {val_scores[lam]:.4f}" for lam in grid)
    return _result("ease", m, fit_s, best_val=val_scores[best], params=params,
                   notes=[f"validation NDCG@100 over the grid: {grid_txt}"])


def run_pop(split, threads):
    from aerec import Popularity

    t0 = time.perf_counter()
    model = Popularity(n_threads=threads).fit(split.train)
    fit_s = time.perf_counter() - t0
    rec, _ = model.recommend(split.test_fold_in, k=max(KS))
    m = evaluate(rec, split.test_target)
    log(f"Popularity: test NDCG@100 {m['ndcg@100']:.4f}")
    return _result("pop", m, fit_s, params={"n_threads": threads})


def timing_rounds(split, rounds, epochs, threads, seed):
    """Seconds per training epoch (no validation), aerec vs torch, fitted alternately so both see the
    same machine load: ``rounds`` rounds of (aerec fit, torch fit) of ``epochs`` epochs each, for the
    VAE and the DAE. Returns {name: [s/epoch per round]}."""
    from torch_multvae import TorchMultVAE

    from aerec import MultDAE, MultVAE

    out = {"aerec MultVAE": [], "torch Mult-VAE": [], "aerec MultDAE": [], "torch Mult-DAE": []}
    for r in range(rounds):
        for variational in (True, False):
            cls = MultVAE if variational else MultDAE
            t0 = time.perf_counter()
            cls(n_epochs=epochs, random_state=seed + r, n_threads=threads).fit(split.train)
            a = (time.perf_counter() - t0) / epochs
            t0 = time.perf_counter()
            TorchMultVAE(variational=variational, n_epochs=epochs, random_seed=seed + r,
                         n_threads=threads).fit(split.train)
            b = (time.perf_counter() - t0) / epochs
            kind = "VAE" if variational else "DAE"
            out[f"aerec Mult{kind}"].append(a)
            out[f"torch Mult-{kind}"].append(b)
            log(f"timing round {r + 1}/{rounds}, Mult-{kind}: aerec {a:.2f} s/epoch, torch {b:.2f} s/epoch")
    return out


def timing_lines(timing, rounds, epochs):
    med = {k: float(np.median(v)) for k, v in timing.items()}
    lines = [f"Training speed, measured alternately (aerec then torch, {rounds} rounds of {epochs} epochs each, no "
             "validation pass; median s/epoch over the rounds, same machine, same threads):", ""]
    lines += markdown_table(["Model", "aerec s/epoch", "torch s/epoch", "torch / aerec", "per round: aerec ; torch"], [
        [f"Mult-{k}", f"{med[f'aerec Mult{k}']:.2f}", f"{med[f'torch Mult-{k}']:.2f}",
         f"{med[f'torch Mult-{k}'] / med[f'aerec Mult{k}']:.2f}",
         " ".join(f"{x:.2f}" for x in timing[f"aerec Mult{k}"]) + " ; "
         + " ".join(f"{x:.2f}" for x in timing[f"torch Mult-{k}"])] for k in ("VAE", "DAE")])
    return lines


def compare_to_peer(results):
    """The ±1 s.e. requirement: aerec MultVAE vs the torch reference run (lines of text, pass flag)."""
    by = {r["key"]: r for r in results}
    lines, ok = [], None
    for ours, peer in (("vae", "torch-vae"), ("dae", "torch-dae")):
        if ours not in by or peer not in by:
            continue
        a, b = by[ours]["metrics"], by[peer]["metrics"]
        for metric in ("ndcg@100", "truncated_recall@20", "truncated_recall@50"):
            diff = a[metric] - b[metric]
            passed = a[metric] >= b[metric] - b[f"{metric}_se"]
            lines.append(f"{LABELS[ours]} vs {LABELS[peer]}, {metric}: {a[metric]:.4f} vs {b[metric]:.4f} "
                         f"(diff {diff:+.4f}, peer s.e. {b[f'{metric}_se']:.4f}) -> "
                         f"{'within 1 s.e. or above' if passed else 'MORE THAN 1 s.e. BELOW'}")
            if ours == "vae" and metric == "ndcg@100":
                ok = passed
    return lines, ok


def report(results, args, split, threads, comparison, ok, timing=None):
    n_test = results[0]["metrics"]["n_users"] if results else 600
    lines = [
        "## Protocol I1 — ML-1M, strong generalisation (Mult-VAE protocol)",
        "",
        f"Split: `strong_generalization_split(n_heldout_users=600, seed={SPLIT_SEED})` — ratings > 3.5, users with "
        f">= 5 interactions; {split.train.shape[0]:,} training users × {split.train.shape[1]:,} items "
        f"({split.train.nnz:,} interactions), 600 validation and 600 test users ({n_test} test users scored: "
        "20 % of each held-out user's items are the target, the rest the fold-in input; fold-in items are "
        "never recommended). Epochs / λ selected by validation NDCG@100; the table is the test users.",
        "R@k (trunc.) is the reference's recall, hits / min(k, #targets); R@k is hits / #targets. "
        "Mean ± standard error (population std / √n, as the reference).",
        "",
    ]
    header = ["Model", "NDCG@100", "R@20 (trunc.)", "R@50 (trunc.)", "R@20", "R@50", "best epoch / λ",
              "fit (s)", "s/epoch"]
    rows = []
    for r in results:
        m = r["metrics"]
        if r["key"] == "ease":
            sel = f"λ={r['params']['l2']:g}"
        elif r["best_epoch"] is not None:
            sel = f"{r['best_epoch'] + 1} of {r['n_epochs']}"
        else:
            sel = "—"
        spe = f"{r['fit_s'] / r['n_epochs']:.2f}" if r["n_epochs"] else "—"
        rows.append([r["label"], fmt(m["ndcg@100"], m["ndcg@100_se"]),
                     fmt(m["truncated_recall@20"], m["truncated_recall@20_se"]),
                     fmt(m["truncated_recall@50"], m["truncated_recall@50_se"]),
                     fmt(m["recall@20"], m["recall@20_se"]), fmt(m["recall@50"], m["recall@50_se"]),
                     sel, f"{r['fit_s']:.1f}", spe])
    lines += markdown_table(header, rows) if rows else ["(no model run)"]
    lines += ["", "s/epoch = fit time / epochs, each epoch including its validation pass (600 users); both aerec "
              "and torch measured in this run on the same machine and threads."]
    torch_r = [r for r in results if r["train_s_per_epoch"] is not None]
    for r in torch_r:
        lines.append(f"{r['label']}: median training-only epoch {r['train_s_per_epoch']:.2f} s.")
    by = {r["key"]: r for r in results}
    if "vae" in by and "torch-vae" in by:
        a = by["vae"]["fit_s"] / by["vae"]["n_epochs"]
        b = by["torch-vae"]["fit_s"] / by["torch-vae"]["n_epochs"]
        lines.append(f"Speed, Mult-VAE: aerec {a:.2f} s/epoch vs torch {b:.2f} s/epoch (torch/aerec = {b / a:.2f}).")
    if "dae" in by and "torch-dae" in by:
        a = by["dae"]["fit_s"] / by["dae"]["n_epochs"]
        b = by["torch-dae"]["fit_s"] / by["torch-dae"]["n_epochs"]
        lines.append(f"Speed, Mult-DAE: aerec {a:.2f} s/epoch vs torch {b:.2f} s/epoch (torch/aerec = {b / a:.2f}).")
    if timing:
        lines += [""] + timing_lines(timing, args.timing_rounds, args.timing_epochs)
    if comparison:
        lines += ["", "### Requirement: aerec MultVAE within 1 s.e. of (or above) the reference re-implementation", ""]
        lines += [f"- {c}" for c in comparison]
        if ok is not None:
            lines.append(f"- **NDCG@100 requirement: {'PASS' if ok else 'FAIL'}**")
    lines += ["", "### Parameters", ""]
    for r in results:
        p = ", ".join(f"{k}={v!r}" for k, v in r["params"].items())
        extra = ""
        if r["best_val"] is not None:
            extra = f"; best validation NDCG@100 {r['best_val']:.4f}"
        lines.append(f"- {r['label']}: {p}{extra}" + ("".join(f"; {n}" for n in r["notes"])))
    lines += ["", "### Machine", ""] + machine_lines(threads)
    lines.append(f"- Command: `python benchmarks/quality/i1_ml1m.py {' '.join(args.argv)}`")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=200, help="epochs of every autoencoder (default 200)")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS),
                    help=f"comma-separated subset of {','.join(ALL_MODELS)} (default {','.join(DEFAULT_MODELS)})")
    ap.add_argument("--ease-grid", default="50,100,200,500,1000", help="EASE λ values tried on the validation users")
    ap.add_argument("--timing-rounds", type=int, default=0,
                    help="after the models, time aerec vs torch training epochs alternately, this many rounds")
    ap.add_argument("--timing-epochs", type=int, default=3, help="epochs per timing fit")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=98765, help="model seed (the notebook's random_seed)")
    ap.add_argument("--data-dir", default=None, help="the ml-1m folder (default: <shared data>/ml-1m)")
    ap.add_argument("--out", default=None, help="write a Markdown section to this file")
    ap.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    models = [m.strip() for m in args.models.split(",") if m.strip() and m.strip() != "none"]
    bad = [m for m in models if m not in ALL_MODELS]
    if bad:
        ap.error(f"unknown model(s) {bad}; choose from {ALL_MODELS}")
    grid = [float(x) for x in args.ease_grid.split(",")]

    path = data_dir("ml-1m", args.data_dir)
    log(f"loading {path}")
    split = load_split(path)
    log(f"split: train {split.train.shape} ({split.train.nnz:,} nnz), val {split.val_fold_in.shape}, "
        f"test {split.test_fold_in.shape}, {int((np.diff(split.test_target.indptr) > 0).sum())} test users scored")

    results = []
    for key in models:
        if key in ("vae", "dae"):
            results.append(run_aerec_ae(key, split, args.epochs, args.threads, args.seed, verbose=not args.quiet))
        elif key in ("torch-vae", "torch-dae"):
            results.append(run_torch_ae(key, split, args.epochs, args.threads, args.seed, verbose=not args.quiet))
        elif key == "ease":
            results.append(run_ease(split, grid, args.threads))
        elif key == "pop":
            results.append(run_pop(split, args.threads))

    print()
    for r in results:
        m = r["metrics"]
        print(f"{r['label']:40s} NDCG@100 {fmt(m['ndcg@100'], m['ndcg@100_se'])}  "
              f"R@20 {fmt(m['truncated_recall@20'], m['truncated_recall@20_se'])}  "
              f"R@50 {fmt(m['truncated_recall@50'], m['truncated_recall@50_se'])}  "
              f"(std. recall R@20 {m['recall@20']:.4f} R@50 {m['recall@50']:.4f})  fit {r['fit_s']:.1f} s")
    timing = None
    if args.timing_rounds > 0:
        timing = timing_rounds(split, args.timing_rounds, args.timing_epochs, args.threads, args.seed)
        print("\n".join(timing_lines(timing, args.timing_rounds, args.timing_epochs)))
    comparison, ok = compare_to_peer(results)
    if comparison:
        print("\nRequirement: aerec MultVAE within 1 s.e. of (or above) the torch re-implementation of the reference:")
        for c in comparison:
            print("  " + c)
        if ok is not None:
            print(f"  => NDCG@100 requirement {'PASS' if ok else 'FAIL'}")
    if args.out:
        write_section(args.out, report(results, args, split, args.threads, comparison, ok, timing))
    return results


if __name__ == "__main__":
    main()
