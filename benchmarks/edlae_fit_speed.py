"""EDLAE's full-rank fit against EASE's at the same item count, in one process, interleaved
(EASE, EDLAE) pairs, medians. Both run the same Gram + blocked Cholesky inverse; EDLAE only adds a
different diagonal. The issue's target: EDLAE no more than 10 % slower than EASE.

Usage:  python benchmarks/edlae_fit_speed.py [--items 6000] [--users 20000] [--per-user 50] [--pairs 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from aerec import EASE, EDLAE
from aerec.datasets import make_synthetic


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=6000)
    ap.add_argument("--users", type=int, default=20000)
    ap.add_argument("--per-user", type=int, default=50)
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    X = make_synthetic((args.users, args.items, args.users * args.per_user), random_state=0)
    EASE(l2=200.0, n_threads=args.threads).fit(X[:2000])  # warm-up: imports, BLAS, thread pool
    times = {"EASE": [], "EDLAE": []}
    for _ in range(args.pairs):
        for name, model in (("EASE", EASE(l2=200.0, n_threads=args.threads)),
                            ("EDLAE", EDLAE(l2=50.0, dropout=0.33, n_threads=args.threads))):
            t0 = time.perf_counter()
            model.fit(X)
            times[name].append(time.perf_counter() - t0)
    e, d = np.median(times["EASE"]), np.median(times["EDLAE"])
    print(f"X: {X.shape[0]:,} users x {X.shape[1]:,} items, {X.nnz:,} interactions; {args.pairs} interleaved pairs")
    for name in times:
        print(f"{name}: median {np.median(times[name]):.2f} s  (" + ", ".join(f"{t:.2f}" for t in times[name]) + ")")
    ratios = np.array(times["EDLAE"]) / np.array(times["EASE"])
    print(f"EDLAE / EASE: ratio of medians {d / e:.3f}, median of per-pair ratios {np.median(ratios):.3f}")


if __name__ == "__main__":
    main()
