"""PyTorch (CPU) training steps of the same models as aerec, for speed comparisons in the same run.

Two forms of each, as people write them:
  * ``dense``  — the papers' code and RecBole-style libraries: the user batch is densified
    (``X[batch].toarray()``) and every layer is a dense matmul;
  * ``sparse`` — the best PyTorch allows: the first layer reads the sparse batch
    (``torch.sparse.mm`` on a CSR tensor), the rest is dense.
The maths matches aerec's models (same layer sizes, tanh, dropout on the normalised input,
multinomial likelihood, KL, Adam), so a step does the same FLOPs. Also the EASE paper's NumPy code.

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
            for i, layer in enumerate(self.enc[1:], start=1):
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
