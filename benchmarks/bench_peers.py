"""aerec against PyTorch (dense-input and sparse-input forms) and NumPy, in the same run.

Each case (workloads.CASES) times aerec and its PyTorch peers *interleaved*, round by round (the
order rotates each round), so that load from other jobs on a shared machine hits all of them alike;
with 2 threads and 1 thread. The cases:

* Mult-VAE / Mult-DAE at the ML-20M shape (500-user batches × 20,108 items, ~73 items per user):
  N batches, extrapolated to an epoch of 116,677 users and labelled so; the Netflix shape
  (17,769 items, 463,435 users) is opt-in: ``AEREC_BENCH_NETFLIX=1``;
* I-AutoRec, one epoch of the real ML-1M (``../shared/data/ml-1m``; the synthetic ML-1M shape, said
  so, when absent): aerec vs the dense-masked PyTorch form vs the sparse-first-layer form;
* DeepAutoencoder, one epoch of ML-1M, refeed=0 and refeed=1: aerec vs NVIDIA's dense form (and a
  sparse-first-layer form);
* ``recommend(k=100)`` for 10,000 users at the ML-20M shape: aerec's MultVAE vs PyTorch scores from
  the same weights + seen items masked + ``torch.topk``.

Each result carries (``benchmark.extra_info["side_by_side"]``) the seconds per round and per epoch
of every implementation, FLOPs per epoch, GFLOP/s, the fraction of the sgemm rate at the same
thread count measured in this session, the ratio of each peer's time to aerec's, the peak RSS of
each implementation running the workload alone in a fresh process (``workloads.py``; measured at
the first thread count) and the load average. EASE at the ML-20M item count: aerec vs the paper's
NumPy code (``AEREC_BENCH_EASE=1``, heavy: ~9 minutes for the paper's code). The PyTorch peers
skip with a reason when PyTorch is not installed.

    python -m pytest benchmarks/bench_peers.py --benchmark-json=peers.json
    python benchmarks/summarize.py peers.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
from conftest import TINY

import aerec
from aerec._threads import blas_threads
from aerec.datasets import make_synthetic

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "peers"))
import workloads  # noqa: E402

N_ITEMS = 300 if TINY else 20108
THREADS = [2, 1]
ROUNDS = 1 if TINY else int(os.environ.get("AEREC_BENCH_ROUNDS", 3))
try:
    import torch  # noqa: F401

    HAVE_TORCH = True
except ImportError:  # pragma: no cover
    HAVE_TORCH = False

_SGEMM = {}


def sgemm_at(n_threads):
    """NumPy's sgemm rate with n BLAS threads, measured once per session (best of 5)."""
    if n_threads not in _SGEMM:
        from conftest import measure_sgemm_gflops

        with blas_threads(n_threads):
            _SGEMM[n_threads] = measure_sgemm_gflops()
    return _SGEMM[n_threads]


_RSS = {}


def peak_rss(name, impl, n_threads):
    """Peak RSS (MB) of one implementation running the workload once in a fresh process."""
    key = (name, impl)
    if key not in _RSS:
        out = subprocess.run([sys.executable, workloads.__file__, name, impl, str(n_threads)],
                             capture_output=True, text=True, env=dict(os.environ), timeout=3600)
        try:
            _RSS[key] = json.loads(out.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            _RSS[key] = {"error": (out.stderr or out.stdout)[-500:]}
    return _RSS[key]


def _want_rss(name, impl, n_threads):
    if n_threads != THREADS[0]:
        return False
    # off in the tiny smoke run (a fresh interpreter per workload costs seconds); on for the real shapes
    return os.environ.get("AEREC_BENCH_RSS", "0" if TINY else "1") == "1"


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("name", workloads.CASES)
def test_side_by_side(benchmark, name, n_threads):
    case = workloads.case(name)
    if case.skip:
        pytest.skip(case.skip)
    impls = [i for i in case.impls if i.startswith("aerec") or i == "numpy" or HAVE_TORCH]
    if len(impls) == 1:
        pytest.skip("the PyTorch peers need: pip install torch==2.13.0")
    if case.data_note.startswith("SYNTHETIC"):
        warnings.warn(f"{name}: {case.data_note}", stacklevel=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's beta warnings on sparse CSR tensors
        runs = {impl: workloads.build(name, impl, n_threads) for impl in impls}
        if case.scale != 1.0:  # batch cases: warm up (thread pools, allocations, torch's kernels); full-epoch
            for impl in impls:  # cases are long enough that the median of the rounds absorbs the first call
                runs[impl]()
        times = {impl: [] for impl in impls}
        load = [os.getloadavg()[0]]
        order = list(impls)

        def one_round():
            for impl in order:
                t = time.perf_counter()
                runs[impl]()
                times[impl].append(time.perf_counter() - t)
            order.append(order.pop(0))  # rotate: nobody always goes first

        benchmark.group = f"{case.title}, {n_threads} thread(s)"
        benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
        load.append(os.getloadavg()[0])
    sgemm = sgemm_at(n_threads)
    res = {"case": name, "title": case.title, "n_threads": n_threads, "label": case.label, "data": case.data_note,
           "rounds": ROUNDS, "sgemm_gflops": sgemm, "useful_gflop_per_epoch": case.flops["useful"] / 1e9,
           "loadavg_1min": load, "impls": {}}
    base = float(np.median(times["aerec"])) * case.scale
    for impl in impls:
        epoch = float(np.median(times[impl])) * case.scale
        row = {"round_seconds": times[impl], "epoch_seconds": epoch,
               "executed_gflop_per_epoch": case.flops[impl] / 1e9,
               "useful_gflops": case.flops["useful"] / epoch / 1e9,
               "executed_gflops": case.flops[impl] / epoch / 1e9,
               "fraction_of_sgemm": case.flops["useful"] / epoch / 1e9 / sgemm,
               "time_vs_aerec": epoch / base}
        if _want_rss(name, impl, n_threads):
            row["rss"] = peak_rss(name, impl, n_threads)
        res["impls"][impl] = row
    benchmark.extra_info["side_by_side"] = res


@pytest.mark.skipif(not TINY and os.environ.get("AEREC_BENCH_EASE") != "1",
                    reason="EASE at 20,108 items takes minutes: set AEREC_BENCH_EASE=1")
@pytest.mark.parametrize("impl", ["aerec-float32", "aerec-float64", "paper-numpy"])
def test_ease_fit_vs_paper(benchmark, impl):
    from torch_speed import ease_paper_numpy

    n = 300 if TINY else N_ITEMS
    X = make_synthetic((n * 5, n, n * 5 * 20), random_state=1)
    benchmark.group = f"EASE fit, {n} items"
    if impl == "paper-numpy":
        benchmark.pedantic(lambda: ease_paper_numpy(X), rounds=1, iterations=1)
    else:
        dtype = impl.split("-")[1]
        benchmark.pedantic(lambda: aerec.EASE(l2=500.0, dtype=dtype).fit(X), rounds=1, iterations=1)


def test_torch_recommend_matches_aerec():
    """The recommend peer ranks exactly as aerec does from the same weights (so the timing compares
    equal work); small shapes, no timing."""
    pytest.importorskip("torch")
    from torch_speed import make_recommend

    X = make_synthetic((300, 120, 300 * 10), random_state=3)
    for cls in (aerec.MultVAE, aerec.MultDAE):
        model = cls(hidden_dims=(16,) if cls is aerec.MultVAE else (), n_components=8, n_epochs=2,
                    random_state=0, n_threads=1).fit(X)
        idx, val = model.recommend(X, k=10)
        for sparse in (True, False):
            rec = make_recommend(model.coefs_, model.intercepts_, variational=cls is aerec.MultVAE,
                                 n_components=8, sparse_input=sparse, batch_size=128)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t_idx, t_val = rec(X, 10)
            np.testing.assert_allclose(t_val, val, rtol=1e-4, atol=1e-5)
            assert np.mean(t_idx == idx) > 0.99  # ties may order differently


def test_torch_explicit_peers_train():
    """The I-AutoRec and deep-autoencoder peers run on ratings and their loss goes down."""
    pytest.importorskip("torch")
    from torch_speed import make_autorec, make_deep_ae

    R = make_synthetic((120, 80, 120 * 12), explicit=True, random_state=0)
    S = R.T.tocsr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for sparse in (False, True):
            _, _, step = make_autorec(S.shape[1], S.nnz, h=8, sparse_input=sparse)
            first = step(S)
            last = [step(S) for _ in range(30)][-1]
            assert np.isfinite(last) and last < first
            _, _, step = make_deep_ae(R.shape[1], (16, 8), refeed=0, lr=0.01, sparse_input=sparse)
            first = step(R)
            last = [step(R) for _ in range(30)][-1]
            assert np.isfinite(last) and last < first
            _, _, step = make_deep_ae(R.shape[1], (16, 8), refeed=1, lr=0.01, sparse_input=sparse)
            assert np.isfinite(step(R))
