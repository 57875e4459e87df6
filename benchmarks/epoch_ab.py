"""Time one epoch's fit of a model (the faster of two), for A/B comparisons of two aerec checkouts in
fresh processes, run alternately:

    for i in 1 2 3 4 5; do
      PYTHONPATH=OLD/python python benchmarks/epoch_ab.py autorec     # prints {"model", "where", "s"}
      PYTHONPATH=NEW/python python benchmarks/epoch_ab.py autorec
    done

MODEL: autorec (I-AutoRec, real ML-1M), deepae (re-feeding, real ML-1M), multvae (12,000 users of the
ML-20M shape). Run from the repository root with ../shared/data beside it.
"""

import json
import sys
import time

import aerec
from aerec.datasets import load_ml1m_matrix, make_synthetic, shared_data_dir

name = sys.argv[1]
if name == "multvae":
    X = make_synthetic((12000, 20108, 12000 * 73), random_state=0)
    make = lambda: aerec.MultVAE(n_epochs=1, random_state=0, n_threads=2)  # noqa: E731
else:
    X, _, _ = load_ml1m_matrix(shared_data_dir() / "ml-1m")
    make = {"autorec": lambda: aerec.AutoRec(n_epochs=1, random_state=0, n_threads=2),
            "deepae": lambda: aerec.DeepAutoencoder(n_epochs=1, refeed=1, random_state=0, n_threads=2)}[name]
times = []
for _ in range(2):
    t = time.perf_counter()
    make().fit(X)
    times.append(time.perf_counter() - t)
print(json.dumps({"model": name, "where": aerec.__file__, "s": min(times)}))
