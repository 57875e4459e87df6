"""The ``aerec`` command line.

``aerec`` with no arguments runs the main job on the embedded default (seeded synthetic data):
hold out users, fit Mult-VAE, Mult-DAE, EASE and a popularity baseline on the rest, evaluate
NDCG/Recall on the held-out users' 20 % targets from their 80 % fold-in, print the table and a few
users' recommendations. ``aerec info`` prints the build configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

import numpy as np


class UserError(Exception):
    """A mistake in what the user typed: printed without a traceback, exit code 2."""


@contextlib.contextmanager
def _user_errors(what):
    """The library's answers to bad input (ValueError/TypeError naming the problem, MemoryError
    giving the size, a diverging fit) become one ``aerec: error:`` line for the command line."""
    try:
        yield
    except (ValueError, TypeError, MemoryError, FloatingPointError) as exc:
        raise UserError(f"{what}: {exc}") from exc


class _Parser(argparse.ArgumentParser):
    """argparse with the same one-line ``aerec: error:`` message (exit code 2) as every other user
    mistake, pointing at --help instead of printing the usage block."""

    def error(self, message):
        self.exit(2, f"aerec: error: {message} (see '{self.prog} --help')\n")


#: Separators tried, in order, when none is given: the first that splits the first lines into the
#: same number (>= 2) of fields wins; else runs of whitespace.
SEPARATORS = ("::", "\t", ",", ";", "|")
#: Field names that mark a first line of names only as a header even when every column holds names.
_HEADER_NAMES = {"user", "users", "userid", "user_id", "uid", "item", "items", "itemid", "item_id", "iid", "movie",
                 "movieid", "movie_id", "rating", "ratings", "score", "value", "weight", "count", "timestamp", "time"}


def _numeric(x):
    try:
        float(x)
        return True
    except ValueError:
        return False


def _detect_separator(lines, path):
    head = lines[:20]
    best, best_width = None, 1
    for sep in SEPARATORS:  # the one that splits every line into the same, largest number of fields
        widths = {len(line.split(sep)) for line in head}
        if len(widths) == 1 and min(widths) > best_width:
            best, best_width = sep, min(widths)
    if best is not None:
        return best
    if all(len(line.split()) >= 2 for line in head):
        return None  # whitespace
    names = ", ".join(repr(x) for x in SEPARATORS)
    raise UserError(f"{path}: cannot tell how the fields are separated (tried {names} and whitespace, each "
                    "giving the same number of at least 2 fields on the first lines); give it with --sep")


def _is_header(first, rest):
    """A first line is a header when all its fields are names (not numbers) and either a column below
    it holds numbers or its names are the usual ones (user, item, rating, …)."""
    if any(_numeric(f) for f in first):
        return False
    if any(all(_numeric(r[j]) for r in rest[:20] if j < len(r)) for j in range(len(first))) and rest:
        return True
    return all(f.strip().strip('"').lower() in _HEADER_NAMES for f in first)


def read_records(path, sep=None, header="auto"):
    """(users, items, ratings or None) from a delimited text file (plain/.gz/.xz/.bz2).

    ``sep``: the field separator (None: the first of SEPARATORS that splits the first lines evenly,
    else whitespace). ``header``: 'auto' (a first line of names only, above numeric data or made of
    the usual names such as userId/movieId/rating, is a header), 'yes' or 'no'. Ids may be integers
    or strings; a third field is a numeric rating."""
    import bz2
    import gzip
    import lzma
    import zlib

    opener = open
    for suffix, fn in ((".gz", gzip.open), (".xz", lzma.open), (".bz2", bz2.open)):
        if str(path).endswith(suffix):
            opener = fn
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            lines = [line.rstrip("\n\r") for line in fh if line.strip()]
    except OSError as exc:
        raise UserError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not a UTF-8 text file of user/item records") from exc
    except (EOFError, lzma.LZMAError, zlib.error) as exc:
        raise UserError(f"{path}: a corrupt or truncated compressed file ({exc})") from exc
    if not lines:
        raise UserError(f"{path} holds no records")
    sep = {"\\t": "\t", "tab": "\t"}.get(sep, sep)  # --sep '\t' arrives as a backslash and a t
    if sep is None:
        sep = _detect_separator(lines[1:] or lines, path)  # the data lines decide; a header may differ
    rows = [line.split(sep) if sep else line.split() for line in lines]
    if header == "yes" or (header == "auto" and _is_header(rows[0], rows[1:])):
        rows = rows[1:]
    if not rows:
        raise UserError(f"{path} holds no records (only a header)")
    widths = {len(r) for r in rows}
    if min(widths) < 2:
        raise UserError(f"{path}: every line needs at least a user and an item field"
                        + (f" separated by {sep!r}" if sep else ""))
    if len(widths) > 1:
        n_fields = len(rows[0])
        bad = next(i for i, r in enumerate(rows) if len(r) != n_fields)
        raise UserError(f"{path}: record {bad + 1} has {len(rows[bad])} fields but record 1 has {n_fields}; "
                        "every line needs the same fields")
    users = np.array([r[0].strip() for r in rows])
    items = np.array([r[1].strip() for r in rows])
    ratings = None
    if min(widths) >= 3:
        if sep != ",":  # a decimal comma ('4,0' in a ';'-separated file) is a decimal point
            rows = [r[:2] + [r[2].replace(",", ".")] + r[3:] for r in rows]
        bad = next((i for i, r in enumerate(rows) if not _numeric(r[2])), None)
        if bad is not None:
            raise UserError(f"{path}: record {bad + 1} has {rows[bad][2].strip()!r} as its rating; the third field "
                            "must be a number (use --header yes if the first line is a header)")
        ratings = np.array([float(r[2]) for r in rows])
        if not np.isfinite(ratings).all():
            bad = int(np.argmax(~np.isfinite(ratings)))
            raise UserError(f"{path}: record {bad + 1} has a non-finite rating ({ratings[bad]})")
    return _ids(users), _ids(items), ratings


def _ids(values):
    """Integer ids stay integers (sorted numerically) when every one is written as int64 writes it
    (no leading zeros, no sign on 0, in range); anything else — '007', an ISBN, a uint64 — stays a
    string id, so no two ids merge and none is rewritten."""
    try:
        as_int = values.astype(np.int64)
    except (ValueError, OverflowError):
        return values
    return as_int if all(str(i) == v for i, v in zip(as_int.tolist(), values)) else values


def _load_records(spec, seed, explicit=False, sep=None, header="auto"):
    """(users, items, ratings or None, description) from 'synthetic:<shape>' or a file."""
    from .datasets._synthetic import SHAPES, make_synthetic

    if spec.startswith("synthetic:"):
        name = spec.split(":", 1)[1]
        if name not in SHAPES:
            raise UserError(f"unknown synthetic shape {name!r}; choose from {', '.join(SHAPES)}")
        X = make_synthetic(name, random_state=seed, explicit=explicit).tocoo()
        ratings = X.data.astype(float) if explicit else None
        return X.row.astype(np.int64), X.col.astype(np.int64), ratings, f"synthetic '{name}' (seed {seed})"
    if spec.startswith("movielens:"):
        from .datasets import fetch_movielens, load_movielens

        name = spec.split(":", 1)[1]
        try:
            folder = fetch_movielens(name)  # cached after the first download, SHA-256 checked
            users, items, ratings = load_movielens(folder)
        except (OSError, ValueError) as exc:
            raise UserError(f"{spec}: {exc}") from exc
        return users, items, ratings, f"MovieLens {name} ({folder})"
    users, items, ratings = read_records(spec, sep, header)
    return users, items, ratings, spec


def _likes(users, items, ratings, threshold):
    """The (users, items) records that are interactions: ratings above ``threshold``, or every record
    when there are no ratings."""
    keep = np.ones(users.size, dtype=bool) if ratings is None else ratings > threshold
    if not keep.any():
        raise UserError(f"no rating is above the threshold {threshold}")
    return users[keep], items[keep]


def _implicit_matrix(users, items, ratings, threshold):
    """Interactions as a CSR with an IdMapper: ratings > threshold (when there are ratings)."""
    from .data import IdMapper

    mapper = IdMapper(duplicates="last")
    X = mapper.fit_transform(_likes(users, items, ratings, threshold))
    return X, mapper


def _load_data(args, threshold=3.5):
    users, items, ratings, what = _load_records(args.data, args.seed, sep=args.sep, header=args.header)
    X, mapper = _implicit_matrix(users, items, ratings, threshold)
    note = "" if args.data.startswith("synthetic:") or ratings is None else f" (ratings > {threshold} as interactions)"
    return X, mapper, what + note


def _heldout_users(value, n_users):
    """--heldout: a fraction of the users (< 1) or a number of users (>= 1) → a number of users."""
    if not value > 0 or (value >= 1 and value != int(value)):
        raise UserError(f"--heldout must be a fraction in (0, 1) or a whole number of users, got {value}")
    return int(round(value * n_users)) if value < 1 else int(value)


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
    from .model_selection import holdout_users

    X, mapper, what = _load_data(args)
    rng = np.random.RandomState(args.seed)
    n_held = _heldout_users(args.heldout, X.shape[0])
    with _user_errors("--heldout"):
        train, fold_in, target = holdout_users(X, n_held / X.shape[0], rng, _name="--heldout")
    print(f"data: {what}: {X.shape[0]:,} users × {X.shape[1]:,} items, {X.nnz:,} interactions")
    print(f"held out {fold_in.shape[0]:,} users (80 % fold-in → 20 % target); training on {train.shape[0]:,}\n")
    rows = []
    fitted = {}
    for name, model in _models(not args.full).items():
        t = time.perf_counter()
        with _user_errors(f"{name} fit"):
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
        print(f"{name:<11} {m['ndcg@100']:>9.4f} {m['truncated_recall@20']:>10.4f} "
              f"{m['truncated_recall@50']:>10.4f} {s:>8.1f}")
    print(f"\n(means over {rows[0][1]['n_users']} held-out users with targets; Recall@k = hits / min(k, #targets), "
          "as in the Mult-VAE reference and 'aerec evaluate')")
    best = max(rows, key=lambda r: r[1]["ndcg@100"])[0]
    idx, scores = fitted[best].recommend(fold_in[:3], k=5)
    synthetic = args.data.startswith("synthetic:")
    names = mapper.item_ids(idx)
    print(f"\ntop-5 recommendations by {best} for three held-out users "
          f"({'item indices' if synthetic else 'item ids'}):")
    for u in range(idx.shape[0]):
        hits = set(target[[u]].indices.tolist())
        items = ", ".join(f"{names[u][r]}{'*' if j in hits else ''}" for r, j in enumerate(idx[u]))
        print(f"  user {u}: {items}")
    print("  (* = in the user's held-out target)")
    return 0


def _parse_params(pairs):
    import ast

    params = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UserError(f"parameters are key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return params


def _estimator(name, params):
    from . import models

    classes = {n.lower(): getattr(models, n) for n in models.__all__}
    cls = classes.get(name.lower())
    if cls is None:
        raise UserError(f"unknown model {name!r}; choose from {', '.join(models.__all__)}")
    valid = cls().get_params()
    unknown = set(params) - set(valid)
    if unknown:
        raise UserError(f"{cls.__name__} has no parameter(s) {', '.join(sorted(unknown))}; "
                        f"valid: {', '.join(sorted(valid))}")
    return cls(**params)


def cmd_fit(args):
    from .data import IdMapper

    model = _estimator(args.model, _parse_params(args.param))
    explicit = not model._implicit
    users, items, ratings, what = _load_records(args.data, args.seed, explicit=explicit, sep=args.sep,
                                                header=args.header)
    comm = _mpi_world(model) if args.mpi else None
    if explicit:
        if ratings is None:
            raise UserError(f"{type(model).__name__} learns from ratings: the data needs a rating column")
        mapper = IdMapper(rating_col="rating", duplicates="last")  # the column a DataFrame history names
        records = (users, items, ratings)
    else:
        mapper = IdMapper(duplicates="last")
        records = _likes(users, items, ratings, args.threshold)
    with _user_errors(str(args.data)):
        if comm is None:
            X = mapper.fit_transform(records)
        else:  # every rank reads the records and learns the same ids (so the same item columns), then
            # builds only the rows of its own block of users: the blocks stacked in rank order are X
            mapper.fit(records)
            block = np.array_split(np.arange(mapper.user_ids_.size), comm.size)[comm.rank]
            mine = np.isin(records[0], mapper.user_ids_[block])
            X = mapper.transform_users(tuple(c[mine] for c in records))[block]
    if args.verbose:
        model.set_params(verbose=True) if "verbose" in model.get_params() else None
    fit_kw = {} if comm is None else {"comm": comm}
    t = time.perf_counter()
    with _user_errors("fit failed"):
        model.fit(X, **fit_kw)
    if comm is not None and comm.rank != 0:
        return 0  # rank 0 writes the model file (every rank holds the same model)
    from .persistence import save

    try:
        save(model, args.out, mapper=mapper, extra={"threshold": np.array([args.threshold])})
    except OSError as exc:
        raise UserError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
    ranks = f" on {comm.size} MPI ranks" if comm is not None else ""
    print(f"fitted {type(model).__name__} on {what}{ranks}: {mapper.user_ids_.size:,} users × {X.shape[1]:,} items "
          f"in {time.perf_counter() - t:.1f} s → {args.out}")
    return 0


def _mpi_world(model):
    """MPI.COMM_WORLD for 'aerec fit --mpi', or a user error saying what is missing."""
    import inspect

    if "comm" not in inspect.signature(model.fit).parameters:
        raise UserError(f"{type(model).__name__} does not train over MPI (--mpi: MultVAE, MultDAE, EASE, AutoRec with "
                        "item_based=False, DeepAutoencoder)")
    try:
        from mpi4py import MPI
    except ImportError:
        raise UserError("--mpi needs mpi4py and an MPI library: pip install 'aerec[mpi]', then "
                        "mpiexec -n 4 aerec fit … --mpi") from None
    return MPI.COMM_WORLD


def cmd_recommend(args):
    import json
    import warnings

    from .data import IdMapper
    from .persistence import ModelFileError, load

    try:
        model, extra = load(args.model, return_extra=True)
    except (OSError, ModelFileError) as exc:
        raise UserError(str(exc)) from exc
    if "item_ids" not in extra:
        raise UserError(f"{args.model} holds no id maps (save it with 'aerec fit')")
    mapper = IdMapper(unknown="ignore", duplicates="last", rating_col=None if model._implicit else "rating")
    item_ids = extra["item_ids"]
    mapper.item_ids_, mapper.user_ids_ = item_ids, extra.get("user_ids", np.array([]))
    users, items, ratings = read_records(args.history, args.sep, args.header)
    if model._implicit and ratings is not None:  # the same rule as 'aerec fit': ratings above it are likes
        threshold = args.threshold
        if threshold is None and "threshold" in extra:
            threshold = float(extra["threshold"][0])
        if threshold is not None:  # a model saved from Python without one: every record is an interaction
            keep = ratings > threshold
            dropped = np.setdiff1d(np.unique(users), np.unique(users[keep]))
            if dropped.size:
                print(f"aerec: warning: {dropped.size} user(s) have no rating above {threshold} and get no "
                      f"recommendations (e.g. {dropped[0]}); --threshold sets the cut", file=sys.stderr)
            users, items = users[keep], items[keep]
        ratings = None
    if item_ids.dtype.kind in "iu":
        try:
            items = items.astype(item_ids.dtype)
        except ValueError:
            pass
    else:
        items = items.astype(str)
    data = {"user": users, "item": items}
    if not model._implicit:
        if ratings is None:
            raise UserError("this model predicts from ratings: the history needs a rating column")
        data["rating"] = ratings
    with warnings.catch_warnings(record=True) as caught, _user_errors(str(args.history)):
        warnings.simplefilter("always")
        X, user_ids = mapper.transform(data)
    if X.nnz == 0 and users.size:  # nothing left to recommend from: an answer would be arbitrary
        sample = ", ".join(str(i) for i in np.unique(items)[:3])
        raise UserError(f"{args.history}: none of its {np.unique(items).size} item ids is known to the model "
                        f"(e.g. {sample}); were the ids written the same way as for 'aerec fit'?")
    for w in caught:
        print(f"aerec: warning: {w.message}", file=sys.stderr)
    if args.k < 1:
        raise UserError(f"--k must be a positive integer, got {args.k}")
    k = min(args.k, item_ids.size)  # a longer list would only be padding, which is not printed
    with _user_errors("recommend"):
        idx, scores = model.recommend(X, k=k, exclude_seen=not args.include_seen, precision=args.precision)
    names = mapper.item_ids(idx)
    try:
        out = open(args.out, "w") if args.out else sys.stdout
    except OSError as exc:
        raise UserError(f"cannot write {args.out}: {exc.strerror or exc}") from exc
    try:
        if args.format == "json":
            payload = {str(u): [{"item": (n.item() if hasattr(n, "item") else n), "score": float(s)}
                                for n, s in zip(names[r], scores[r]) if n is not None]
                       for r, u in enumerate(user_ids)}
            json.dump(payload, out, indent=1)
            out.write("\n")
        else:
            out.write("user,rank,item,score\n")
            for r, u in enumerate(user_ids):
                for rank, (n, s) in enumerate(zip(names[r], scores[r]), start=1):
                    if n is not None:
                        out.write(f"{u},{rank},{n},{float(s):.6g}\n")
    finally:
        if args.out:
            out.close()
    return 0


def cmd_evaluate(args):
    from .metrics import evaluate_rankings
    from .model_selection import strong_generalization_split

    if args.protocol != "i1":
        raise UserError("only --protocol i1 (strong generalisation, docs/PROTOCOLS.md) "
                        "is available from the command line")
    models = []
    for name in args.models.split(","):
        params = {"n_epochs": args.epochs} if name.strip().lower() in ("multvae", "multdae") else {}
        model = _estimator(name.strip(), params)
        if not model._implicit:
            raise UserError(f"{type(model).__name__} predicts ratings, and protocol i1 ranks held-out users' "
                            "interactions from their fold-in: evaluate it with the rating protocols "
                            "(benchmarks/quality/e1_ml1m.py); here choose from MultVAE, MultDAE, EASE, Popularity")
        models.append((model, params))
    users, items, ratings, what = _load_records(args.data, args.seed, sep=args.sep, header=args.header)
    n_users = np.unique(users).size
    n_held = min(10_000, round(0.1 * n_users)) if args.heldout is None else _heldout_users(args.heldout, n_users)
    with _user_errors(f"{args.data} (I1 split, --heldout {args.heldout})"):
        split = strong_generalization_split(users, items, ratings, n_heldout_users=n_held)
    print(f"data: {what}; I1 split: {split.train.shape[0]:,} training users, {n_held:,} validation and "
          f"{n_held:,} test users, {split.train.shape[1]:,} items")
    header = f"{'model':<11} {'NDCG@100':>14} {'Recall@20':>14} {'Recall@50':>14} {'fit (s)':>8}"
    print(header + "\n" + "-" * len(header), flush=True)
    curves = {}
    for model, params in models:
        t = time.perf_counter()
        with _user_errors(f"{type(model).__name__} fit"):
            if "n_epochs" in params:
                model.fit(split.train, X_val=split.val_fold_in, y_val=split.val_target)
            else:
                model.fit(split.train)
        fit_s = time.perf_counter() - t
        idx, _ = model.recommend(split.test_fold_in, k=100)
        m = evaluate_rankings(idx, split.test_target, ks=(10, 20, 50, 100))
        curves[type(model).__name__] = m
        cells = [f"{m[k]:.4f}±{m[k + '_se']:.4f}" for k in ("ndcg@100", "truncated_recall@20", "truncated_recall@50")]
        print(f"{type(model).__name__:<11} {cells[0]:>14} {cells[1]:>14} {cells[2]:>14} {fit_s:>8.1f}", flush=True)
    print("(test users; Recall@k as in the Mult-VAE reference: hits / min(k, #targets); ± standard error)")
    if args.plot:
        from .plot import plot_metric_at_k

        plot_metric_at_k(curves, metric="ndcg", path=args.plot)
        print(f"plot written to {args.plot}")
    return 0


def cmd_bench(args):
    """A quick side-by-side: each kernel family against the NumPy/SciPy code a user would write,
    timed in this process (best of a few repeats; the full suite is benchmarks/)."""

    from . import kernels
    from .datasets import make_synthetic

    n_rows, n_items, h = (500, 20108, 600) if args.size == "ml-20m" else (500, 4000, 200)
    X = make_synthetic((n_rows, n_items, n_rows * 73), random_state=0)
    rng = np.random.default_rng(0)
    W = (0.01 * rng.standard_normal((n_items, h))).astype(np.float32)
    dZ = rng.standard_normal((n_rows, h)).astype(np.float32)
    S = rng.standard_normal((n_rows, n_items)).astype(np.float32)
    XT = X.T.tocsr()

    def best(fn, repeats=5):
        fn()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    def np_multinomial():
        s = S - S.max(axis=1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        return np.exp(logp) * np.asarray(X.sum(axis=1)).reshape(-1, 1) - X.toarray()

    def np_topk():
        s = S.copy()
        s[np.repeat(np.arange(n_rows), np.diff(X.indptr)), X.indices] = -np.inf
        part = np.argpartition(-s, 99, axis=1)[:, :100]
        return np.take_along_axis(part, np.argsort(-np.take_along_axis(s, part, 1), 1), 1)

    cases = [
        ("sparse encoder fwd+bwd",
         lambda: (kernels.sparse_encoder_forward(X, W), kernels.sparse_encoder_backward(X, dZ)),
         lambda: (X @ W, XT @ dZ)),
        ("multinomial loss+grad", lambda: kernels.multinomial_loss_grad(S.copy(), X), np_multinomial),
        ("top-100, seen excluded", lambda: kernels.topk(S, 100, exclude=X), np_topk),
    ]
    print(f"batch {n_rows} × {n_items:,} items (~73 per row), hidden {h}; float32; best of 5 (ms)")
    print(f"{'kernel':<24} {'aerec':>9} {'NumPy/SciPy':>12} {'speed-up':>9}")
    for name, ours, theirs in cases:
        a, b = best(ours), best(theirs)
        print(f"{name:<24} {a * 1e3:>9.2f} {b * 1e3:>12.2f} {b / a:>8.1f}×")
    return 0


def cmd_info(args):
    from . import show_config

    show_config()
    return 0


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where there is none to show or the help text says it."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _add_file_options(q):
    q.add_argument("--sep", default=None,
                   help="field separator of record files (default: detected among "
                        + ", ".join(repr(x) for x in SEPARATORS) + " and whitespace)")
    q.add_argument("--header", choices=("auto", "yes", "no"), default="auto",
                   help="whether a record file's first line is a header (auto: a line of names, such as "
                        "userId,movieId,rating, above numeric data)")


def build_parser():
    from . import __version__

    fmt = _Formatter
    p = _Parser(prog="aerec", description="Autoencoder collaborative filtering with native kernels.",
                formatter_class=fmt)
    p.add_argument("--version", action="version", version=f"aerec {__version__}")
    sub = p.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="the main job (default): fit and evaluate the models on held-out users",
                          formatter_class=fmt)
    for q in (p, demo):
        q.add_argument("--data", default="synthetic:small",
                       help="synthetic:<small|ml-1m|ml-20m|netflix> or a user/item[/rating] record file")
        q.add_argument("--heldout", type=float, default=0.15,
                       help="users held out: a fraction (< 1) of the users or a number of users")
        q.add_argument("--seed", type=int, default=0, help="seed of the synthetic data and the hold-out")
        q.add_argument("--full", action="store_true", help="the papers' 200 epochs instead of 20")
        _add_file_options(q)
    sub.add_parser("info", help="print how aerec was built (OpenMP, CPU variant, CUDA, BLAS)")
    fit = sub.add_parser("fit", help="fit a model on a ratings file or synthetic data and save it",
                         formatter_class=fmt)
    fit.add_argument("data", help="user/item[/rating] record file, or synthetic:<shape>")
    fit.add_argument("--model", default="MultVAE", help="MultVAE, MultDAE, EASE, AutoRec, DeepAutoencoder, Popularity")
    fit.add_argument("--param", action="append", metavar="KEY=VALUE", help="an estimator parameter (repeatable)")
    fit.add_argument("--out", required=True, help="model file to write (.npz)")
    fit.add_argument("--threshold", type=float, default=3.5,
                     help="implicit models: ratings above it are interactions (stored in the model file, and "
                          "'aerec recommend' applies it to histories)")
    fit.add_argument("--seed", type=int, default=0, help="seed of synthetic data")
    fit.add_argument("--verbose", action="store_true", help="a progress bar while fitting")
    fit.add_argument("--mpi", action="store_true",
                     help="train data-parallel over MPI: run as 'mpiexec -n N aerec fit … --mpi'; every rank reads "
                          "the file, trains on its block of the users, and rank 0 writes the model")
    _add_file_options(fit)
    rec = sub.add_parser("recommend", help="top-k items, in your ids, for the users in a history file",
                         formatter_class=fmt,
                         description="Top-k items for the users in a history file. Records of items the model "
                                     "has never seen are dropped with a warning giving their count; a history "
                                     "with no known item at all is an error (exit code 2).")
    rec.add_argument("model", help="a model file written by 'aerec fit'")
    rec.add_argument("history", help="user/item[/rating] records of the users to recommend for")
    rec.add_argument("--k", type=int, default=10, help="items per user")
    rec.add_argument("--format", choices=("csv", "json"), default="csv", help="output format")
    rec.add_argument("--out", help="write here instead of standard output")
    rec.add_argument("--include-seen", action="store_true", help="do not exclude the users' own items")
    rec.add_argument("--threshold", type=float, default=None,
                     help="implicit models: history ratings above it are interactions (default: the one "
                          "'aerec fit' used, stored in the model file)")
    rec.add_argument("--precision", choices=("bfloat16",), default=None,
                     help="score the output layer in bfloat16 (MultVAE/MultDAE; Intel AMX where available)")
    _add_file_options(rec)
    bench = sub.add_parser("bench", help="a quick side-by-side speed check of the kernels against NumPy/SciPy",
                           formatter_class=fmt)
    bench.add_argument("--size", choices=("small", "ml-20m"), default="small", help="batch shape")
    ev = sub.add_parser("evaluate", help="run protocol I1 (strong generalisation) on a ratings file, print a table",
                        formatter_class=fmt,
                        description="Protocol I1 of the Mult-VAE paper (docs/PROTOCOLS.md): users held out for "
                                    "validation and test, each ranked from 80 % of its items. One line per "
                                    "model as it finishes.")
    ev.add_argument("data", help="user/item/rating file (e.g. ml-1m ratings), or synthetic:<shape>")
    ev.add_argument("--protocol", default="i1", help="only i1 from the command line")
    ev.add_argument("--models", default="Popularity,EASE,MultDAE,MultVAE", help="comma-separated implicit models")
    ev.add_argument("--heldout", type=float, default=None,
                    help="validation and test users each: a number of users or a fraction (< 1) of them "
                         "(default: 10 %% of the users, at most 10,000 — the papers' 600 on ML-1M's 6,040)")
    ev.add_argument("--epochs", type=int, default=200, help="epochs of MultVAE/MultDAE")
    ev.add_argument("--seed", type=int, default=0, help="seed of synthetic data")
    ev.add_argument("--plot", help="write an NDCG@k curve per model to this PNG (needs matplotlib)")
    _add_file_options(ev)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    command = {"info": cmd_info, "demo": cmd_demo, "fit": cmd_fit, "recommend": cmd_recommend,
               "evaluate": cmd_evaluate, "bench": cmd_bench, None: cmd_demo}[args.command]
    try:
        return command(args)
    except UserError as exc:
        print(f"aerec: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("aerec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`aerec recommend … | head`): stop quietly, as other Unix tools do;
        # stdout goes to /dev/null so the interpreter's final flush cannot raise again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
