"""Protocol I2 (LightGCN/NGCF fixed split, PROTOCOLS.md) on Gowalla.

The ``gowalla_lightgcn`` train/test files as given (29,858 users × 40,981 items). Each user's train
items are the fold-in input; every item except the user's train items is ranked; Recall@20 =
hits / #test items (the standard recall used by LightGCN/NGCF) and NDCG@20 over the test items,
means over users with at least one test item.

Models (``--models``, comma-separated):
  vae   aerec MultVAE with the reference settings (its defaults). I2 has no validation split, so
        there is no epoch selection: it trains exactly ``--epochs`` epochs and the last epoch is
        reported.
  ease  aerec EASE. λ is chosen from ``--ease-grid`` on a validation split carved from the training
        items (a seeded 10 % of each user's train items as target, the rest as fold-in; NDCG@20),
        then EASE is refitted on all train items with that λ. ``--ease-lambda`` skips the selection.
        EASE at 40,981 items needs two dense 40,981² float32 matrices (~13.4 GB): the script checks
        the memory available first and skips EASE with a message when it will not fit. One fit is a
        Cholesky factorisation (n³/3 flops) and solves against the identity (2n³), ~1.6e14 flops:
        the script times a small factorisation and prints the estimated time per fit before starting
        (``--ease-max-minutes`` skips EASE when the estimate for all fits exceeds it).
  pop   Popularity.

Published targets (LightGCN paper, same split): Mult-VAE R@20 0.1641, N@20 0.1335;
LightGCN 0.1830 / 0.1554.

The recipe that meets the Mult-VAE row (RESULTS_I2_gowalla.md, runs 7–8): choose the epoch count on the
carve-out, then refit on all train items for that many epochs —

    python benchmarks/quality/i2_gowalla.py --models vae --vae-validate --vae-set beta=0.8 --vae-set batch_size=128 \\
        --epochs 40
    python benchmarks/quality/i2_gowalla.py --models vae --vae-set beta=0.8 --vae-set batch_size=128 --epochs 31

(31 = the best validation epoch of the first command; R@20 0.1673, N@20 0.1342 here.)

Usage:  python benchmarks/quality/i2_gowalla.py [--epochs 200] [--models vae,ease,pop] [--out RESULTS.md]
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _implicit_common import data_dir, fmt, log, machine_lines, markdown_table, write_section  # noqa: E402

ALL_MODELS = ("vae", "ease", "pop")
LABELS = {"vae": "aerec MultVAE", "ease": "aerec EASE", "pop": "aerec Popularity"}
TARGETS = {"Mult-VAE (LightGCN paper)": (0.1641, 0.1335), "LightGCN (LightGCN paper)": (0.1830, 0.1554)}
K = 20


def evaluate(model, X, target):
    from aerec.metrics import evaluate_rankings

    rec, _ = model.recommend(X, k=K, exclude_seen=True)
    return evaluate_rankings(rec, target, ks=(K,))


def carve_validation(train, fraction=0.1, seed=0):
    """Hold out a seeded ``fraction`` of each user's train items: (fold_in, target). A user gets
    ``round(fraction * n)`` target items when that leaves at least one fold-in item, else none."""
    rng = np.random.RandomState(seed)
    train = sp.csr_array(train)
    is_target = np.zeros(train.nnz, dtype=bool)
    for u in range(train.shape[0]):
        s, e = train.indptr[u], train.indptr[u + 1]
        n = e - s
        m = int(round(fraction * n))
        if m >= 1 and n - m >= 1:
            is_target[s + rng.choice(n, size=m, replace=False)] = True
    rows = np.repeat(np.arange(train.shape[0]), np.diff(train.indptr))
    cols, data = train.indices, train.data
    fold_in = sp.csr_array((data[~is_target], (rows[~is_target], cols[~is_target])), shape=train.shape)
    target = sp.csr_array((data[is_target], (rows[is_target], cols[is_target])), shape=train.shape)
    return fold_in, target


def ease_seconds_per_fit(n_items, threads, n0=6000):
    """Time EASE's inverse (aerec._linalg.cholesky_inverse, n³ flops) at n0 items, scaled by
    (n_items / n0)^3 (pessimistic: BLAS is less efficient at small n)."""
    n0 = min(n0, n_items)
    from aerec._linalg import cholesky_inverse
    from aerec._threads import blas_threads
    from aerec.models.ease import _block_size

    rng = np.random.default_rng(0)
    A = rng.standard_normal((n0, n0 // 2)).astype(np.float32)
    G = np.asfortranarray(A @ A.T)
    G[np.diag_indices(n0)] += n0
    with blas_threads(1):
        t0 = time.perf_counter()
        cholesky_inverse(G, n_threads=threads, block=_block_size(n_items))
        dt = time.perf_counter() - t0
    return dt * (n_items / n0) ** 3


def epochs_for_minutes(train, minutes, threads, seed):
    """Epochs of MultVAE that fit in ``minutes``: times short fits (1 and 4 batches of 500 users) and
    scales the per-batch time by the number of batches in an epoch."""
    from aerec import MultVAE

    n_batches = -(-train.shape[0] // 500)

    def one_fit(n_users):
        t0 = time.perf_counter()
        MultVAE(n_epochs=1, random_state=seed, n_threads=threads).fit(train[:n_users])
        return time.perf_counter() - t0

    one_fit(500)  # warm-up
    # the difference of a 4-batch and a 1-batch fit: the set-up (weight init of items x 600) cancels
    per_batch = max(1e-3, (one_fit(2000) - one_fit(500)) / 3)
    epochs = max(1, int(60 * minutes / (per_batch * n_batches)))
    log(f"MultVAE: {per_batch:.2f} s per batch of 500 users, ~{per_batch * n_batches:.0f} s/epoch: "
        f"{epochs} epochs fit in {minutes:g} min")
    return epochs, per_batch


def run_vae(train, test, epochs, threads, seed, verbose, vae_params=None, validate=False, val_seed=0):
    """MultVAE for a fixed number of epochs (the last one reported), or with ``validate``: trained on a
    carve-out of the training data (90 % of each user's items), the epoch with the best validation
    NDCG@100 on the other 10 % kept (the reference's selection rule), then tested with each user's
    full training items as the fold-in input. The test items are never used for any choice."""
    from aerec import MultVAE

    extra = dict(vae_params or {})
    model = MultVAE(n_epochs=epochs, random_state=seed, n_threads=threads, verbose=verbose, **extra)
    t0 = time.perf_counter()
    if validate:
        fold_in, target = carve_validation(train, 0.1, seed=val_seed)
        log(f"aerec MultVAE {extra}: up to {epochs} epochs on the carve-out ({fold_in.nnz:,} interactions), "
            f"validation NDCG@100 on {target.nnz:,} held-out training interactions")
        model.set_params(early_stopping=True, patience=None)
        model.fit(fold_in, X_val=fold_in, y_val=target)
    else:
        log(f"aerec MultVAE {extra}: {epochs} epochs on {train.shape[0]:,} users x {train.shape[1]:,} items "
            "(no validation: the last epoch is reported)")
        model.fit(train)
    fit_s = time.perf_counter() - t0
    m = evaluate(model, train, test)
    log(f"aerec MultVAE: {fit_s:.0f} s ({fit_s / model.n_iter_:.1f} s/epoch), R@20 {m['recall@20']:.4f} "
        f"N@20 {m['ndcg@20']:.4f}")
    params = {k: v for k, v in model.get_params().items() if k != "verbose"}
    notes = [f"{model.n_updates_} updates, final β {model.beta_:.5f}; loss curve first/last "
             f"{model.loss_curve_[0]:.2f} / {model.loss_curve_[-1]:.2f}"]
    if validate:
        curve = " ".join(f"{v:.4f}" for v in model.validation_scores_)
        notes.append(f"trained on the 90 % carve-out; best validation NDCG@100 at epoch {model.best_epoch_ + 1} of "
                     f"{model.n_iter_} (kept); validation NDCG@100 per epoch: {curve}")
    label = "aerec MultVAE" + "".join(f", {k}={v}" for k, v in extra.items())
    sel = (f"best of {model.n_iter_} by validation (epoch {model.best_epoch_ + 1})" if validate else
           f"{model.n_iter_} (fixed, last epoch)")
    return dict(key="vae", label=label, selection=sel, metrics=m, fit_s=fit_s, n_epochs=model.n_iter_,
                params=params, notes=notes)


def run_ease(train, test, grid, lam, threads, max_minutes, val_seed, select_items=None, ease_threads=None):
    from aerec import EASE
    from aerec.models.ease import available_memory_bytes

    n = train.shape[1]
    if ease_threads is not None:
        threads = ease_threads
    need = 2 * n * n * 4
    avail = available_memory_bytes()
    log(f"EASE: needs ~{need / 2**30:.1f} GiB for two {n:,}² float32 matrices; {avail / 2**30:.1f} GiB available")
    if avail is not None and need > 0.8 * avail:
        msg = (f"EASE skipped: two {n:,}² float32 matrices need {need / 2**30:.1f} GiB, more than 80 % of the "
               f"{avail / 2**30:.1f} GiB available")
        log(msg)
        return dict(key="ease", skipped=msg)
    per_fit = ease_seconds_per_fit(n, threads)
    total = per_fit * (1 if lam is not None else
                       (1 + len(grid) * (min(select_items or n, n) / n) ** 3))
    log(f"EASE: estimated {per_fit / 60:.0f} min per full fit on this machine now; {total / 60:.0f} min for all fits")
    if max_minutes is not None and total > 60 * max_minutes:
        msg = (f"EASE skipped: its fits need an estimated {total / 60:.0f} min (> --ease-max-minutes "
               f"{max_minutes:g})")
        log(msg)
        return dict(key="ease", skipped=msg)
    notes = []
    if lam is None:
        fold_in, target = carve_validation(train, 0.1, seed=val_seed)
        log(f"EASE: validation split carved from train: {target.nnz:,} target / {fold_in.nnz:,} fold-in interactions")
        sel_note = ""
        if select_items is not None and select_items < n:
            # λ selection on the most popular items only: EASE restricted to an item subset S uses
            # exactly the Gram submatrix G_SS, so it is a smaller instance of the same problem.
            keep = np.sort(np.argsort(-np.asarray(fold_in.sum(axis=0)).ravel(), kind="stable")[:select_items])
            cover = fold_in[:, keep].nnz / fold_in.nnz
            fold_in, target = fold_in[:, keep], target[:, keep]
            sel_note = (f"; λ selected on the {select_items:,} most popular items only (cost: full fits are "
                        f"(n/{select_items})³ more expensive), "
                        f"covering {100 * cover:.0f} % of the fold-in interactions")
            log(f"EASE: selecting λ on the {select_items:,} most popular items ({100 * cover:.0f} % of interactions)")
        val = {}
        for g in grid:
            t0 = time.perf_counter()
            model = EASE(l2=g, n_threads=threads).fit(fold_in)
            val[g] = evaluate(model, fold_in, target)["ndcg@20"]
            log(f"EASE λ={g:g}: fit {time.perf_counter() - t0:.0f} s, validation NDCG@20 {val[g]:.4f}")
            del model
        lam = max(grid, key=lambda g: val[g])
        notes.append("validation NDCG@20 (10 % of each user's train items, seed "
                     f"{val_seed}): " + ", ".join(f"λ={g:g}: {val[g]:.4f}" for g in grid) + sel_note)
    else:
        notes.append(f"λ={lam:g} fixed by --ease-lambda (no validation selection in this run)")
    model = EASE(l2=lam, n_threads=threads)
    t0 = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - t0
    m = evaluate(model, train, test)
    log(f"EASE λ={lam:g}: fit {fit_s:.0f} s, R@20 {m['recall@20']:.4f} N@20 {m['ndcg@20']:.4f}")
    params = {k: v for k, v in model.get_params().items() if k != "verbose"}
    return dict(key="ease", metrics=m, fit_s=fit_s, n_epochs=None, params=params, notes=notes)


def run_pop(train, test, threads):
    from aerec import Popularity

    t0 = time.perf_counter()
    model = Popularity(n_threads=threads).fit(train)
    fit_s = time.perf_counter() - t0
    m = evaluate(model, train, test)
    log(f"Popularity: R@20 {m['recall@20']:.4f} N@20 {m['ndcg@20']:.4f}")
    return dict(key="pop", metrics=m, fit_s=fit_s, n_epochs=None, params={"n_threads": threads}, notes=[])


def report(results, args, train, test, threads):
    done = [r for r in results if "metrics" in r]
    n_users = done[0]["metrics"]["n_users"] if done else 0
    lines = [
        "## Protocol I2 — Gowalla (LightGCN/NGCF fixed split)",
        "",
        f"`gowalla_lightgcn` train/test as given: {train.shape[0]:,} users × {train.shape[1]:,} items, "
        f"{train.nnz:,} train / {test.nnz:,} test interactions; {n_users:,} users with test items scored. "
        "Each user's train items are the fold-in input and are never recommended; all other items are ranked. "
        "Recall@20 = hits / #test items (standard), NDCG@20; mean ± standard error over users.",
        "",
    ]
    header = ["Model", "Recall@20", "NDCG@20", "epochs / λ", "fit (s)", "s/epoch"]
    rows = []
    for r in results:
        if "skipped" in r:
            rows.append([r.get("label", LABELS[r["key"]]), "skipped", "skipped", "—", "—", "—"])
            continue
        m = r["metrics"]
        sel = r["selection"] if r["key"] == "vae" else (
            f"λ={r['params']['l2']:g}" if r["key"] == "ease" else "—")
        spe = f"{r['fit_s'] / r['n_epochs']:.1f}" if r["n_epochs"] else "—"
        rows.append([r.get("label", LABELS[r["key"]]), fmt(m["recall@20"], m["recall@20_se"]),
                     fmt(m["ndcg@20"], m["ndcg@20_se"]),
                     sel, f"{r['fit_s']:.0f}", spe])
    for name, (rc, nd) in TARGETS.items():
        rows.append([f"*published: {name}*", f"{rc:.4f}", f"{nd:.4f}", "", "", ""])
    lines += markdown_table(header, rows)
    lines += ["", "### Parameters and notes", ""]
    for r in results:
        if "skipped" in r:
            lines.append(f"- {r.get('label', LABELS[r['key']])}: {r['skipped']}")
            continue
        p = ", ".join(f"{k}={v!r}" for k, v in r["params"].items())
        lines.append(f"- {r.get('label', LABELS[r['key']])}: {p}" + "".join(f"; {n}" for n in r["notes"]))
    lines += ["", "### Machine", ""] + machine_lines(threads)
    lines.append(f"- Command: `python benchmarks/quality/i2_gowalla.py {' '.join(args.argv)}`")
    return lines


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=200, help="MultVAE epochs (fixed: no validation in I2; default 200)")
    ap.add_argument("--vae-minutes", type=float, default=None,
                    help="instead of --epochs: as many MultVAE epochs as fit in this many minutes "
                    "(timed on a few batches)")
    ap.add_argument("--vae-set", action="append", default=[], metavar="KEY=VALUE",
                    help="MultVAE parameter override (repeatable), e.g. --vae-set beta=0.2")
    ap.add_argument("--vae-validate", action="store_true",
                    help="train MultVAE on a 90 %% carve-out of train and keep the epoch with the best validation "
                         "NDCG@100 on the other 10 %%")
    ap.add_argument("--models", default=",".join(ALL_MODELS), help=f"comma-separated subset of {','.join(ALL_MODELS)}")
    ap.add_argument("--ease-grid", default="50,100,200,500,1000", help="EASE λ values tried on the validation split")
    ap.add_argument("--ease-lambda", type=float, default=None, help="use this λ, skip the selection")
    ap.add_argument("--ease-max-minutes", type=float, default=None,
                    help="skip EASE when the estimated time of all its fits exceeds this")
    ap.add_argument("--ease-select-items", type=int, default=None,
                    help="select λ on this many most popular items only (a cheaper, smaller EASE; default: all)")
    ap.add_argument("--ease-threads", type=int, default=None,
                    help="threads for the EASE fit (default: --threads)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=98765, help="model seed (and the validation split's seed)")
    ap.add_argument("--data-dir", default=None, help="the gowalla_lightgcn folder")
    ap.add_argument("--out", default=None, help="write a Markdown section to this file")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad = [m for m in models if m not in ALL_MODELS]
    if bad:
        ap.error(f"unknown model(s) {bad}; choose from {ALL_MODELS}")
    grid = [float(x) for x in args.ease_grid.split(",")]

    from aerec.datasets import load_gowalla

    path = data_dir("gowalla_lightgcn", args.data_dir)
    log(f"loading {path}")
    train, test = load_gowalla(path)
    log(f"train {train.shape} {train.nnz:,} nnz, test {test.nnz:,} nnz")

    results = []
    for key in models:
        if key == "vae":
            epochs, note = args.epochs, None
            if args.vae_minutes:
                epochs, per_batch = epochs_for_minutes(train, args.vae_minutes, args.threads, args.seed)
                note = (f"epochs = {epochs}: as many as fit in --vae-minutes {args.vae_minutes:g} (timed "
                        f"{per_batch:.2f} s per batch of 500 users before training), not the reference's 200")
            vae_params = {}
            for item in args.vae_set:
                k, _, v = item.partition("=")
                vae_params[k] = ast.literal_eval(v)
            results.append(run_vae(train, test, epochs, args.threads, args.seed, not args.quiet, vae_params,
                                   args.vae_validate, args.seed))
            if note:
                results[-1]["notes"].insert(0, note)
        elif key == "ease":
            results.append(run_ease(train, test, grid, args.ease_lambda, args.threads, args.ease_max_minutes,
                                    args.seed, args.ease_select_items, args.ease_threads))
        elif key == "pop":
            results.append(run_pop(train, test, args.threads))
        if args.out:  # write what is done so far (long runs)
            write_section(args.out, report(results, args, train, test, args.threads))

    print()
    for r in results:
        if "skipped" in r:
            print(f"{r.get('label', LABELS[r['key']]):20s} {r['skipped']}")
            continue
        m = r["metrics"]
        print(f"{r.get('label', LABELS[r['key']]):20s} R@20 {fmt(m['recall@20'], m['recall@20_se'])}  "
              f"N@20 {fmt(m['ndcg@20'], m['ndcg@20_se'])}  fit {r['fit_s']:.0f} s")
    for name, (rc, nd) in TARGETS.items():
        print(f"target {name:28s} R@20 {rc:.4f}  N@20 {nd:.4f}")
    return results


if __name__ == "__main__":
    main()
