"""The side-by-side workloads of bench_peers.py: for each case (model × shape), one callable per
implementation (aerec, PyTorch dense, PyTorch sparse-first-layer) doing the same work, the FLOPs each
executes, and how a timed run scales to an epoch.

The same builders serve the timing (in the pytest process, implementations interleaved round by
round) and the peak-memory measurement, which runs one implementation in a fresh process:

    python benchmarks/workloads.py CASE IMPL N_THREADS    # prints {"peak_rss_mb": ..., ...}

so that the peak RSS (VmHWM) is that workload's own high-water mark (data, weights, optimiser state,
activations, and the interpreter with its imports — NumPy/SciPy/aerec, plus torch for the peers).
"""

from __future__ import annotations

import json
import os
import resource
import sys
from dataclasses import dataclass, field

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "peers"))

TINY = os.environ.get("AEREC_BENCH_SIZE", "").lower() == "tiny"
NETFLIX = os.environ.get("AEREC_BENCH_NETFLIX") == "1"
ML1M_DIR = os.environ.get("AEREC_ML1M_DIR", os.path.join(HERE, "..", "..", "shared", "data", "ml-1m"))
IMPLS = ("aerec", "torch-dense", "torch-sparse")

# (n_items, users per batch, measured batches, interactions per user, users in an epoch)
VAE_SHAPES = {
    "ml-20m": (20108, 500, 6, 73, 116_677),  # as Mult-VAE preprocesses ML-20M (training users)
    "netflix": (17769, 500, 4, 123, 463_435),  # as Mult-VAE preprocesses Netflix
}
if TINY:
    VAE_SHAPES = {k: (300, 50, 2, 8, 200) for k in VAE_SHAPES}


@dataclass
class Case:
    name: str
    title: str
    impls: tuple
    flops: dict  # impl -> FLOPs per epoch it executes; "useful" -> what aerec must do
    scale: float  # epoch time = measured run time × scale
    label: str  # "full epoch" or "extrapolated from N batches"
    data_note: str = ""
    skip: str = ""  # a reason to skip (e.g. opt-in)
    extra: dict = field(default_factory=dict)


# ---- data (cached per process) -------------------------------------------------------------------

_DATA = {}


def ml1m():
    """(R, note): the real ML-1M ratings (6,040 × 3,706) from ../shared/data/ml-1m via the dataset
    reader; make_synthetic('ml-1m', explicit=True) when the files are absent (note says so)."""
    if "ml1m" not in _DATA:
        from aerec.datasets import load_ml1m_matrix, make_synthetic

        if TINY:
            R, note = make_synthetic((120, 80, 120 * 12), explicit=True, random_state=0), "tiny synthetic"
        elif os.path.isdir(ML1M_DIR):
            R, note = load_ml1m_matrix(ML1M_DIR)[0], "real ML-1M (6,040 users × 3,706 items, 1,000,209 ratings)"
        else:
            R = make_synthetic("ml-1m", explicit=True, random_state=0)
            note = f"SYNTHETIC ml-1m shape: {ML1M_DIR} not found"
        _DATA["ml1m"] = (R, note)
    return _DATA["ml1m"]


def vae_batches(shape):
    if ("vae", shape) not in _DATA:
        from aerec.datasets import make_synthetic

        n_items, batch, n_batches, per_user, _ = VAE_SHAPES[shape]
        n = batch * n_batches
        X = make_synthetic((n, n_items, n * per_user), random_state=0)
        _DATA[("vae", shape)] = [X[i * batch:(i + 1) * batch] for i in range(n_batches)]
    return _DATA[("vae", shape)]


def recommend_users():
    if "rec" not in _DATA:
        from aerec.datasets import make_synthetic

        n_items = VAE_SHAPES["ml-20m"][0]
        n_users = 200 if TINY else 10_000
        _DATA["rec"] = make_synthetic((n_users, n_items, n_users * (8 if TINY else 73)), random_state=2)
    return _DATA["rec"]


# ---- FLOPs -----------------------------------------------------------------------------------------


def vae_flops_per_user(dims, variational, nnz_per_user, dense_input=False):
    """Multiply-adds × 2 of one Mult-VAE/DAE training pass (forward + both backward products) per
    user; dims = [n_items, *hidden, latent]. The first layer is forward + dW (no dX): sparse
    (2·2·nnz·h1) or dense (2·2·n_items·h1)."""
    enc = list(dims)
    layers = list(zip(enc[1:-1], enc[2:]))
    if variational:
        layers = [(a, 2 * b) if k == len(layers) - 1 else (a, b) for k, (a, b) in enumerate(layers)]
    dec = enc[::-1]
    flops = sum(3 * 2 * a * b for a, b in layers + list(zip(dec[:-1], dec[1:])))
    return flops + 2 * 2 * (enc[0] if dense_input else nnz_per_user) * enc[1]


def recommend_flops_per_user(dims, variational, nnz_per_user, dense_input=False):
    """Forward pass only (scores of every item): 2·(first layer) + 2·Σ a·b of the other layers."""
    enc = list(dims)
    layers = list(zip(enc[1:-1], enc[2:]))
    if variational:
        layers = [(a, 2 * b) if k == len(layers) - 1 else (a, b) for k, (a, b) in enumerate(layers)]
    dec = enc[::-1]
    return 2 * sum(a * b for a, b in layers + list(zip(dec[:-1], dec[1:]))) + \
        2 * (enc[0] if dense_input else nnz_per_user) * enc[1]


# ---- the cases ---------------------------------------------------------------------------------------


def _vae_arch(variational):
    if TINY:
        return dict(hidden_dims=(16,), n_components=8) if variational else dict(hidden_dims=(), n_components=8)
    return dict(hidden_dims=(600,), n_components=200) if variational else dict(hidden_dims=(), n_components=200)


def case(name):
    """The Case for a name: '{multvae,multdae}-{ml20m,netflix}', 'autorec-ml1m',
    'deepae-ml1m-refeed{0,1}', 'recommend-ml20m'."""
    from torch_speed import autorec_flops, deep_ae_flops

    if name.startswith(("multvae-", "multdae-")):
        variational = name.startswith("multvae")
        shape = {"ml20m": "ml-20m", "netflix": "netflix"}[name.split("-", 1)[1]]
        n_items, batch, n_batches, per_user, epoch_users = VAE_SHAPES[shape]
        arch = _vae_arch(variational)
        dims = [n_items, *arch["hidden_dims"], arch["n_components"]]
        nnz_u = per_user  # make_synthetic merges duplicates: slightly fewer in fact (the figure used)
        useful = vae_flops_per_user(dims, variational, nnz_u) * epoch_users
        dense = vae_flops_per_user(dims, variational, nnz_u, dense_input=True) * epoch_users
        skip = "" if shape != "netflix" or NETFLIX or TINY else \
            "Netflix shape is opt-in (heavy): set AEREC_BENCH_NETFLIX=1"
        return Case(name, f"{'Mult-VAE' if variational else 'Mult-DAE'} epoch, {shape} shape "
                    f"({epoch_users:,} users × {n_items:,} items)", IMPLS,
                    {"useful": useful, "aerec": useful, "torch-sparse": useful, "torch-dense": dense},
                    epoch_users / (batch * n_batches), f"extrapolated from {n_batches} batches of {batch} users",
                    f"make_synthetic, ~{per_user} items per user", skip)
    if name == "autorec-ml1m":
        R, note = ml1m()
        n_users, n_items = R.shape
        fl = {f: autorec_flops(n_items, n_users, R.nnz, 500 if not TINY else 8, form=f)
              for f in ("aerec", "dense", "sparse")}
        return Case(name, "I-AutoRec epoch, ML-1M (h = 500, batch 256 items)", IMPLS + ("numpy",),
                    {"useful": fl["aerec"], "aerec": fl["aerec"], "torch-dense": fl["dense"],
                     "torch-sparse": fl["sparse"], "numpy": fl["dense"]}, 1.0, "full epoch", note)
    if name.startswith("deepae-ml1m-refeed"):
        refeed = int(name[-1])
        R, note = ml1m()
        hidden = (512, 256) if not TINY else (16, 8)
        fl = {f: deep_ae_flops(R.shape[0], R.shape[1], R.nnz, hidden, refeed, form=f)
              for f in ("aerec", "dense", "sparse")}
        # NVIDIA's dense form is the peer; the sparse-first-layer form (make_deep_ae(sparse_input=True))
        # is left out of the timed set to keep the suite's length down (it was not faster: ML-1M's first
        # layer is 3,706 × 512, small next to the dense output layer both forms share)
        return Case(name, f"DeepAutoencoder epoch, ML-1M, refeed={refeed} ([n, 512, 256], batch 128)",
                    ("aerec", "torch-dense", "numpy"),
                    {"useful": fl["aerec"], "aerec": fl["aerec"],
                     "torch-dense": fl["dense"], "torch-sparse": fl["sparse"],
                     "numpy": fl["dense"]}, 1.0, "full epoch", note,
                    extra={"refeed": refeed})
    if name == "recommend-ml20m":
        X = recommend_users()
        arch = _vae_arch(True)
        dims = [X.shape[1], *arch["hidden_dims"], arch["n_components"]]
        nnz_u = X.nnz / X.shape[0]
        useful = recommend_flops_per_user(dims, True, nnz_u) * X.shape[0]
        # bfloat16 rows: the output layer's product in bfloat16 (aerec's gemm_bf16; PyTorch's oneDNN)
        return Case(name, f"MultVAE recommend(k=100), {X.shape[0]:,} users × {X.shape[1]:,} items",
                    ("aerec", "aerec-bf16", "torch-dense", "torch-sparse", "torch-sparse-bf16"),
                    {"useful": useful, "aerec": useful, "aerec-bf16": useful, "torch-sparse": useful,
                     "torch-sparse-bf16": useful,
                     "torch-dense": recommend_flops_per_user(dims, True, nnz_u, dense_input=True) * X.shape[0]},
                    1.0, f"{X.shape[0]:,} users, all of them", "make_synthetic, ~73 items per user")
    raise ValueError(f"unknown case {name!r}")


CASES = ["multvae-ml20m", "multdae-ml20m", "multvae-netflix", "autorec-ml1m", "deepae-ml1m-refeed0",
         "deepae-ml1m-refeed1", "recommend-ml20m"]


def _minibatches(n, size, rng):
    perm = rng.permutation(n)
    return [np.sort(perm[s:s + size]) for s in range(0, n, size)]


def build(name, impl, n_threads):
    """A no-argument callable doing the case's timed work with one implementation."""
    import aerec
    from aerec._threads import blas_threads

    torch = None
    if impl.startswith("torch"):
        import torch

        torch.set_num_threads(n_threads)
    sparse = impl == "torch-sparse"

    if name == "multvae-ml20m-fit":  # aerec only: a whole epoch's fit, for the peak-memory target
        from aerec.datasets import make_synthetic

        X = make_synthetic((600, 300, 600 * 8) if TINY else "ml-20m", random_state=0)
        return lambda: aerec.MultVAE(n_epochs=1, random_state=0, n_threads=n_threads, **_vae_arch(True)).fit(X)

    if name.startswith(("multvae-", "multdae-")):
        variational = name.startswith("multvae")
        shape = {"ml20m": "ml-20m", "netflix": "netflix"}[name.split("-", 1)[1]]
        batches = vae_batches(shape)
        arch = _vae_arch(variational)
        n_items = batches[0].shape[1]
        if impl == "aerec":
            from aerec.engine import Adam, CpuBackend
            from aerec.engine.params import Parameter

            model = (aerec.MultVAE if variational else aerec.MultDAE)(random_state=0, n_threads=n_threads, **arch)
            model.dtype_ = np.dtype(np.float32)
            coefs, intercepts = model._init_params(n_items, np.random.RandomState(0))
            params = []
            for W, b in zip(coefs, intercepts):
                params += [Parameter("W", W), Parameter("b", b, decay=False)]
            be = CpuBackend(n_threads)
            opt = Adam(be, params, lr=1e-3, weight_decay=2 * model.l2)
            model.n_threads_ = n_threads
            beta = 0.2 if variational else 0.0

            def run():
                with blas_threads(1):  # as in MultVAE.fit: the products run on the backend's pool
                    for step, Xb in enumerate(batches):
                        model._train_step(be, Xb, params, beta, 1, step)
                        opt.step()
            return run
        from torch_speed import make_multvae

        _, _, step = make_multvae(n_items, arch["hidden_dims"], arch["n_components"], variational=variational,
                                  sparse_input=sparse)

        def run():
            torch.set_num_threads(n_threads)
            for Xb in batches:
                step(Xb)
        return run

    if name == "autorec-ml1m":
        R, _ = ml1m()
        h = 8 if TINY else 500
        if impl == "aerec":
            def run():
                aerec.AutoRec(n_components=h, n_epochs=1, random_state=0, n_threads=n_threads).fit(R)
            return run
        from aerec.models._rating import transpose_csr

        S = transpose_csr(R)  # I-AutoRec: samples = items, inputs = users
        if impl == "numpy":
            import numpy_speed

            _, step = numpy_speed.make_autorec(S.shape[1], S.nnz, h=h)
        else:
            from torch_speed import make_autorec

            _, _, step = make_autorec(S.shape[1], S.nnz, h=h, sparse_input=sparse)
        rng = np.random.default_rng(0)

        def run():
            if torch is not None:
                torch.set_num_threads(n_threads)
            with blas_threads(n_threads):  # the NumPy peer's GEMMs (torch has its own threads)
                for idx in _minibatches(S.shape[0], 256, rng):  # AutoRec's batch_size default
                    step(S[idx])
        return run

    if name.startswith("deepae-ml1m-refeed"):
        refeed = int(name[-1])
        R, _ = ml1m()
        hidden = (16, 8) if TINY else (512, 256)
        if impl == "aerec":
            def run():
                aerec.DeepAutoencoder(hidden_dims=hidden, refeed=refeed, n_epochs=1, random_state=0,
                                      n_threads=n_threads).fit(R)
            return run
        if impl == "numpy":
            import numpy_speed

            _, step = numpy_speed.make_deep_ae(R.shape[1], hidden, refeed=refeed)
        else:
            from torch_speed import make_deep_ae

            _, _, step = make_deep_ae(R.shape[1], hidden, refeed=refeed, sparse_input=sparse)
        rng = np.random.default_rng(0)

        def run():
            if torch is not None:
                torch.set_num_threads(n_threads)
            with blas_threads(n_threads):  # the NumPy peer's GEMMs (torch has its own threads)
                for idx in _minibatches(R.shape[0], 128, rng):  # DeepAutoencoder's batch_size default
                    Xb = R[idx]
                    if Xb.nnz:
                        step(Xb)
        return run

    if name == "recommend-ml20m":
        X = recommend_users()
        train = vae_batches("ml-20m")[0]
        model = aerec.MultVAE(n_epochs=1, random_state=0, n_threads=n_threads, **_vae_arch(True)).fit(train)
        if impl == "aerec":
            return lambda: model.recommend(X, k=100)
        if impl == "aerec-bf16":  # the output layer in bfloat16 (AMX where the CPU has it)
            return lambda: model.recommend(X, k=100, precision="bfloat16")
        from torch_speed import make_recommend

        rec = make_recommend(model.coefs_, model.intercepts_, variational=True, n_components=model.n_components,
                             sparse_input=impl.startswith("torch-sparse"), bf16_output=impl.endswith("-bf16"))

        def run():
            torch.set_num_threads(n_threads)
            rec(X, 100)
        return run
    raise ValueError(f"unknown case {name!r}")


def maxrss_mb():
    """This process's peak resident set (MB): VmHWM from /proc (per address space, so it starts
    afresh at exec — ru_maxrss would carry the forking parent's peak over), else ru_maxrss."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


def main(argv):
    name, impl, n_threads = argv[0], argv[1], int(argv[2])
    import warnings

    warnings.filterwarnings("ignore")
    run = build(name, impl, n_threads)
    import time

    setup = maxrss_mb()
    t = time.perf_counter()
    run()
    seconds = time.perf_counter() - t
    print(json.dumps({"case": name, "impl": impl, "n_threads": n_threads, "setup_rss_mb": setup,
                      "peak_rss_mb": maxrss_mb(), "seconds": seconds, "loadavg_1min": os.getloadavg()[0]}))


if __name__ == "__main__":
    main(sys.argv[1:])
