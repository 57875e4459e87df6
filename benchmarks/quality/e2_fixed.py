"""Protocol E2 (fixed splits, PROTOCOLS.md) with I-AutoRec: ML-100K ``u1.base``/``u1.test`` and the
Douban 3000 × 3000 subset of Monti et al. (fixed train/test).

Each fit holds out a seeded 5 % of the training ratings for early stopping (best epoch kept) and
predicts the test ratings from the training ratings, clipped to the training range, 3 for users or
items without training ratings. Test RMSE mean ± sample std (ddof=1) over ``--seeds`` (model seeds:
initialisation, minibatch order and the validation split; the data split is fixed).

``--set key=value`` (repeatable) overrides AutoRec parameters for every dataset, e.g.
``--set l2=300 --set dropout=0.3``; without it the package defaults run.

``--refit``: the early-stopped fit only chooses the number of epochs; the reported model is then
refitted on *all* training ratings (the 5 % validation part included) for that many epochs, same
seed. The test ratings are never used for any choice.

Usage:  python benchmarks/quality/e2_fixed.py [--datasets ml-100k,douban] [--seeds 0,1,2] [--out FILE]
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _implicit_common import data_dir, log, machine_lines, markdown_table, write_section  # noqa: E402

import aerec  # noqa: E402
from aerec.datasets import load_ml100k_split, load_monti  # noqa: E402

DATASETS = {
    "ml-100k": ("ML-100K u1", "ml-100k", lambda p: load_ml100k_split(p, "u1"),
                "GLocal-K 0.8889 · IGMC 0.905 · GC-MC 0.910"),
    "douban": ("Douban (Monti)", "douban_monti", lambda p: load_monti(p), "GLocal-K 0.7208 · IGMC 0.721 · GC-MC 0.734"),
}
TARGETS = {"ml-100k": 0.90, "douban": 0.74}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated subset of {','.join(DATASETS)}")
    ap.add_argument("--seeds", default="0,1,2", help="model seeds (default 0,1,2)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="AutoRec parameter override")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--refit", action="store_true",
                    help="refit on all training ratings for the early-stopped number of epochs")
    ap.add_argument("--out", default=None, help="also write the Markdown section to this file")
    args = ap.parse_args(argv)
    argv_text = " ".join(sys.argv[1:] if argv is None else argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            overrides[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            overrides[key] = value
    from aerec._threads import effective_n_threads

    threads = effective_n_threads(args.threads)
    rows, notes = [], []
    for key in [d.strip() for d in args.datasets.split(",") if d.strip()]:
        label, folder, loader, published = DATASETS[key]
        train, test = loader(data_dir(folder))
        rmses, times, epochs = [], [], []
        for seed in seeds:
            model = aerec.AutoRec(**{**overrides, "early_stopping": True, "random_state": seed, "n_threads": threads})
            t0 = time.perf_counter()
            model.fit(train)
            epochs.append(f"{model.best_epoch_ + 1}/{model.n_iter_}")
            if args.refit:
                early = -model.score(train, test)
                model = aerec.AutoRec(**{**overrides, "n_epochs": model.best_epoch_ + 1, "early_stopping": False,
                                         "random_state": seed, "n_threads": threads}).fit(train)
                log(f"{label} seed {seed}: early-stopped model {early:.4f}; refitted for {epochs[-1].split('/')[0]} "
                    "epochs on all training ratings")
            times.append(time.perf_counter() - t0)
            rmses.append(-model.score(train, test))
            log(f"{label} seed {seed}: test RMSE {rmses[-1]:.4f} (best epoch {epochs[-1]}), {times[-1]:.1f} s")
        r = np.array(rmses)
        std = f" ± {r.std(ddof=1):.4f}" if len(r) > 1 else ""
        shape = f"{train.shape[0]:,} × {train.shape[1]:,}, {train.nnz:,} / {test.nnz:,}"
        rows.append([label, shape, f"{r.mean():.4f}{std}",
                     " ".join(f"{v:.4f}" for v in r), " ".join(epochs), f"{np.mean(times):.1f}",
                     f"≤ {TARGETS[key]}", published])
    params = ", ".join(f"{k}={v!r}" for k, v in overrides.items()) or "package defaults"
    how = ("5 % of the training ratings as validation choose the number of epochs, then the model is refitted "
           "on all training ratings for that many epochs (`--refit`; fit s includes both fits)" if args.refit else
           "5 % of the training ratings as validation (best epoch kept)")
    lines = ["## Protocol E2 — fixed splits, I-AutoRec", "",
             f"`AutoRec({params}, early_stopping=True, random_state=seed)`; {how}; test predictions from the "
             "training ratings, clipped, 3 for unseen "
             f"users/items. Model seeds {', '.join(map(str, seeds))}; RMSE mean ± sample std.", ""]
    lines += markdown_table(["Data", "users × items, train / test ratings", "test RMSE", "per seed",
                             "best epoch / run", "fit s", "target", "published"], rows)
    lines += notes + ["", "### Machine", ""] + machine_lines(threads)
    lines.append(f"- Command: `python benchmarks/quality/e2_fixed.py {argv_text}`")
    print("\n".join(lines))
    if args.out:
        write_section(args.out, lines)


if __name__ == "__main__":
    main()
