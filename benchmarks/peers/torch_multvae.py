"""A faithful PyTorch (CPU) re-implementation of the Mult-VAE / Mult-DAE reference code of
Liang, Krishnan, Hoffman & Jebara, "Variational Autoencoders for Collaborative Filtering" (WWW 2018),
notebook ``VAE_ML20M_WWW2018.ipynb`` (TensorFlow 1), used as the peer that aerec's MultVAE/MultDAE
are compared against in ``benchmarks/quality/i1_ml1m.py``.

What is reproduced, line for line:

* the batch is densified (``X_batch.toarray()``), ``tf.nn.l2_normalize(x, 1)`` (norm floored at
  sqrt(1e-12)), then ``tf.nn.dropout`` with keep probability 0.5 (kept entries scaled by 2);
* Mult-VAE: q-network [I, 600, 200] whose last layer is doubled (mu, logvar), tanh between layers,
  ``z = mu + is_training * eps * exp(0.5 logvar)``, p-network [200, 600, I], no activation on the
  logits; Mult-DAE: [I, 200, I] with tanh on the hidden layer;
* ``neg_ll = -mean_u(sum_i log_softmax(logits) * x)`` on the *raw* (binary) input,
  ``KL = mean_u(sum_d 0.5 (-logvar + exp(logvar) + mu^2 - 1))``,
  ``loss = neg_ll + beta * KL + 2 * reg`` with ``reg = lam * sum ||W||^2 / 2`` over the weights only
  (``tf.contrib.layers.l2_regularizer``); ``lam = 0`` for the VAE, ``0.01 / batch_size`` for the DAE;
* Xavier-uniform weights (``xavier_initializer``), biases ``truncated_normal(stddev=0.001)``
  (re-drawn beyond 2 std, as TensorFlow does);
* ``tf.train.AdamOptimizer(1e-3)`` — TF1's update ``lr_t = lr sqrt(1 - b2^t) / (1 - b1^t)``,
  ``w -= lr_t m / (sqrt(v) + eps)`` with eps = 1e-8 — written out here (torch's Adam puts eps inside
  the bias correction, a slightly different update);
* batch 500, users shuffled each epoch (``np.random.shuffle``), ``beta = min(anneal_cap,
  update_count / total_anneal_steps)`` computed *before* the step (the first step has beta = 0),
  ``update_count`` incremented after it;
* after each epoch the validation NDCG@100 (all items ranked, fold-in items set to -inf,
  ``NDCG_binary_at_k_batch``) and the weights of the best epoch are kept (the notebook's ``saver``).

PyTorch is an optional dependency of the benchmarks only: ``pip install torch==2.13.0`` (CPU).
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "benchmarks/peers/torch_multvae.py needs PyTorch, an optional benchmark dependency: "
            "pip install torch==2.13.0 (the CPU wheel), or pip install .[peers]") from None
    return torch


def ndcg_binary_at_k_batch(X_pred, heldout_batch, k=100):
    """The reference's ``NDCG_binary_at_k_batch`` (users without held-out items give NaN here)."""
    batch_users = X_pred.shape[0]
    idx_topk_part = np.argpartition(-X_pred, k, axis=1)
    topk_part = X_pred[np.arange(batch_users)[:, np.newaxis], idx_topk_part[:, :k]]
    idx_part = np.argsort(-topk_part, axis=1)
    idx_topk = idx_topk_part[np.arange(batch_users)[:, np.newaxis], idx_part]
    tp = 1.0 / np.log2(np.arange(2, k + 2))
    heldout = sp.csr_array(heldout_batch)
    hit = np.asarray(heldout[np.arange(batch_users)[:, np.newaxis], idx_topk].toarray()) > 0
    DCG = (hit * tp).sum(axis=1)
    n_rel = np.diff(heldout.indptr)
    IDCG = np.array([tp[:min(n, k)].sum() for n in n_rel])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_rel > 0, DCG / np.where(IDCG > 0, IDCG, 1.0), np.nan)


class TorchMultVAE:
    """The reference Mult-VAE (``variational=True``) or Mult-DAE (``variational=False``) in PyTorch.

    Parameters
    ----------
    variational : bool
        Mult-VAE (True) or Mult-DAE (False).
    p_dims : sequence of int, optional
        Decoder dims without the item count (default [200, 600] for the VAE, [200] for the DAE);
        the item count is appended at fit time and the encoder mirrors the decoder.
    lam : float, optional
        L2 scale (default 0 for the VAE, 0.01 / batch_size for the DAE, as in the notebook).
    lr, batch_size, n_epochs, total_anneal_steps, anneal_cap, keep_prob :
        The notebook's values by default.
    random_seed : int
        Seeds torch (initialisation, dropout, eps) and the NumPy shuffling.
    n_threads : int
        ``torch.set_num_threads``.
    verbose : bool
        Print one line per epoch.
    """

    def __init__(self, *, variational=True, p_dims=None, lam=None, lr=1e-3, batch_size=500, n_epochs=200,
                 total_anneal_steps=200000, anneal_cap=0.2, keep_prob=0.5, random_seed=98765, n_threads=2,
                 verbose=False):
        self.variational = variational
        self.p_dims = list(p_dims) if p_dims is not None else ([200, 600] if variational else [200])
        self.lam = lam if lam is not None else (0.0 if variational else 0.01 / batch_size)
        self.lr = lr
        self.batch_size = batch_size
        self.n_epochs = n_epochs
        self.total_anneal_steps = total_anneal_steps
        self.anneal_cap = anneal_cap
        self.keep_prob = keep_prob
        self.random_seed = random_seed
        self.n_threads = n_threads
        self.verbose = verbose

    def get_params(self):
        return dict(variational=self.variational, p_dims=self.p_dims, lam=self.lam, lr=self.lr,
                    batch_size=self.batch_size, n_epochs=self.n_epochs, total_anneal_steps=self.total_anneal_steps,
                    anneal_cap=self.anneal_cap, keep_prob=self.keep_prob, random_seed=self.random_seed,
                    n_threads=self.n_threads, adam="TF1 (lr 1e-3, b1 0.9, b2 0.999, eps 1e-8)")

    # ---- network -------------------------------------------------------------------------------

    def _init_weights(self, n_items):
        torch = self._t
        p_dims = self.p_dims + [n_items]
        q_dims = p_dims[::-1]
        if self.variational:
            # q: [I, 600, 200] with the last layer doubled; p: [200, 600, I]
            q_shapes = [(a, 2 * b if i == len(q_dims) - 2 else b)
                        for i, (a, b) in enumerate(zip(q_dims[:-1], q_dims[1:]))]
            p_shapes = list(zip(p_dims[:-1], p_dims[1:]))
            shapes = q_shapes + p_shapes
            self.n_q_ = len(q_shapes)
        else:
            dims = q_dims + p_dims[1:]  # the notebook's MultiDAE: [I, 200, I]
            shapes = list(zip(dims[:-1], dims[1:]))
            self.n_q_ = 0
        self.weights_, self.biases_ = [], []
        for d_in, d_out in shapes:
            limit = math.sqrt(6.0 / (d_in + d_out))  # xavier_initializer (uniform)
            W = torch.empty(d_in, d_out, dtype=torch.float32).uniform_(-limit, limit)
            b = torch.empty(d_out, dtype=torch.float32)
            torch.nn.init.trunc_normal_(b, mean=0.0, std=0.001, a=-0.002, b=0.002)
            self.weights_.append(W.requires_grad_())
            self.biases_.append(b.requires_grad_())
        self.q_dim_ = self.p_dims[0]

    def _forward(self, x, *, training):
        """Logits and KL (None for the DAE) of the dense batch ``x``."""
        torch, F = self._t, self._t.nn.functional
        h = F.normalize(x, p=2.0, dim=1, eps=1e-6)  # tf.nn.l2_normalize: x / sqrt(max(sum x^2, 1e-12))
        if training:
            h = F.dropout(h, p=1.0 - self.keep_prob, training=True)  # tf.nn.dropout(keep_prob)
        kl = None
        if self.variational:
            for i in range(self.n_q_):
                h = h @ self.weights_[i] + self.biases_[i]
                if i != self.n_q_ - 1:
                    h = torch.tanh(h)
            mu, logvar = h[:, :self.q_dim_], h[:, self.q_dim_:]
            std = torch.exp(0.5 * logvar)
            kl = torch.mean(torch.sum(0.5 * (-logvar + torch.exp(logvar) + mu ** 2 - 1), dim=1))
            h = mu + torch.randn_like(std) * std if training else mu
            p_w, p_b = self.weights_[self.n_q_:], self.biases_[self.n_q_:]
        else:
            p_w, p_b = self.weights_, self.biases_
        for i, (W, b) in enumerate(zip(p_w, p_b)):
            h = h @ W + b
            if i != len(p_w) - 1:
                h = torch.tanh(h)
        return h, kl

    def _adam_step(self, params, grads):
        """tf.train.AdamOptimizer (TF1) on dense gradients."""
        torch = self._t
        self._t_step += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        lr_t = self.lr * math.sqrt(1 - b2 ** self._t_step) / (1 - b1 ** self._t_step)
        with torch.no_grad():
            for p, g, m, v in zip(params, grads, self._m, self._v):
                m.mul_(b1).add_(g, alpha=1 - b1)
                v.mul_(b2).addcmul_(g, g, value=1 - b2)
                p.addcdiv_(m, v.sqrt().add_(eps), value=-lr_t)

    # ---- training ------------------------------------------------------------------------------

    def fit(self, train, X_val=None, y_val=None):
        """Train on the users x items CSR ``train``; with (X_val, y_val) keep the best epoch by NDCG@100."""
        torch = self._t = _torch()
        torch.set_num_threads(int(self.n_threads))
        torch.manual_seed(self.random_seed)
        np.random.seed(self.random_seed)
        train = sp.csr_matrix(train, dtype=np.float32)
        N, n_items = train.shape
        self._init_weights(n_items)
        params = self.weights_ + self.biases_
        self._m = [torch.zeros_like(p) for p in params]
        self._v = [torch.zeros_like(p) for p in params]
        self._t_step = 0
        idxlist = np.arange(N)
        update_count = 0
        self.loss_curve_, self.validation_scores_, self.epoch_seconds_, self.val_seconds_ = [], [], [], []
        self.best_epoch_, best_ndcg, best_state = None, -np.inf, None
        for epoch in range(int(self.n_epochs)):
            t0 = time.perf_counter()
            np.random.shuffle(idxlist)
            total = 0.0
            for st_idx in range(0, N, self.batch_size):
                end_idx = min(st_idx + self.batch_size, N)
                X = train[idxlist[st_idx:end_idx]]
                X = torch.from_numpy(X.toarray().astype("float32"))
                if self.total_anneal_steps > 0:
                    anneal = min(self.anneal_cap, 1.0 * update_count / self.total_anneal_steps)
                else:
                    anneal = self.anneal_cap
                logits, kl = self._forward(X, training=True)
                log_softmax_var = torch.log_softmax(logits, dim=1)
                neg_ll = -torch.mean(torch.sum(log_softmax_var * X, dim=1))
                reg_var = self.lam * sum(torch.sum(W * W) / 2 for W in self.weights_) if self.lam else 0.0
                loss = neg_ll + 2 * reg_var
                if self.variational:
                    loss = loss + anneal * kl
                grads = torch.autograd.grad(loss, params)
                self._adam_step(params, grads)
                update_count += 1
                total += float(loss.detach()) * (end_idx - st_idx)
            self.epoch_seconds_.append(time.perf_counter() - t0)
            self.loss_curve_.append(total / N)
            self.n_iter_ = epoch + 1
            msg = (f"  [torch {'VAE' if self.variational else 'DAE'}] epoch {epoch + 1:3d} "
                   f"loss {self.loss_curve_[-1]:.3f}")
            if X_val is not None:
                t1 = time.perf_counter()
                scores = self.predict(X_val)
                X_val_csr = sp.csr_matrix(X_val)
                scores[X_val_csr.nonzero()] = -np.inf
                ndcg = float(np.nanmean(ndcg_binary_at_k_batch(scores, y_val, 100)))
                self.val_seconds_.append(time.perf_counter() - t1)
                self.validation_scores_.append(ndcg)
                msg += f" val NDCG@100 {ndcg:.4f}"
                if ndcg > best_ndcg:
                    best_ndcg, self.best_epoch_ = ndcg, epoch
                    best_state = [p.detach().clone() for p in params]
            if self.verbose:
                print(msg, f"({self.epoch_seconds_[-1]:.2f} s)", flush=True)
        self.n_updates_ = update_count
        if not self.variational:
            self.beta_ = 0.0
        elif self.total_anneal_steps > 0:
            self.beta_ = min(self.anneal_cap, (update_count - 1) / self.total_anneal_steps) if update_count else 0.0
        else:
            self.beta_ = self.anneal_cap
        if best_state is not None:
            with torch.no_grad():
                for p, s in zip(params, best_state):
                    p.copy_(s)
        return self

    # ---- inference -----------------------------------------------------------------------------

    def predict(self, X, batch_size=2000):
        """Logits (n_users, n_items) as float32 NumPy (eval mode: no dropout, z = mu)."""
        torch = self._t
        X = sp.csr_matrix(X, dtype=np.float32)
        out = np.empty(X.shape, dtype=np.float32)
        with torch.no_grad():
            for st in range(0, X.shape[0], batch_size):
                xb = torch.from_numpy(X[st:st + batch_size].toarray())
                out[st:st + batch_size] = self._forward(xb, training=False)[0].numpy()
        return out

    def recommend(self, X, k=100):
        """Top-k item ids per row, fold-in items excluded (set to -inf), best first."""
        scores = self.predict(X)
        scores[sp.csr_matrix(X).nonzero()] = -np.inf
        part = np.argpartition(-scores, k, axis=1)[:, :k]
        top = np.take_along_axis(scores, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        return np.take_along_axis(part, order, axis=1)
