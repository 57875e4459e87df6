"""Data-parallel scaling on this machine: 1 process × 2 threads against 2 MPI ranks × 1 thread, the
same epoch, interleaved pair by pair; and the Allreduce's own time and bytes per step.

    python benchmarks/distributed_scaling.py [--pairs 3] [--users 12000] [--json out.json]

Each measurement is a fresh ``mpiexec`` job (``-launcher fork``: ranks on this machine only) that
fits one epoch and prints a JSON line; the driver alternates the two configurations so that the
shared machine's load falls on both alike, and reports the median of the per-pair time ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

MODELS = {
    # name: (data, estimator factory source) — the ML-20M shape's items, as the speed table's Mult-VAE row
    "multvae-ml20m": "aerec.MultVAE(hidden_dims=(600,), n_components=200, n_epochs=1, random_state=0, "
                     "n_threads={threads})",
    "multdae-ml20m": "aerec.MultDAE(n_components=200, n_epochs=1, random_state=0, n_threads={threads})",
    # real ML-1M ratings (../shared/data); user-based, as MPI training needs (item-based is refused)
    "autorec-ml1m": "aerec.AutoRec(item_based=False, n_epochs=1, random_state=0, n_threads={threads})",
}


def worker(model, threads, users):
    """One rank of one job: fit one epoch on this rank's block of users, time it, time the Allreduce."""
    from mpi4py import MPI

    import aerec  # noqa: F401 - used by the factory source
    from aerec.datasets import make_synthetic

    comm = MPI.COMM_WORLD
    if model.endswith("ml1m"):
        from aerec.datasets import load_ml1m_matrix, shared_data_dir

        X = load_ml1m_matrix(shared_data_dir() / "ml-1m")[0]
        users = X.shape[0]
    else:
        X = make_synthetic((users, 20108, users * 73), random_state=0)
    rows = np.array_split(np.arange(users), comm.size)[comm.rank]
    est = eval(MODELS[model].format(threads=threads))  # noqa: S307 - our own table above
    comm.Barrier()
    t = time.perf_counter()
    est.fit(X[rows], comm=comm if comm.size > 1 else None)
    comm.Barrier()
    seconds = time.perf_counter() - t
    if hasattr(est, "coefs_"):
        n_params = sum(W.size + b.size for W, b in zip(est.coefs_, est.intercepts_))
    else:
        n_params = est.W_.size + est.b_.size + est.V_.size + est.c_.size
    buf = np.ones(n_params + 2, dtype=np.float32)
    allreduce = []
    if comm.size > 1:
        for _ in range(5):
            comm.Barrier()
            t0 = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
            allreduce.append(time.perf_counter() - t0)
    if comm.rank == 0:
        print(json.dumps({"model": model, "ranks": comm.size, "threads": threads, "users": users,
                          "steps": int(est.n_updates_), "epoch_s": seconds, "step_s": seconds / est.n_updates_,
                          "bytes_per_step": int(buf.nbytes), "allreduce_s": statistics.median(allreduce)
                          if allreduce else 0.0, "loadavg": os.getloadavg()[0]}), flush=True)


def run(model, ranks, threads, users):
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
    cmd = [mpiexec, "-n", str(ranks), "-launcher", "fork", sys.executable, __file__, "--worker", model,
           str(threads), str(users)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", nargs=3, metavar=("MODEL", "THREADS", "USERS"), help=argparse.SUPPRESS)
    ap.add_argument("--models", default="multvae-ml20m", help="comma-separated: " + ", ".join(MODELS))
    ap.add_argument("--pairs", type=int, default=3, help="interleaved (1×2, 2×1) pairs per model")
    ap.add_argument("--users", type=int, default=12000, help="users in the epoch (batches of 500)")
    ap.add_argument("--json", help="write every measurement here")
    args = ap.parse_args()
    if args.worker:
        model, threads, users = args.worker
        return worker(model, int(threads), int(users))
    rows = []
    for model in args.models.split(","):
        for pair in range(args.pairs):
            configs = [(1, 2), (2, 1)] if pair % 2 == 0 else [(2, 1), (1, 2)]
            got = {}
            for ranks, threads in configs:
                got[ranks] = run(model, ranks, threads, args.users)
                rows.append(got[ranks])
                print(json.dumps(got[ranks]), flush=True)
            got[2]["ratio"] = got[2]["epoch_s"] / got[1]["epoch_s"]
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    for model in args.models.split(","):
        pairs = [r for r in rows if r["model"] == model and "ratio" in r]
        ratios = sorted(r["ratio"] for r in pairs)
        one = [r["epoch_s"] for r in rows if r["model"] == model and r["ranks"] == 1]
        two = [r for r in rows if r["model"] == model and r["ranks"] == 2]
        print(f"{model}: 1 rank × 2 threads {statistics.median(one):.2f} s, 2 ranks × 1 thread "
              f"{statistics.median(r['epoch_s'] for r in two):.2f} s per {two[0]['users']:,}-user epoch; "
              f"time ratio (2×1 / 1×2) median {statistics.median(ratios):.2f} "
              f"(range {ratios[0]:.2f}–{ratios[-1]:.2f}); "
              f"{two[0]['bytes_per_step'] / 1e6:.1f} MB allreduced per step, "
              f"{statistics.median(r['allreduce_s'] for r in two) * 1e3:.0f} ms each "
              f"(step {statistics.median(r['step_s'] for r in two) * 1e3:.0f} ms)")


if __name__ == "__main__":
    main()
