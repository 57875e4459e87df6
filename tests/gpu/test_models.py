"""CPU↔GPU parity of fitted models: the same estimator, data and seed on device='cpu' and
device='cuda' reach the same quality (the GPU sums in another order, so weights agree to float
tolerance, not bit for bit), and a GPU-trained model is plain host arrays: it saves, loads and
recommends on the CPU. Each test runs on the real GPU (skipped with the reason without a GPU or
CuPy) and on the host emulation of _emulated.py, which runs every estimator's GPU code path
(CudaBackend, device-resident parameters, GPU recommend) on any machine."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _emulated import install
from _gpu import require_cupy


@pytest.fixture(autouse=True, params=["gpu", "emulated"])
def device_kind(request, monkeypatch):
    if request.param == "gpu":
        require_cupy()
    else:
        install(monkeypatch)
    return request.param


def _implicit(seed=0, n_users=400, n_items=150):
    rng = np.random.default_rng(seed)
    pop = rng.zipf(1.5, n_items).astype(float)
    p = pop / pop.sum()
    rows, cols = [], []
    for u in range(n_users):
        items = rng.choice(n_items, size=rng.integers(5, 30), replace=False, p=p)
        rows += [u] * items.size
        cols += list(items)
    X = sp.csr_array((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))
    X.sum_duplicates()
    return X


def _split(X, seed=1):
    rng = np.random.default_rng(seed)
    X = X.tocoo()
    hold = rng.random(X.nnz) < 0.2
    mk = lambda m: sp.csr_array((X.data[m], (X.row[m], X.col[m])), shape=X.shape)  # noqa: E731
    return mk(~hold), mk(hold)


def _ratings(seed=0, n_users=300, n_items=120):
    rng = np.random.default_rng(seed)
    U, V = rng.standard_normal((n_users, 4)), rng.standard_normal((n_items, 4))
    mask = rng.random((n_users, n_items)) < 0.15
    R = np.clip(np.round(3 + U @ V.T), 1, 5) * mask
    return sp.csr_array(R.astype(np.float32))


IMPLICIT = [
    ("MultVAE", dict(hidden_dims=(64,), n_components=16, n_epochs=8, batch_size=100)),
    ("MultDAE", dict(n_components=32, n_epochs=8, batch_size=100)),
    ("EASE", dict(l2=50.0)),
]


@pytest.mark.parametrize("name,kw", IMPLICIT, ids=[c[0] for c in IMPLICIT])
def test_implicit_parity(name, kw, tmp_path, device_kind):
    import aerec
    from aerec import _native

    X_tr, X_te = _split(_implicit())
    cls = getattr(aerec, name)
    cpu = cls(device="cpu", **({"random_state": 0} if name != "EASE" else {}), **kw).fit(X_tr)
    gpu = cls(device="cuda", **({"random_state": 0} if name != "EASE" else {}), **kw).fit(X_tr)
    assert gpu.device_ == "cuda"
    for name_, a in vars(gpu).items():  # fitted attributes are host arrays, lists of them included
        for x in (a if isinstance(a, (list, tuple)) else [a]):
            assert not type(x).__module__.startswith("cupy"), name_
    s_cpu, s_gpu = cpu.score(X_tr, X_te), gpu.score(X_tr, X_te)
    assert abs(s_cpu - s_gpu) < 0.01, (s_cpu, s_gpu)
    if name == "EASE":
        np.testing.assert_allclose(gpu.B_, cpu.B_, atol=1e-4)
    else:
        np.testing.assert_allclose(np.asarray(gpu.loss_curve_), np.asarray(cpu.loss_curve_), rtol=5e-3)
    # GPU recommend (device_ == 'cuda') equals the CPU's ranking of the same model
    i_gpu, _ = gpu.recommend(X_tr[:50], k=10)
    gpu.device_ = "cpu"
    i_cpu, _ = gpu.recommend(X_tr[:50], k=10)
    assert (i_gpu == i_cpu).mean() > 0.98
    if device_kind == "emulated":  # the device path really ran: these kernels were called through it
        used = set(_native.cuda_module.calls)
        need = {"MultVAE": {"sparse_encoder_forward", "sparse_encoder_backward", "multinomial_loss_grad",
                            "gaussian_kl", "adam_step", "adam_step_rows", "topk_keys"},
                "MultDAE": {"sparse_encoder_forward", "sparse_encoder_backward", "multinomial_loss_grad",
                            "adam_step", "adam_step_rows", "topk_keys"},
                "EASE": {"sparse_gram", "sparse_encoder_forward", "topk_keys"}}[name]
        assert need <= used, need - used
    # saved on a GPU machine, loaded and used on the CPU
    gpu.device_ = "cuda"
    path = tmp_path / "m.npz"
    gpu.save(path)
    back = aerec.load(path)
    assert back.device_ == "cpu"
    np.testing.assert_array_equal(back.recommend(X_tr[:5], k=5)[0], i_cpu[:5, :5])


EXPLICIT = [
    ("AutoRec", dict(n_components=32, n_epochs=10, item_based=True, optimizer="rprop")),
    ("AutoRec", dict(n_components=32, n_epochs=10, item_based=False, optimizer="adam", dropout=0.1)),
    ("DeepAutoencoder", dict(hidden_dims=(32, 16), n_epochs=6, refeed=1)),
    ("AutoRec", dict(n_components=32, n_epochs=10, baseline="biases", input_dropout=0.3)),
]


@pytest.mark.parametrize("name,kw", EXPLICIT, ids=["I-AutoRec", "U-AutoRec-adam", "DeepAE-refeed",
                                                   "I-AutoRec-baseline"])
def test_explicit_parity(name, kw, device_kind):
    import aerec
    from aerec import _native

    R = _ratings()
    R_tr, R_te = _split(R)
    cls = getattr(aerec, name)
    cpu = cls(device="cpu", random_state=0, **kw).fit(R_tr)
    gpu = cls(device="cuda", random_state=0, **kw).fit(R_tr)
    assert gpu.device_ == "cuda"
    if device_kind == "emulated":
        need = {"sparse_encoder_forward", "sparse_encoder_backward", "masked_decoder_forward",
                "masked_decoder_backward", "masked_mse"}
        if kw.get("refeed"):  # with re-feeding the observed outputs are read from the dense output's GEMM
            need.discard("masked_decoder_forward")
        assert need <= set(_native.cuda_module.calls), need - set(_native.cuda_module.calls)
    rmse_cpu, rmse_gpu = -cpu.score(R_tr, R_te), -gpu.score(R_tr, R_te)
    assert abs(rmse_cpu - rmse_gpu) < 0.01 * rmse_cpu, (rmse_cpu, rmse_gpu)
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=5e-3)
    assert isinstance(gpu.predict(R_tr), np.ndarray)  # item-based models predict for their training users
