"""Batch scoring throughput on Dask: users/s of ``recommend_dask`` on a LocalCluster of 1 worker × 2
threads and of 2 workers × 1 thread, against the in-process ``IdMapper.recommend_frame`` on the same
records, each timed in turn (in-process, 1 worker, 2 workers) for a few rounds; medians reported.

    python benchmarks/dask_scoring.py [--users 20000] [--rounds 3] [--json out.json]

The model is Mult-VAE at the ML-20M shape's item count (20,108 items, [600, 200]), fitted for one
epoch on a slice of the users (the weights' values do not change the scoring time); top-100 per user.
The records are partitioned by user up front (``shuffle=False``), as a Parquet dataset written by
user would be: the timing is of scoring, not of Dask's shuffle.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=20000, help="users scored (about 73 items each)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--json", help="write the measurements here")
    args = ap.parse_args()

    import dask.dataframe as dd
    import pandas as pd
    from distributed import Client, LocalCluster

    import aerec
    from aerec.data import IdMapper
    from aerec.datasets import make_synthetic
    from aerec.distributed import recommend_dask

    X = make_synthetic((args.users, 20108, args.users * 73), random_state=0)
    coo = X.tocoo()
    records = pd.DataFrame({"user": coo.row.astype(np.int64), "item": coo.col.astype(np.int64)})
    mapper = IdMapper()  # ids 0..n-1: every user a row, every item a column, as in the model
    mapper.user_ids_, mapper.item_ids_ = np.arange(X.shape[0]), np.arange(X.shape[1])
    model = aerec.MultVAE(n_epochs=1, random_state=0, n_threads=2).fit(X[:2000])
    ddf = dd.from_pandas(records.sort_values("user"), npartitions=args.partitions, sort=False)

    def in_process():
        return mapper.recommend_frame(model, records, k=100)

    rows = []
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1",
                      dashboard_address=None) as one, Client(one) as c1:
        model.n_threads_ = 2
        out = recommend_dask(model, mapper, ddf, k=100, shuffle=False, client=c1).compute()  # warm
        assert out.user.nunique() == args.users
    setups = [("in-process (2 threads)", None, None), ("Dask 1 worker × 2 threads", 1, 2),
              ("Dask 2 workers × 1 thread", 2, 1)]
    for r in range(args.rounds):
        for name, n_workers, threads in setups:
            if n_workers is None:
                model.n_threads_ = 2
                t = time.perf_counter()
                in_process()
                seconds = time.perf_counter() - t
            else:
                model.n_threads_ = threads  # the workers' kernels use this many threads each
                with LocalCluster(n_workers=n_workers, threads_per_worker=threads, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, Client(cluster) as client:
                    client.wait_for_workers(n_workers)
                    t = time.perf_counter()
                    recommend_dask(model, mapper, ddf, k=100, shuffle=False, client=client).compute()
                    seconds = time.perf_counter() - t
            rows.append({"setup": name, "round": r, "seconds": seconds, "users_per_s": args.users / seconds})
            print(json.dumps(rows[-1]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    for name, _, _ in setups:
        got = [x["users_per_s"] for x in rows if x["setup"] == name]
        print(f"{name:<28} {statistics.median(got):>9,.0f} users/s (range {min(got):,.0f}–{max(got):,.0f})")


if __name__ == "__main__":
    main()
