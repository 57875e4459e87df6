"""The ``aerec`` command line.

``aerec`` with no arguments runs the main job on the embedded default (seeded synthetic data):
hold out users, fit Mult-VAE, Mult-DAE, EASE and a popularity baseline on the rest, evaluate
NDCG/Recall on the held-out users' 20 % targets from their 80 % fold-in, print the table and a few
users' recommendations. ``aerec info`` prints the build configuration.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


class UserError(Exception):
    """A mistake in what the user typed: printed without a traceback, exit code 2."""


def _load_data(spec, seed):
    from .datasets._synthetic import SHAPES, make_synthetic

    if spec.startswith("synthetic:"):
        name = spec.split(":", 1)[1]
        if name not in SHAPES:
            raise UserError(f"unknown synthetic shape {name!r}; choose from {', '.join(SHAPES)}")
        return make_synthetic(name, random_state=seed), f"synthetic '{name}' (seed {seed})"
    from .datasets import read_rating_triples, triples_to_csr

    try:
        users, items, ratings = read_rating_triples(spec)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {spec}: {exc}") from exc
    keep = ratings > 3.5  # implicit feedback as in the Mult-VAE protocol: ratings of 4 and 5
    _, u = np.unique(users[keep], return_inverse=True)
    _, i = np.unique(items[keep], return_inverse=True)
    X = triples_to_csr(u, i, np.ones(u.size, dtype=np.float32), duplicates="last")
    return X, f"{spec} (ratings > 3.5 as interactions)"


def _models(quick):
    from . import EASE, MultDAE, MultVAE, Popularity

    epochs = 20 if quick else 200
    return {
        "Popularity": Popularity(),
        "EASE": EASE(l2=200.0),
        "MultDAE": MultDAE(n_epochs=epochs, random_state=0),
        "MultVAE": MultVAE(n_epochs=epochs, anneal_steps=20 * epochs, random_state=0),
    }


def cmd_demo(args):
    from .metrics import evaluate_rankings
    from .vae import split_users

    X, what = _load_data(args.data, args.seed)
    rng = np.random.RandomState(args.seed)
    train, fold_in, target = split_users(X, args.heldout, rng)
    print(f"data: {what}: {X.shape[0]:,} users × {X.shape[1]:,} items, {X.nnz:,} interactions")
    print(f"held out {fold_in.shape[0]:,} users (80 % fold-in → 20 % target); training on {train.shape[0]:,}\n")
    rows = []
    fitted = {}
    for name, model in _models(not args.full).items():
        t = time.perf_counter()
        model.fit(train)
        fit_s = time.perf_counter() - t
        idx, _ = model.recommend(fold_in, k=100)
        m = evaluate_rankings(idx, target, ks=(20, 50, 100))
        rows.append((name, m, fit_s))
        fitted[name] = model
    header = f"{'model':<11} {'NDCG@100':>9} {'Recall@20':>10} {'Recall@50':>10} {'fit (s)':>8}"
    print(header)
    print("-" * len(header))
    for name, m, s in rows:
        print(f"{name:<11} {m['ndcg@100']:>9.4f} {m['recall@20']:>10.4f} {m['recall@50']:>10.4f} {s:>8.1f}")
    print(f"\n(means over {rows[0][1]['n_users']} held-out users with targets; Recall@k = hits / #targets)")
    best = max(rows, key=lambda r: r[1]["ndcg@100"])[0]
    idx, scores = fitted[best].recommend(fold_in[:3], k=5)
    print(f"\ntop-5 recommendations by {best} for three held-out users (item indices):")
    for u in range(idx.shape[0]):
        hits = set(target[[u]].indices.tolist())
        items = ", ".join(f"{j}{'*' if j in hits else ''}" for j in idx[u])
        print(f"  user {u}: {items}")
    print("  (* = in the user's held-out target)")
    return 0


def cmd_info(args):
    from . import show_config

    show_config()
    return 0


def build_parser():
    p = argparse.ArgumentParser(prog="aerec", description="Autoencoder collaborative filtering with native kernels.")
    sub = p.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="the main job (default): fit and evaluate the models on held-out users")
    for q in (p, demo):
        q.add_argument("--data", default="synthetic:small",
                       help="synthetic:<small|ml-1m|ml-20m|netflix> or a user/item/rating file (default: synthetic:small)")
        q.add_argument("--heldout", type=float, default=0.15, help="fraction of users held out (default 0.15)")
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--full", action="store_true", help="the papers' 200 epochs instead of 20")
    sub.add_parser("info", help="print how aerec was built (OpenMP, CPU variant, CUDA, BLAS)")
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    command = {"info": cmd_info, "demo": cmd_demo, None: cmd_demo}[args.command]
    try:
        return command(args)
    except UserError as exc:
        print(f"aerec: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aerec: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
