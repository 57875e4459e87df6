"""PyTorch (CPU) training steps of the same models as aerec, for speed comparisons in the same run.

Two forms of each, as people write them:
  * ``dense``  — the papers' code and RecBole-style libraries: the batch is densified
    (``X[batch].toarray()``) and every layer is a dense matmul (I-AutoRec: the "dense-masked" form
    of the paper's code and the popular re-implementations — a dense rating batch, a 0/1 mask
    multiplied into the squared error; the deep autoencoder: NVIDIA DeepRecommender's form);
  * ``sparse`` — the best PyTorch allows: the first layer reads the sparse batch
    (``torch.sparse.mm`` on a CSR tensor), the rest is dense.
The maths matches aerec's models with their default hyperparameters (same layer sizes,
activations, dropout, loss, optimiser, batch size), so an epoch does the same useful work; the
``*_flops`` helpers give the FLOPs per epoch each form executes. Also the EASE paper's NumPy code
and a PyTorch ``recommend`` (scores from given weights, seen items masked, ``torch.topk``).

PyTorch is an optional benchmark dependency: ``pip install torch==2.13.0`` (the CPU wheel).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover
        raise ImportError("the PyTorch peers need: pip install torch==2.13.0") from None
    return torch


def make_multvae(n_items, hidden=(600,), latent=200, variational=True, sparse_input=False, seed=0):
    """(model, optimizer, step(X_csr_batch, beta) -> loss) for Mult-VAE (or Mult-DAE)."""
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(seed)
    enc_dims = [n_items, *hidden, latent * (2 if variational else 1)]
    dec_dims = [latent, *hidden[::-1], n_items]

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.ModuleList(nn.Linear(a, b) for a, b in zip(enc_dims[:-1], enc_dims[1:]))
            self.dec = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dec_dims[:-1], dec_dims[1:]))
            for layer in [*self.enc, *self.dec]:
                nn.init.xavier_uniform_(layer.weight)

        def forward(self, x, dense_x):
            if sparse_input:
                h = torch.sparse.mm(x, self.enc[0].weight.t()) + self.enc[0].bias
            else:
                h = self.enc[0](dense_x)
            for layer in self.enc[1:]:
                h = layer(torch.tanh(h))
            if not variational:
                h = torch.tanh(h)
                mu = logvar = None
                z = h
            else:
                mu, logvar = h[:, :latent], h[:, latent:]
                z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            for layer in self.dec[:-1]:
                z = torch.tanh(layer(z))
            return self.dec[-1](z), mu, logvar

    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    drop = nn.Dropout(0.5)

    def step(X, beta=0.2):
        X = sp.csr_array(X, dtype=np.float32)
        norms = np.sqrt(np.maximum(np.asarray(X.multiply(X).sum(axis=1)).ravel(), 1e-12))
        Xn = sp.csr_array(sp.diags(1.0 / norms) @ X, dtype=np.float32)
        target = torch.from_numpy(X.toarray())
        if sparse_input:
            vals = drop(torch.from_numpy(Xn.data))  # dropout on the stored (nonzero) entries only
            x = torch.sparse_csr_tensor(torch.from_numpy(Xn.indptr.astype(np.int64)),
                                        torch.from_numpy(Xn.indices.astype(np.int64)), vals, size=Xn.shape)
            dense_x = None
        else:
            x, dense_x = None, drop(torch.from_numpy(Xn.toarray()))
        logits, mu, logvar = model(x, dense_x)
        nll = -(torch.log_softmax(logits, dim=1) * target).sum(dim=1).mean()
        loss = nll
        if variational:
            loss = loss + beta * (0.5 * (-logvar + torch.exp(logvar) + mu**2 - 1)).sum(dim=1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return model, opt, step


def _csr_tensor(torch, X, values=None):
    """A torch CSR tensor sharing X's structure (int64 indices, as torch.sparse.mm wants)."""
    vals = torch.from_numpy(np.ascontiguousarray(X.data, dtype=np.float32)) if values is None else values
    return torch.sparse_csr_tensor(torch.from_numpy(X.indptr.astype(np.int64)),
                                   torch.from_numpy(X.indices.astype(np.int64)), vals, size=X.shape)


# ---- I-AutoRec (Sedhain et al. 2015) ----------------------------------------------------------------


def make_autorec(n_inputs, n_ratings, h=500, l2=200.0, dropout=0.2, lr=1e-3, sparse_input=False, seed=0):
    """(model, optimizer, step(S_csr_batch) -> loss) for AutoRec with aerec's ``AutoRec()`` defaults.

    A sample is a row of S (I-AutoRec: an item's ratings over the ``n_inputs`` users). The network
    is ``r̂ = V·dropout(sigmoid(W·r + b)) + c`` (hidden 500, identity output, dropout 0.2 on the
    code), trained with Adam (lr 1e-3) on the batch's mean squared error over observed ratings plus
    ``l2/(2N)·(‖W‖² + ‖V‖²)`` (N = ``n_ratings``, the training ratings: aerec's objective, the
    paper's λ/2 penalty against the sum of squared errors, divided by N).

    ``sparse_input=False``: the paper code's dense-masked form — ``R = S_b.toarray()``, mask
    ``M = (R != 0)``, ``loss = Σ M·(r̂ − R)² / Σ M + penalty`` over the dense (batch × n_inputs)
    reconstruction. ``sparse_input=True``: the encoder reads the CSR batch (``torch.sparse.mm``),
    the decoder is a dense GEMM whose outputs are gathered at the observed entries; the penalty goes
    to Adam's ``weight_decay`` (the same gradient, no extra pass over the weights).
    """
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(seed)
    enc, dec = nn.Linear(n_inputs, h), nn.Linear(h, n_inputs)
    for layer in (enc, dec):
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)
    model = nn.ModuleDict({"enc": enc, "dec": dec})
    decay = float(l2) / float(n_ratings)
    if sparse_input:
        opt = torch.optim.Adam([{"params": [enc.weight, dec.weight], "weight_decay": decay},
                                {"params": [enc.bias, dec.bias]}], lr=lr)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    drop = nn.Dropout(dropout)
    W_t = enc.weight  # (h, n_inputs)

    def step(S):
        S = sp.csr_array(S, dtype=np.float32)
        if sparse_input:
            x = _csr_tensor(torch, S)
            hidden = torch.sigmoid(torch.sparse.mm(x, W_t.t()) + enc.bias)
            out = dec(drop(hidden))  # (batch, n_inputs), dense GEMM
            rows = torch.from_numpy(np.repeat(np.arange(S.shape[0]), np.diff(S.indptr)))
            cols = torch.from_numpy(S.indices.astype(np.int64))
            err = out[rows, cols] - torch.from_numpy(S.data)
            loss = (err * err).mean()
        else:
            R = torch.from_numpy(S.toarray())
            M = (R != 0).float()
            out = dec(drop(torch.sigmoid(enc(R))))
            loss = (((out - R) * M) ** 2).sum() / M.sum()
            loss = loss + 0.5 * decay * (enc.weight.pow(2).sum() + dec.weight.pow(2).sum())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return model, opt, step


def autorec_flops(n_samples, n_inputs, nnz, h=500, form="aerec"):
    """FLOPs of one AutoRec epoch: ``aerec`` (sparse encoder + masked decoder: 10·nnz·h — encoder
    forward and dW, decoder forward, dH and dV at the observed entries), ``dense`` (every product
    over the dense samples × inputs matrix: 10·S·I·h) or ``sparse`` (4·nnz·h + 6·S·I·h)."""
    full = 2.0 * n_samples * n_inputs * h
    part = 2.0 * nnz * h
    return {"aerec": 5 * part, "dense": 5 * full, "sparse": 2 * part + 3 * full}[form]


# ---- Deep autoencoder (Kuchaiev & Ginsburg 2017, NVIDIA DeepRecommender) -----------------------------


def _act(torch, name):
    return {"selu": torch.selu, "elu": torch.nn.functional.elu, "relu": torch.relu, "sigmoid": torch.sigmoid,
            "tanh": torch.tanh, "lrelu": torch.nn.functional.leaky_relu, "none": lambda x: x}[name]


def make_deep_ae(n_items, hidden=(512, 256), activation="tanh", dropout=0.5, last_layer_activations=False,
                 refeed=1, lr=0.06, momentum=0.9, l2=3e-4, sparse_input=False, seed=0):
    """(model, optimizer, step(X_csr_batch) -> loss) for the deep autoencoder, NVIDIA's code.

    DeepRecommender's ``AutoEncoder`` (``reco_encoder/model/model.py``) and training loop
    (``run.py``): weights ``(out, in)`` with xavier-uniform init and zero biases, ``F.linear`` +
    activation per encoder layer, dropout on the code, mirrored decoder (no activation on the last
    layer unless ``last_layer_activations``), ``MSEloss`` = the squared error where the target is
    non-zero, summed and divided by the number of such entries; SGD with momentum and
    ``weight_decay``. The batch is densified (``mb.to_dense()``). Dense re-feeding (``aug_step``):
    after the step, the output ``f(x)`` (computed before the step) becomes input and target of
    ``refeed`` further steps. Defaults: aerec's ``DeepAutoencoder()`` ([n, 512, 256], tanh, linear
    output, dropout 0.5, SGD 0.06 with momentum 0.9, weight decay 3e-4, refeed 1; NVIDIA's Netflix
    recipe uses SELU and [512, 512, 1024] — pass ``activation='selu'``).

    ``sparse_input=True``: the first layer of the sparse step reads the CSR batch
    (``torch.sparse.mm``); the loss gathers the observed entries. Re-feeding steps are dense in both.
    """
    torch = _torch()
    nn = torch.nn
    torch.manual_seed(seed)
    f = _act(torch, activation)
    sizes = [n_items, *hidden]
    enc = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
    rev = sizes[::-1]
    dec = nn.ModuleList(nn.Linear(a, b) for a, b in zip(rev[:-1], rev[1:]))
    for layer in [*enc, *dec]:
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)
    model = nn.ModuleDict({"enc": enc, "dec": dec})
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=l2)
    drop = nn.Dropout(dropout)

    def forward(x, sparse=False):
        for k, layer in enumerate(enc):
            if k == 0 and sparse:
                x = f(torch.sparse.mm(x, layer.weight.t()) + layer.bias)
            else:
                x = f(layer(x))
        x = drop(x) if dropout > 0 else x
        for k, layer in enumerate(dec):
            x = layer(x)
            if k < len(dec) - 1 or last_layer_activations:
                x = f(x)
        return x

    def masked_mse(out, target):
        mask = (target != 0).float()
        return ((out * mask - target) ** 2).sum() / mask.sum()  # NVIDIA's MSEloss / num_ratings

    def step(X):
        X = sp.csr_array(X, dtype=np.float32)
        if sparse_input:
            out = forward(_csr_tensor(torch, X), sparse=True)
            rows = torch.from_numpy(np.repeat(np.arange(X.shape[0]), np.diff(X.indptr)))
            err = out[rows, torch.from_numpy(X.indices.astype(np.int64))] - torch.from_numpy(X.data)
            loss = (err * err).mean()
        else:
            target = torch.from_numpy(X.toarray())
            out = forward(target)
            loss = masked_mse(out, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for _ in range(refeed):  # dense re-feeding: f(x) is input and target
            inputs = out.detach()
            out = forward(inputs)
            loss = masked_mse(out, inputs)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return float(loss.detach())

    return model, opt, step


def deep_ae_flops(n_users, n_items, nnz, hidden=(512, 256), refeed=1, form="aerec"):
    """FLOPs of one deep-autoencoder epoch (GEMM products only). Hidden layers: 3 products each
    (forward, dW, dX). First layer: forward + dW (no dX); output layer: 3 products. ``aerec``: the
    sparse step's first and output layers at the observed entries only (plus the dense f(x) for
    re-feeding); ``sparse``: a sparse first layer, a dense output; ``dense``: everything dense.
    Re-feeding steps are dense in every form."""
    sizes = [n_items, *hidden]
    rev = sizes[::-1]
    inner = [(a, b) for a, b in zip(sizes[1:-1], sizes[2:])] + [(a, b) for a, b in zip(rev[:-2], rev[1:-1])]
    h1 = sizes[1]
    inner_f = sum(3 * 2.0 * a * b for a, b in inner) * n_users
    dense_first, dense_out = 2 * 2.0 * n_items * h1 * n_users, 3 * 2.0 * n_items * h1 * n_users
    sparse_first, sparse_out = 2 * 2.0 * nnz * h1, 3 * 2.0 * nnz * h1
    if form == "aerec":
        step = sparse_first + inner_f + sparse_out + (2.0 * n_items * h1 * n_users if refeed else 0.0)
    elif form == "sparse":
        step = sparse_first + inner_f + dense_out
    else:
        step = dense_first + inner_f + dense_out
    return step + refeed * (dense_first + inner_f + dense_out)


# ---- recommend: scores from given weights, seen items masked, torch.topk ---------------------------


def make_recommend(coefs, intercepts, variational=True, n_components=200, activation="tanh", sparse_input=True,
                   batch_size=1000, bf16_output=False):
    """recommend(X_csr, k) -> (indices, scores) with PyTorch, from a fitted aerec MultVAE/MultDAE's
    ``coefs_``/``intercepts_`` (``(in, out)`` each): L2-normalised input rows, the encoder (the
    posterior mean for Mult-VAE), the decoder, the logits; the row's own items set to −inf, then
    ``torch.topk`` — per batch of ``batch_size`` users (aerec's ``recommend`` batch).

    ``bf16_output``: the output layer's product in bfloat16 (``H.bfloat16() @ W.bfloat16()``, which
    PyTorch runs through oneDNN — on AMX where the CPU has it — with float32 accumulation), the
    logits back in float32: the peer of aerec's ``recommend(precision='bfloat16')``."""
    torch = _torch()
    f = _act(torch, activation)
    Ws = [torch.from_numpy(np.ascontiguousarray(W, dtype=np.float32)) for W in coefs]
    bs = [torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32)) for b in intercepts]
    n_enc = len(Ws) // 2  # encoder and decoder have the same number of layers
    W_out = Ws[-1].to(torch.bfloat16) if bf16_output else None  # converted once, as aerec packs once

    @torch.inference_mode()
    def recommend(X, k=100):
        X = sp.csr_array(X, dtype=np.float32)
        idx = np.empty((X.shape[0], k), dtype=np.int64)
        val = np.empty((X.shape[0], k), dtype=np.float32)
        for s in range(0, X.shape[0], batch_size):
            Xb = X[s:s + batch_size]
            norms = np.sqrt(np.maximum(np.asarray(Xb.multiply(Xb).sum(axis=1)).ravel(), 1e-12))
            Xn = sp.csr_array(sp.diags(1.0 / norms) @ Xb, dtype=np.float32)
            if sparse_input:
                h = torch.sparse.mm(_csr_tensor(torch, Xn), Ws[0]) + bs[0]
            else:
                h = torch.from_numpy(Xn.toarray()) @ Ws[0] + bs[0]
            for W, b in zip(Ws[1:n_enc], bs[1:n_enc]):
                h = torch.addmm(b, f(h), W)
            h = h[:, :n_components] if variational else f(h)
            for W, b in zip(Ws[n_enc:-1], bs[n_enc:-1]):
                h = f(torch.addmm(b, h, W))
            if bf16_output:
                logits = (h.to(torch.bfloat16) @ W_out).float() + bs[-1]
            else:
                logits = torch.addmm(bs[-1], h, Ws[-1])
            rows = torch.from_numpy(np.repeat(np.arange(Xb.shape[0]), np.diff(Xb.indptr)))
            logits[rows, torch.from_numpy(Xb.indices.astype(np.int64))] = -torch.inf
            v, i = torch.topk(logits, k, dim=1)
            idx[s:s + batch_size], val[s:s + batch_size] = i.numpy(), v.numpy()
        return idx, val

    return recommend


def ease_paper_numpy(X, l2=500.0):
    """The EASE paper's code (Steck 2019, Algorithm 1): dense Gram from scipy.sparse, np.linalg.inv
    in float64."""
    G = X.T.dot(X).toarray().astype(np.float64)
    diag = np.diag_indices(G.shape[0])
    G[diag] += l2
    P = np.linalg.inv(G)
    B = P / (-np.diag(P))
    B[diag] = 0
    return B
