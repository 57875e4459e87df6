"""Model-level speed: Mult-VAE/Mult-DAE training at the ML-20M shape (seconds per epoch,
extrapolated from a few batches and labelled so), EASE fit at 20,108 items in float32 and float64,
and recommend(k=100) for 10,000 users — with the FLOPs each needs, the achieved GFLOP/s and the
fraction of the sgemm rate measured in the same session (conftest.sgemm_gflops).

    python -m pytest benchmarks/bench_models.py --benchmark-json=models.json
    python benchmarks/summarize.py models.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import TINY

import aerec
from aerec.datasets import make_synthetic

N_ITEMS = 200 if TINY else 20108
N_USERS_EPOCH = 116_677  # training users of ML-20M as Mult-VAE preprocesses it
BATCHES = 2 if TINY else 6
BATCH = 50 if TINY else 500


@pytest.fixture(scope="module")
def ml20m_batches():
    """BATCHES training batches' worth of users at the ML-20M item count and density (~73 items/user)."""
    n_users = BATCHES * BATCH
    return make_synthetic((n_users, N_ITEMS, n_users * (8 if TINY else 73)), random_state=0)


def _vae_flops_per_user(model, n_items, nnz_per_user):
    """Multiply-adds ×2 of one training pass (forward + both backward products) per user."""
    enc = [n_items] + list(model.hidden_dims) + [model.n_components]
    dims = list(zip(enc[1:-1], enc[2:]))
    if isinstance(model, aerec.MultVAE):
        dims = [(a, 2 * b) if k == len(dims) - 1 else (a, b) for k, (a, b) in enumerate(dims)]
    dec = enc[::-1]
    dense = dims + list(zip(dec[:-1], dec[1:]))
    flops = sum(3 * 2 * a * b for a, b in dense)  # Z = XW, dW = XᵀdZ, dX = dZWᵀ
    flops += 2 * 2 * nnz_per_user * enc[1]  # sparse first layer: forward + dW
    return flops


def _median(benchmark):
    """The median time, or None when timing is disabled (--benchmark-disable smoke runs)."""
    stats = getattr(benchmark, "stats", None)
    return stats.stats.median if stats is not None else None


@pytest.mark.parametrize("model_name", ["MultVAE", "MultDAE"])
def test_epoch_ml20m_shape(benchmark, ml20m_batches, model_name, sgemm_gflops):
    X = ml20m_batches
    cls = getattr(aerec, model_name)
    kwargs = dict(n_epochs=1, batch_size=BATCH, random_state=0)
    if TINY:
        kwargs.update(hidden_dims=(16,) if model_name == "MultVAE" else (), n_components=8)
    model = cls(**kwargs)
    model.fit(X)  # warm-up (allocations, thread pools)
    benchmark.group = "epoch[ml-20m shape]"
    benchmark.pedantic(lambda: cls(**kwargs).fit(X), rounds=3, iterations=1)
    if _median(benchmark) is None:
        return
    per_batch = _median(benchmark) / BATCHES
    batches_per_epoch = N_USERS_EPOCH / BATCH
    flops = _vae_flops_per_user(model, N_ITEMS, X.nnz / X.shape[0]) * N_USERS_EPOCH
    seconds = per_batch * batches_per_epoch
    benchmark.extra_info.update(
        extrapolated_epoch_seconds=seconds, measured_batches=BATCHES, epoch_gflop=flops / 1e9,
        gflops=flops / seconds / 1e9, sgemm_gflops=sgemm_gflops, fraction_of_sgemm=flops / seconds / 1e9 / sgemm_gflops,
        users_per_second=N_USERS_EPOCH / seconds)


EASE_ITEMS = 300 if TINY else int(os.environ.get("AEREC_BENCH_EASE_ITEMS", 8000))  # 20108: the ML-20M count


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_ease_fit(benchmark, dtype, sgemm_gflops):
    """EASE fit time (default 8,000 items; AEREC_BENCH_EASE_ITEMS=20108 for the ML-20M count, minutes)."""
    n = EASE_ITEMS
    X = make_synthetic((n * 3, n, n * 3 * 20), random_state=1)
    benchmark.group = f"ease_fit[{n} items]"
    benchmark.pedantic(lambda: aerec.EASE(l2=500.0, dtype=dtype).fit(X), rounds=1 if not TINY else 2, iterations=1)
    flops = n**3 / 3 + 2 * n**3  # potrf + potrs against the identity
    if _median(benchmark) is None:
        return
    benchmark.extra_info.update(gflop=flops / 1e9, gflops=flops / _median(benchmark) / 1e9,
                                sgemm_gflops=sgemm_gflops)


def test_recommend_10k_users(benchmark, ml20m_batches, sgemm_gflops):
    n_users = 200 if TINY else 10_000
    X = make_synthetic((n_users, N_ITEMS, n_users * (8 if TINY else 73)), random_state=2)
    kwargs = dict(n_epochs=1, batch_size=BATCH, random_state=0)
    if TINY:
        kwargs.update(hidden_dims=(16,), n_components=8)
    model = aerec.MultVAE(**kwargs).fit(ml20m_batches)
    benchmark.group = "recommend_k100[ml-20m shape]"
    benchmark.pedantic(lambda: model.recommend(X, k=100), rounds=3, iterations=1)
    if _median(benchmark) is not None:
        benchmark.extra_info.update(users_per_second=n_users / _median(benchmark))


def test_multvae_fit_peak_rss_ml20m(benchmark):
    """Peak RSS of ``MultVAE(n_epochs=1).fit(make_synthetic('ml-20m'))`` (116,677 users × 20,108
    items, 8.5 M interactions; default architecture, 2 threads) in a fresh process: the whole epoch,
    the data generation included (``setup_rss_mb``: after generating the data, before fitting). The
    target is ≤ 2.5 GB; recorded, not asserted. ``fit_seconds`` is one measured (not extrapolated)
    epoch. AEREC_BENCH_RSS=0 skips it (a full epoch: ~1.5 min on 2 quiet cores); off by default in
    the tiny smoke run."""
    if os.environ.get("AEREC_BENCH_RSS", "0" if TINY else "1") != "1":
        pytest.skip("peak-RSS runs disabled (AEREC_BENCH_RSS=0; off by default in the tiny smoke run)")
    script = os.path.join(os.path.dirname(__file__), "workloads.py")
    result = {}

    def run():
        out = subprocess.run([sys.executable, script, "multvae-ml20m-fit", "aerec", "2"], capture_output=True,
                             text=True, env=dict(os.environ), timeout=3600)
        assert out.returncode == 0, out.stderr[-2000:]
        result.update(json.loads(out.stdout.strip().splitlines()[-1]))

    benchmark.group = "peak RSS, MultVAE fit (1 epoch, ml-20m shape)"
    benchmark.pedantic(run, rounds=1, iterations=1)
    benchmark.extra_info.update(peak_rss_mb=result["peak_rss_mb"], setup_rss_mb=result["setup_rss_mb"],
                                fit_seconds=result["seconds"], loadavg_1min=result["loadavg_1min"])
