"""Each kernel family against what a user would write with NumPy/SciPy, in the same run.

Groups (``--benchmark-group-by=group``) are named by the C++ stem of the kernel family they measure
(``losses[multinomial autorec]``, ``topk[k=100 multvae]``, …) and pair ``aerec`` with its reference at
each shape; the AVX-512 variant is also run as the baseline ``generic`` build (``isa`` parameter) to
show what the vector units buy. Summarise with ``python benchmarks/summarize.py .benchmarks/<json>``.
Run: ``python -m pytest benchmarks/bench_kernels.py --benchmark-json=bench.json``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import TINY

from aerec import _native, kernels

ISAS = [isa for isa in ("avx512", "generic") if isa in _native.available_isas()]


def _with_isa(isa, fn):
    def run():
        with _native.use_isa(isa):
            return fn()
    return run


# ---- sparse_encoder: forward + backward --------------------------------------------------------


@pytest.mark.parametrize("isa", ISAS)
def test_sparse_encoder_aerec(benchmark, batch, isa, sgemm_gflops):
    X, W, b, dZ = batch["X"], batch["W"], batch["b"], batch["dZ"]
    benchmark.group = f"sparse_encoder[{batch['name']}]"
    benchmark.extra_info.update(sgemm_gflops=sgemm_gflops, flops=4.0 * X.nnz * batch["h"])

    def step():
        kernels.sparse_encoder_forward(X, W, b)
        kernels.sparse_encoder_backward(X, dZ)

    benchmark(_with_isa(isa, step))


def test_sparse_encoder_scipy(benchmark, batch):
    """What a user writes: scipy.sparse @ dense for Z, Xᵀ @ dZ for dW, a column sum for db."""
    X, W, b, dZ = batch["X"], batch["W"], batch["b"], batch["dZ"]
    benchmark.group = f"sparse_encoder[{batch['name']}]"
    XT = X.T.tocsr()  # built once, as a user would

    def step():
        Z = X @ W + b
        dW = XT @ dZ
        db = dZ.sum(axis=0)
        return Z, dW, db

    benchmark(step)


# ---- masked_decoder: forward + backward ----------------------------------------------------------


@pytest.mark.parametrize("isa", ISAS)
def test_masked_decoder_aerec(benchmark, batch, isa):
    X, H, W = batch["X"], batch["H"], batch["W"]
    benchmark.group = f"masked_decoder[{batch['name']}]"
    c = batch["c"]
    d_out = np.ones(X.nnz, dtype=np.float32)

    def step():
        kernels.masked_decoder_forward(X, H, W, c)
        kernels.masked_decoder_backward(X, H, W, d_out)

    benchmark(_with_isa(isa, step))


def test_masked_decoder_numpy(benchmark, batch):
    """The NumPy way that stays sparse: gather rows, row-wise dots, scatter-add the gradients."""
    X, H, W, c = batch["X"], batch["H"], batch["W"], batch["c"]
    benchmark.group = f"masked_decoder[{batch['name']}]"
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    cols = X.indices
    d_out = np.ones(X.nnz, dtype=np.float32)

    def step():
        out = np.einsum("ij,ij->i", H[rows], W[cols]) + c[cols]
        G = sp.csr_array((d_out, X.indices, X.indptr), shape=X.shape)
        dH = G @ W
        dV = G.T @ H
        dc = np.bincount(cols, weights=d_out, minlength=X.shape[1])
        return out, dH, dV, dc

    benchmark(step)


# ---- losses: the fused multinomial pass ------------------------------------------------------------


@pytest.mark.parametrize("isa", ISAS)
def test_multinomial_aerec(benchmark, batch, isa):
    X, logits, c = batch["X"], batch["logits"], batch["c"]
    benchmark.group = f"losses[multinomial {batch['name']}]"
    buf = np.empty_like(logits)

    def step():
        np.copyto(buf, logits)  # the kernel overwrites its input; the copy is charged to aerec
        return kernels.multinomial_loss_grad(buf, X, c, scale=1.0 / X.shape[0])

    benchmark(_with_isa(isa, step))


def test_multinomial_numpy(benchmark, batch):
    """Bias + log-softmax + loss + gradient as NumPy expressions (the reference code's maths)."""
    X, logits, c = batch["X"], batch["logits"], batch["c"]
    benchmark.group = f"losses[multinomial {batch['name']}]"
    scale = 1.0 / X.shape[0]

    def step():
        s = logits + c
        s = s - s.max(axis=1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        loss = -scale * X.multiply(logp).sum()
        n = np.asarray(X.sum(axis=1)).reshape(-1, 1)
        grad = scale * (np.exp(logp) * n - X.toarray())
        return loss, grad

    benchmark(step)


# ---- topk with exclusion -------------------------------------------------------------------------


@pytest.mark.parametrize("isa", ISAS)
def test_topk_aerec(benchmark, batch, isa):
    X, scores = batch["X"], batch["logits"]
    k = min(100, X.shape[1] // 2)
    benchmark.group = f"topk[k={k} {batch['name']}]"
    benchmark(_with_isa(isa, lambda: kernels.topk(scores, k, exclude=X)))


def test_topk_numpy(benchmark, batch):
    """Mask seen items with −inf, argpartition, then sort the k kept per row."""
    X, scores = batch["X"], batch["logits"]
    k = min(100, X.shape[1] // 2)
    benchmark.group = f"topk[k={k} {batch['name']}]"
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))

    def step():
        s = scores.copy()
        s[rows, X.indices] = -np.inf
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        top = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1), np.take_along_axis(top, order, axis=1)

    benchmark(step)


# ---- activations and optimisers (elementwise, memory-bound) ------------------------------------------


@pytest.mark.parametrize("isa", ISAS)
def test_activation_tanh_aerec(benchmark, batch, isa):
    Z = batch["H"]
    benchmark.group = f"activations[tanh {batch['name']}]"

    def step():
        Y = kernels.activation_forward("tanh", Z)
        return kernels.activation_backward("tanh", Z, Y, Z)

    benchmark(_with_isa(isa, step))


def test_activation_tanh_numpy(benchmark, batch):
    Z = batch["H"]
    benchmark.group = f"activations[tanh {batch['name']}]"

    def step():
        Y = np.tanh(Z)
        return (1 - Y * Y) * Z

    benchmark(step)


@pytest.mark.parametrize("isa", ISAS)
def test_adam_aerec(benchmark, batch, isa):
    p, g = batch["W"].copy(), batch["W"]
    m, v = np.zeros_like(p), np.zeros_like(p)
    benchmark.group = f"optim[adam {batch['name']}]"
    t = [0]

    def step():
        t[0] += 1
        kernels.adam_step(p, g, m, v, t=t[0])

    benchmark(_with_isa(isa, step))


def test_adam_numpy(benchmark, batch):
    p, g = batch["W"].copy(), batch["W"]
    m, v = np.zeros_like(p), np.zeros_like(p)
    benchmark.group = f"optim[adam {batch['name']}]"
    t = [0]

    def step():
        t[0] += 1
        m[...] = 0.9 * m + 0.1 * g
        v[...] = 0.999 * v + 0.001 * g * g
        p[...] -= 1e-3 * (m / (1 - 0.9 ** t[0])) / (np.sqrt(v / (1 - 0.999 ** t[0])) + 1e-8)

    benchmark(step)


# ---- gemm_bf16: the scoring product (hidden × output weights), bfloat16 vs float32 ----------------


def _scoring_operands(batch):
    """1,000 users' output-layer inputs (hidden h) against the batch shape's (h, n_items) weights."""
    rng = np.random.default_rng(3)
    h, n_items = batch["h"], batch["X"].shape[1]
    H = np.tanh(rng.standard_normal((min(1000, 2 * batch["X"].shape[0]), h))).astype(np.float32)
    W = (0.05 * rng.standard_normal((h, n_items))).astype(np.float32)
    return H, W, np.zeros(n_items, np.float32)


def test_gemm_bf16_aerec(benchmark, batch, sgemm_gflops):
    """AMX tiles where the CPU has them (``kernels.amx_bf16_available()``), else the rounded sgemm."""
    H, W, b = _scoring_operands(batch)
    Wp = kernels.pack_bf16(W)
    benchmark.group = f"gemm_bf16[{batch['name']}]"
    benchmark.extra_info.update(sgemm_gflops=sgemm_gflops, flops=2.0 * H.shape[0] * W.shape[0] * W.shape[1],
                                amx=kernels.amx_bf16_available())
    benchmark(lambda: kernels.gemm_bf16(H, Wp, b))


def _sgemm_scores(H, W, b):
    out = H @ W
    out += b
    return out


def test_gemm_bf16_sgemm(benchmark, batch):
    """The float32 product the default scoring does: NumPy's sgemm (its BLAS threads) plus the bias."""
    H, W, b = _scoring_operands(batch)
    benchmark.group = f"gemm_bf16[{batch['name']}]"
    benchmark(lambda: _sgemm_scores(H, W, b))


# ---- screened_topk: the exact top-100 of the scoring product, without its float32 block ----------------


def test_screened_topk_aerec(benchmark, batch):
    """bfloat16 screen (gemm_bf16) + bound + float64 rescoring of the candidates (AMX or its fallback)."""
    H, W, b = _scoring_operands(batch)
    Wp = kernels.pack_bf16(W, keep_exact=True)
    benchmark.group = f"screened_topk[k=100 {batch['name']}]"
    benchmark.extra_info.update(amx=kernels.amx_bf16_available())
    benchmark(lambda: kernels.screened_topk(H, Wp, 100, b))


def test_screened_topk_sgemm_topk(benchmark, batch):
    """What float32 recommend does without the screen: the backend's pooled sgemm (BLAS held to one
    thread, as MultVAE's inference runs it) + bias, then kernels.topk. (With OpenBLAS's own threads the
    top-k after it ran 2–9× slower here: its workers spin on the cores the top-k's threads need.)"""
    from aerec._threads import blas_threads
    from aerec.engine import CpuBackend

    H, W, b = _scoring_operands(batch)
    be = CpuBackend()
    benchmark.group = f"screened_topk[k=100 {batch['name']}]"

    def step():
        with blas_threads(1):
            out = be.matmul(H, W)
            out += b
            return kernels.topk(out, 100)

    benchmark(step)


# ---- gemm_f32: a training step's products, aerec's GEMM vs NumPy's sgemm and PyTorch's (MKL) ------------

#: name: (M, K, N, A is a transposed view, B is a transposed view) — the products of a training step:
#: the deep autoencoder's batch of 128 ML-1M users (re-feeding step: X·W₀, the weight gradient Xᵀ·dZ,
#: the output layer H·Vᵀ) and Mult-VAE's batch of 500 at the ML-20M shape (output layer, its weight
#: gradient Hᵀ·G, and dH = G·W with K = 20,108).
GEMM_SHAPES = {
    "deepae_XW": (128, 3706, 512, False, False),
    "deepae_XtdZ": (3706, 128, 512, True, False),
    "deepae_HVt": (128, 512, 3706, False, True),
    "multvae_HW": (500, 600, 20108, False, False),
    "multvae_HtG": (600, 500, 20108, True, False),
    "multvae_GWt": (500, 20108, 600, False, True),
}
if TINY:
    GEMM_SHAPES = {k: (max(3, m // 20), max(3, kk // 20), max(3, n // 20), ta, tb)
                   for k, (m, kk, n, ta, tb) in GEMM_SHAPES.items()}


@pytest.fixture(scope="module", params=sorted(GEMM_SHAPES))
def gemm_case(request):
    M, K, N, ta, tb = GEMM_SHAPES[request.param]
    rng = np.random.default_rng(4)
    A = rng.standard_normal((K, M)).astype(np.float32).T if ta else rng.standard_normal((M, K)).astype(np.float32)
    B = rng.standard_normal((N, K)).astype(np.float32).T if tb else rng.standard_normal((K, N)).astype(np.float32)
    return {"name": request.param, "A": A, "B": B, "flops": 2.0 * M * N * K}


def test_gemm_f32_aerec(benchmark, gemm_case, sgemm_gflops):
    """kernels.gemm_f32 on all cores, transposed operands read in place."""
    A, B = gemm_case["A"], gemm_case["B"]
    out = np.empty((A.shape[0], B.shape[1]), np.float32)
    benchmark.group = f"gemm_f32[{gemm_case['name']}]"
    benchmark.extra_info.update(sgemm_gflops=sgemm_gflops, flops=gemm_case["flops"])
    benchmark(lambda: kernels.gemm_f32(A, B, out=out))


def test_gemm_f32_numpy(benchmark, gemm_case):
    """np.matmul: OpenBLAS with its own threads (all cores)."""
    A, B = gemm_case["A"], gemm_case["B"]
    out = np.empty((A.shape[0], B.shape[1]), np.float32)
    benchmark.group = f"gemm_f32[{gemm_case['name']}]"
    benchmark(lambda: np.matmul(A, B, out=out))


def test_gemm_f32_torch(benchmark, gemm_case):
    """torch.mm on the same memory (MKL, PyTorch's threads = all cores): what the PyTorch peers run."""
    torch = pytest.importorskip("torch")
    import os

    torch.set_num_threads(os.cpu_count() or 1)
    A, B = torch.from_numpy(gemm_case["A"]), torch.from_numpy(gemm_case["B"])
    out = torch.empty(A.shape[0], B.shape[1])
    benchmark.group = f"gemm_f32[{gemm_case['name']}]"
    benchmark(lambda: torch.mm(A, B, out=out))
