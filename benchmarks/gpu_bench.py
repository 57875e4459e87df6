"""Training speed on a GPU: aerec (device='cuda') vs aerec's CPU path vs a PyTorch CUDA peer.

Two rows, as issue 7 asks:
  * Mult-VAE [I-600-200-600-I], batch 500, at the ML-20M shape as Mult-VAE preprocesses it
    (116,677 users × 20,108 items, ~8.5M interactions; ``make_synthetic("ml-20m")``);
  * I-AutoRec (500 sigmoid units, Adam, batch 256) at the ML-1M shape (6,040 users × 3,706 items,
    ~1M ratings; ``make_synthetic("ml-1m", explicit=True)``).

An epoch's time is measured as the difference of two fits that differ by a known number of epochs
(so set-up, upload and first-call costs cancel), after a warm-up fit. Throughput is users per
second: the users whose data one epoch trains on, divided by the epoch time (for I-AutoRec, whose
samples are items, the same users are covered by one pass over all items). The CPU path is
measured on a subset of users and extrapolated (its throughput does not depend on the user count),
to keep the whole script short. Prints a Markdown table and writes JSON (``--json``).

Run by benchmarks/gpu_check.sh; by hand: ``python benchmarks/gpu_bench.py --json out.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "peers"))


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def _fit_seconds(make, X, epochs):
    t0 = time.perf_counter()
    make(epochs).fit(X)
    return time.perf_counter() - t0


def aerec_epoch_seconds(make, X, e_lo=1, e_hi=3):
    """(t(e_hi) − t(e_lo)) / (e_hi − e_lo) after a warm-up fit on a slice (CUDA context, cuBLAS,
    CuPy's kernel cache and memory pool)."""
    make(1).fit(X[: min(X.shape[0], 2000)])
    lo = _fit_seconds(make, X, e_lo)
    hi = _fit_seconds(make, X, e_hi)
    return max(hi - lo, 1e-9) / (e_hi - e_lo)


def gpu_name():
    try:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        return props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    except Exception:  # noqa: BLE001 - informational only
        try:
            import torch

            return torch.cuda.get_device_name(0)
        except Exception:  # noqa: BLE001
            return "unknown GPU"


def run(args):
    import aerec
    from aerec.datasets import make_synthetic

    machine = {"gpu": gpu_name(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
               "aerec": aerec.__version__}
    rows, results = [], {"machine": machine}
    n_threads = os.cpu_count()

    def record(model, impl, n_users, secs=None, error=None, note=""):
        r = dict(model=model, impl=impl, users=n_users, epoch_s=secs,
                 users_per_s=(n_users / secs) if secs else None, error=error, note=note)
        rows.append(r)
        log(f"  {model:<28} {impl:<22} " + (f"{secs:.3f} s/epoch, {n_users / secs:,.0f} users/s" if secs
                                               else f"FAILED: {error}"))

    def attempt(model, impl, n_users, fn, note=""):
        try:
            record(model, impl, n_users, fn(), note=note)
        except Exception as exc:  # noqa: BLE001 - one failing row must not lose the others
            traceback.print_exc()
            record(model, impl, n_users, error=f"{type(exc).__name__}: {exc}"[:200])

    # ---- Mult-VAE at the ML-20M shape -------------------------------------------------------------
    log("generating the ML-20M shape ...")
    X = make_synthetic("small" if args.tiny else "ml-20m", random_state=0)
    n_users = X.shape[0]
    vae = dict(hidden_dims=(600,), n_components=200, batch_size=500, random_state=0, verbose=False)
    name = f"Mult-VAE {'tiny' if args.tiny else 'ML-20M'} shape ({n_users:,}×{X.shape[1]:,})"
    attempt(name, "aerec cuda", n_users,
            lambda: aerec_epoch_seconds(lambda e: aerec.MultVAE(n_epochs=e, device="cuda", **vae), X, 1,
                                        1 + args.epochs))
    m = min(n_users, args.cpu_users)
    attempt(name, f"aerec cpu ({n_threads} thr)", n_users,
            lambda: aerec_epoch_seconds(lambda e: aerec.MultVAE(n_epochs=e, device="cpu", n_threads=n_threads, **vae),
                                        X[:m], 1, 2) * n_users / m,
            note=f"measured on {m:,} users")
    attempt(name, "PyTorch cuda", n_users, lambda: _torch_vae(X, args.epochs))
    X = None  # free the ML-20M shape before the next one

    # ---- I-AutoRec at the ML-1M shape -------------------------------------------------------------
    log("generating the ML-1M shape ...")
    R = make_synthetic("small" if args.tiny else "ml-1m", explicit=True, random_state=0)
    n_users = R.shape[0]
    ar = dict(item_based=True, n_components=500, optimizer="adam", batch_size=256, random_state=0)
    name = f"I-AutoRec {'tiny' if args.tiny else 'ML-1M'} shape ({n_users:,}×{R.shape[1]:,})"
    attempt(name, "aerec cuda", n_users,
            lambda: aerec_epoch_seconds(lambda e: aerec.AutoRec(n_epochs=e, device="cuda", **ar), R, 1,
                                        1 + 2 * args.epochs))
    attempt(name, f"aerec cpu ({n_threads} thr)", n_users,
            lambda: aerec_epoch_seconds(lambda e: aerec.AutoRec(n_epochs=e, device="cpu", n_threads=n_threads, **ar),
                                        R, 1, 2))
    attempt(name, "PyTorch cuda", n_users, lambda: _torch_autorec(R, 2 * args.epochs))
    results["rows"] = rows
    return results


def _torch_vae(X, epochs):
    import torch_cuda

    return torch_cuda.epoch_seconds(torch_cuda.MultVAE(X), n_epochs=epochs, batch_size=500)


def _torch_autorec(R, epochs):
    import scipy.sparse as sp
    import torch_cuda

    return torch_cuda.epoch_seconds(torch_cuda.IAutoRec(sp.csr_array(R.T)), n_epochs=epochs, batch_size=256)


def table(results):
    out = [f"GPU: {results['machine']['gpu']} · CPU cores: {results['machine']['cpu_count']} · "
           f"aerec {results['machine']['aerec']}", "",
           "| model | implementation | epoch (s) | users/s | note |", "|---|---|---:|---:|---|"]
    for r in results["rows"]:
        if r["epoch_s"]:
            out.append(f"| {r['model']} | {r['impl']} | {r['epoch_s']:.3f} | {r['users_per_s']:,.0f} | {r['note']} |")
        else:
            out.append(f"| {r['model']} | {r['impl']} | — | — | failed: {r['error']} |")
    return "\n".join(out)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=2, help="epochs timed per GPU measurement (default 2)")
    p.add_argument("--cpu-users", type=int, default=10000,
                   help="users in the CPU path's Mult-VAE measurement (extrapolated; default 10000)")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--tiny", action="store_true", help="small shapes: a smoke run of this script, not a measurement")
    args = p.parse_args(argv)
    results = run(args)
    text = table(results)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(results, table=text), f, indent=1)
    return 0 if all(r["epoch_s"] for r in results["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
