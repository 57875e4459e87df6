"""PyTorch CUDA peers for benchmarks/gpu_bench.py: Mult-VAE/DAE and I-AutoRec written as people
write them on a GPU, in the strongest plain form — the whole (binary or rating) matrix resident on
the device as a dense tensor when it fits, each batch a row gather, every layer a cuBLAS GEMM, the
losses in PyTorch ops, torch.optim.Adam. Same layer sizes, activations, dropout and optimiser
settings as aerec's estimators, so an epoch does the same work.

Needs a CUDA build of PyTorch (``torch.cuda.is_available()``); nothing is downloaded.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

# torch's notices about its beta sparse-CSR support (used here only to densify on the device)
warnings.filterwarnings("ignore", message="Sparse (CSR tensor support|invariant checks)")


def _torch(device="cuda"):
    try:
        import torch
    except ImportError:  # pragma: no cover
        raise ImportError("the PyTorch CUDA peers need a CUDA build of torch") from None
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"torch {torch.__version__} sees no CUDA device (a CPU-only build, or no GPU)")
    return torch


def _resident(torch, X, max_bytes, device):
    """X (CSR, host) as a dense float32 tensor on ``device`` if it fits in max_bytes, else None."""
    if X.shape[0] * X.shape[1] * 4 > max_bytes:
        return None
    crow = torch.from_numpy(X.indptr.astype(np.int64)).to(device)
    col = torch.from_numpy(X.indices.astype(np.int64)).to(device)
    val = torch.from_numpy(X.data.astype(np.float32)).to(device)
    return torch.sparse_csr_tensor(crow, col, val, size=X.shape).to_dense()


def _sync(torch, device):
    if device == "cuda":
        torch.cuda.synchronize()


class MultVAE:
    """Mult-VAE (or Mult-DAE with variational=False) on CUDA: [I-600-200-600-I], tanh, dropout 0.5
    on the L2-normalised input, multinomial log-likelihood, KL weight beta, Adam 1e-3."""

    def __init__(self, X, hidden=(600,), latent=200, variational=True, dropout=0.5, beta=0.2, seed=0,
                 max_resident_bytes=24 * 2**30, device="cuda"):
        torch = self.torch = _torch(device)
        self.device = device
        nn = torch.nn
        torch.manual_seed(seed)
        self.X, self.variational, self.beta, self.latent = X, variational, beta, latent
        n_items = X.shape[1]
        enc = [n_items, *hidden, latent * (2 if variational else 1)]
        dec = [latent, *hidden[::-1], n_items]
        self.enc = nn.ModuleList(nn.Linear(a, b) for a, b in zip(enc[:-1], enc[1:])).to(device)
        self.dec = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dec[:-1], dec[1:])).to(device)
        for layer in [*self.enc, *self.dec]:
            nn.init.xavier_uniform_(layer.weight)
        self.opt = torch.optim.Adam([*self.enc.parameters(), *self.dec.parameters()], lr=1e-3)
        self.drop = nn.Dropout(dropout)
        self.dense = _resident(torch, X, max_resident_bytes, device)

    def _batch(self, idx):
        torch = self.torch
        if self.dense is not None:
            return self.dense[torch.from_numpy(idx).to(self.device)]
        return _resident(torch, self.X[idx], float("inf"), self.device)

    def step(self, idx):
        torch = self.torch
        x = self._batch(idx)
        h = self.drop(torch.nn.functional.normalize(x, dim=1))
        for i, layer in enumerate(self.enc):
            h = layer(h)
            if i < len(self.enc) - 1:
                h = torch.tanh(h)
        if self.variational:
            mu, logvar = h[:, :self.latent], h[:, self.latent:]
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            kl = (0.5 * (-logvar + torch.exp(logvar) + mu ** 2 - 1)).sum(dim=1).mean()
        else:
            z, kl = torch.tanh(h), 0.0
        for layer in self.dec[:-1]:
            z = torch.tanh(layer(z))
        logits = self.dec[-1](z)
        nll = -(torch.log_softmax(logits, dim=1) * x).sum(dim=1).mean()
        loss = nll + self.beta * kl
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss

    def epoch(self, rng, batch_size=500):
        order = rng.permutation(self.X.shape[0])
        for s in range(0, order.size, batch_size):
            loss = self.step(np.sort(order[s:s + batch_size]))
        _sync(self.torch, self.device)
        return float(loss.detach())


class IAutoRec:
    """I-AutoRec on CUDA: each item's rating vector over users is a sample; sigmoid hidden layer
    (500), identity output, masked squared error on the observed ratings, dropout 0.2 on the
    hidden layer, Adam with L2 weight decay l2/N (aerec's AutoRec defaults)."""

    def __init__(self, R_items, h=500, dropout=0.2, l2=200.0, lr=1e-3, seed=0, device="cuda"):
        torch = self.torch = _torch(device)
        self.device = device
        nn = torch.nn
        torch.manual_seed(seed)
        self.R = _resident(torch, R_items, float("inf"), device)  # (items, users): small for ML-1M
        self.M = (self.R != 0).float()
        n_in = R_items.shape[1]
        self.W, self.V = nn.Linear(n_in, h).to(device), nn.Linear(h, n_in).to(device)
        nn.init.xavier_uniform_(self.W.weight)
        nn.init.xavier_uniform_(self.V.weight)
        decay = l2 / max(R_items.nnz, 1)
        self.opt = torch.optim.Adam([
            {"params": [self.W.weight, self.V.weight], "weight_decay": decay},
            {"params": [self.W.bias, self.V.bias], "weight_decay": 0.0}], lr=lr)
        self.drop = nn.Dropout(dropout)

    def step(self, idx):
        torch = self.torch
        i = torch.from_numpy(idx).to(self.device)
        x, m = self.R[i], self.M[i]
        out = self.V(self.drop(torch.sigmoid(self.W(x))))
        loss = (((out - x) * m) ** 2).sum() / m.sum().clamp(min=1)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss

    def epoch(self, rng, batch_size=256):
        order = rng.permutation(self.R.shape[0])
        for s in range(0, order.size, batch_size):
            loss = self.step(np.sort(order[s:s + batch_size]))
        _sync(self.torch, self.device)
        return float(loss.detach())


def epoch_seconds(model, n_epochs=2, **kw):
    """Seconds per epoch after one warm-up epoch (CUDA context, cuBLAS plans, allocator)."""
    rng = np.random.default_rng(0)
    model.epoch(rng, **kw)
    t0 = time.perf_counter()
    for _ in range(n_epochs):
        model.epoch(rng, **kw)
    return (time.perf_counter() - t0) / n_epochs
