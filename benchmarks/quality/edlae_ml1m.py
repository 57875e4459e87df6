"""EDLAE against EASE on ML-1M protocol I1 (the split of ``i1_ml1m.py``: 600 validation + 600 test
users, seed 98765). Each model's hyperparameters are chosen by NDCG@100 on the validation users only;
the chosen model, refitted on the training users, is reported on the test users: NDCG@100 and
Recall@20 (truncated, as the Mult-VAE reference computes it: hits / min(20, #targets)), means ±
standard errors over the scored test users. Also a low-rank EDLAE at the chosen (λ, p).

Usage:  python benchmarks/quality/edlae_ml1m.py [--threads 2] [--rank 500] [--out RESULTS_EDLAE.md]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _implicit_common import data_dir, fmt, log  # noqa: E402
from i1_ml1m import load_split  # noqa: E402

EASE_GRID = (50.0, 100.0, 200.0, 500.0, 1000.0)
EDLAE_L2 = (50.0, 100.0, 200.0, 500.0, 1000.0)
EDLAE_P = (0.1, 0.25, 0.33, 0.5, 0.67)


def per_user(model, fold_in, target):
    from aerec.metrics import ndcg_at_k, truncated_recall_at_k

    rec, _ = model.recommend(fold_in, k=100)
    return ndcg_at_k(rec, target, 100), truncated_recall_at_k(rec, target, 20)


def mean_se(v):
    v = v[~np.isnan(v)]
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size))


def main():
    from aerec import EASE, EDLAE

    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rank", type=int, default=500)
    ap.add_argument("--n-iter", type=int, default=5)
    args = ap.parse_args()
    split = load_split(data_dir("ml-1m"))
    log(f"train {split.train.shape}, val {split.val_fold_in.shape[0]} users, test {split.test_fold_in.shape[0]} users")
    rows = []

    def grid_search(name, configs, make):
        val = {}
        for cfg in configs:
            t0 = time.perf_counter()
            m = make(*cfg).fit(split.train)
            val[cfg] = np.nanmean(per_user(m, split.val_fold_in, split.val_target)[0])
            log(f"{name} {cfg}: fit {time.perf_counter() - t0:.1f} s, val NDCG@100 {val[cfg]:.4f}")
        best = max(configs, key=val.get)
        t0 = time.perf_counter()
        model = make(*best).fit(split.train)
        fit_s = time.perf_counter() - t0
        ndcg, rec = per_user(model, split.test_fold_in, split.test_target)
        rows.append((name, best, val[best], mean_se(ndcg), mean_se(rec), fit_s))
        return best, val

    _, ease_val = grid_search("EASE", [(lam,) for lam in EASE_GRID], lambda lam: EASE(l2=lam, n_threads=args.threads))
    best, edlae_val = grid_search("EDLAE", [(lam, p) for p in EDLAE_P for lam in EDLAE_L2],
                                  lambda lam, p: EDLAE(l2=lam, dropout=p, n_threads=args.threads))
    if args.rank:
        grid_search(f"EDLAE rank {args.rank}", [best], lambda lam, p: EDLAE(
            l2=lam, dropout=p, n_components=args.rank, n_iter=args.n_iter, n_threads=args.threads))

    print("\nvalidation NDCG@100, EASE: " + ", ".join(f"λ={k[0]:g}: {v:.4f}" for k, v in ease_val.items()))
    print("\nvalidation NDCG@100, EDLAE (rows p, columns λ):\n")
    print("| p \\ λ | " + " | ".join(f"{lam:g}" for lam in EDLAE_L2) + " |")
    print("|---" * (len(EDLAE_L2) + 1) + "|")
    for p in EDLAE_P:
        print(f"| {p:g} | " + " | ".join(f"{edlae_val[(lam, p)]:.4f}" for lam in EDLAE_L2) + " |")
    print("\n| model | chosen | val NDCG@100 | test NDCG@100 | test Recall@20 | fit (s) |\n|---|---|---|---|---|---|")
    for name, cfg, v, nd, rc, fit_s in rows:
        chosen = f"λ={cfg[0]:g}" + (f", p={cfg[1]:g}" if len(cfg) > 1 else "")
        print(f"| {name} | {chosen} | {v:.4f} | {fmt(*nd)} | {fmt(*rc)} | {fit_s:.1f} |")


if __name__ == "__main__":
    main()
