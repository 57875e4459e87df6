"""aerec against PyTorch (dense-input and sparse-input forms) and NumPy, in the same run.

Mult-VAE / Mult-DAE: seconds for N training batches at the ML-20M shape (500 users × 20,108 items,
~73 items per user), extrapolated to an epoch of 116,677 users and labelled so; with 2 threads (this
machine) and 1 thread. EASE at the ML-20M item count: aerec vs the paper's NumPy code
(``AEREC_BENCH_EASE=1``, heavy: minutes). Skipped when PyTorch is not installed.

    python -m pytest benchmarks/bench_peers.py --benchmark-json=peers.json
    python benchmarks/summarize.py peers.json
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import aerec
from aerec._threads import blas_threads
from aerec.datasets import make_synthetic
from conftest import TINY

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "peers"))

N_ITEMS = 300 if TINY else 20108
BATCH = 50 if TINY else 500
N_BATCHES = 2 if TINY else 6
EPOCH_USERS = 116_677
THREADS = [2, 1]


@pytest.fixture(scope="module")
def batches():
    X = make_synthetic((BATCH * N_BATCHES, N_ITEMS, BATCH * N_BATCHES * (8 if TINY else 73)), random_state=0)
    return [X[i * BATCH:(i + 1) * BATCH] for i in range(N_BATCHES)]


def _arch(model_name):
    if TINY:
        return dict(hidden_dims=(16,), n_components=8) if model_name == "MultVAE" else dict(n_components=8)
    return {}


def _record(benchmark, n_threads):
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        per_batch = stats.stats.median / N_BATCHES
        benchmark.extra_info.update(n_threads=n_threads, extrapolated_epoch_seconds=per_batch * EPOCH_USERS / BATCH,
                                    measured_batches=N_BATCHES)


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("model_name", ["MultVAE", "MultDAE"])
def test_aerec(benchmark, batches, model_name, n_threads):
    """aerec's own training step, driven batch by batch through the estimator's internals."""
    from aerec.engine import Adam, CpuBackend
    from aerec.engine.layers import Parameter

    model = getattr(aerec, model_name)(random_state=0, n_threads=n_threads, **_arch(model_name))
    model.dtype_ = np.dtype(np.float32)
    coefs, intercepts = model._init_params(N_ITEMS, np.random.RandomState(0))
    params = []
    for W, b in zip(coefs, intercepts):
        params += [Parameter("W", W), Parameter("b", b, decay=False)]
    be = CpuBackend(n_threads)
    opt = Adam(be, params, lr=1e-3, weight_decay=2 * model.l2)
    model.n_threads_ = n_threads
    beta = 0.2 if model_name == "MultVAE" else 0.0

    def epoch_part():
        with blas_threads(1):  # as in MultVAE.fit: the products run on the backend's pool
            for step, Xb in enumerate(batches):
                model._train_step(be, Xb, params, beta, 1, step)
                opt.step()

    benchmark.group = f"{model_name} {N_BATCHES} batches, {n_threads} thread(s)"
    benchmark.pedantic(epoch_part, rounds=3, warmup_rounds=1)
    _record(benchmark, n_threads)


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("form", ["dense", "sparse"])
@pytest.mark.parametrize("model_name", ["MultVAE", "MultDAE"])
def test_torch(benchmark, batches, model_name, form, n_threads):
    torch = pytest.importorskip("torch")
    from torch_speed import make_multvae

    torch.set_num_threads(n_threads)
    arch = _arch(model_name)
    hidden = arch.get("hidden_dims", (600,) if model_name == "MultVAE" else ())
    latent = arch.get("n_components", 200)
    _, _, step = make_multvae(N_ITEMS, hidden, latent, variational=model_name == "MultVAE",
                              sparse_input=form == "sparse")

    def epoch_part():
        for Xb in batches:
            step(Xb)

    benchmark.group = f"{model_name} {N_BATCHES} batches, {n_threads} thread(s)"
    benchmark.pedantic(epoch_part, rounds=3, warmup_rounds=1)
    _record(benchmark, n_threads)


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
