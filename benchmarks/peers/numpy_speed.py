"""The no-native-code baseline: I-AutoRec and the deep autoencoder written the straightforward way in
NumPy (dense batches, a 0/1 mask on the squared error, dense GEMMs through NumPy's BLAS), with the
same maths and default hyperparameters as aerec's ``AutoRec()`` and ``DeepAutoencoder()``, so an
epoch does the same useful work. Timed beside aerec and the PyTorch peers in ``benchmarks/``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _act(name, z):
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return np.tanh(z)
    if name == "selu":
        a, s = 1.6732632423543772, 1.0507009873554805
        return s * np.where(z > 0, z, a * np.expm1(np.minimum(z, 0)))
    return z


def _act_grad(name, z, y):
    if name == "sigmoid":
        return y * (1 - y)
    if name == "tanh":
        return 1 - y * y
    if name == "selu":
        a, s = 1.6732632423543772, 1.0507009873554805
        return np.where(z > 0, s, y + s * a)
    return np.ones_like(z)


class DenseAutoencoder:
    """A dense MLP autoencoder ``dims[0] → … → dims[-1]`` in NumPy float32.

    ``code`` is the index of the layer whose output gets dropout; hidden layers use ``activation``,
    the output ``output_activation``. ``step(R, M)`` takes a dense batch and its 0/1 mask (None:
    every entry is a target, as in dense re-feeding), does forward, backward and the optimiser
    update, and returns (loss, dense output)."""

    def __init__(self, dims, activation, output_activation="identity", code=0, dropout=0.0, optimizer="adam",
                 lr=1e-3, decay=0.0, momentum=0.9, seed=0):
        rng = np.random.default_rng(seed)
        self.W, self.b = [], []
        for a, b in zip(dims[:-1], dims[1:]):
            lim = np.sqrt(6.0 / (a + b))
            self.W.append(rng.uniform(-lim, lim, (a, b)).astype(np.float32))
            self.b.append(np.zeros(b, np.float32))
        self.params = self.W + self.b
        self.act, self.out_act, self.code, self.p = activation, output_activation, code, float(dropout)
        self.optimizer, self.lr, self.decay, self.momentum = optimizer, lr, float(decay), momentum
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0
        self.rng = rng

    def step(self, R, M=None):
        L = len(self.W)
        xs, zs, ys, masks = [], [], [], {}
        h = R
        for i in range(L):
            xs.append(h)
            z = h @ self.W[i] + self.b[i]
            y = _act(self.out_act if i == L - 1 else self.act, z)
            zs.append(z)
            ys.append(y)
            if i == self.code and self.p:
                keep = (self.rng.random(y.shape, dtype=np.float32) >= self.p).astype(np.float32) / (1 - self.p)
                masks[i] = keep
                y = y * keep
            h = y
        out = h
        err = out - R if M is None else (out - R) * M
        n_obs = err.size if M is None else max(float(M.sum()), 1.0)
        loss = float((err * err).sum() / n_obs)
        d = 2.0 * err / n_obs
        grads_W, grads_b = [None] * L, [None] * L
        for i in range(L - 1, -1, -1):
            if i in masks:
                d = d * masks[i]
            d = d * _act_grad(self.out_act if i == L - 1 else self.act, zs[i], ys[i])
            grads_W[i] = xs[i].T @ d + self.decay * self.W[i]
            grads_b[i] = d.sum(axis=0)
            if i:
                d = d @ self.W[i].T
        self._update(grads_W + grads_b)
        return loss, out

    def _update(self, grads):
        self.t += 1
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            if self.optimizer == "sgd":
                m *= self.momentum
                m += g
                p -= self.lr * m
            else:
                m *= 0.9
                m += 0.1 * g
                v *= 0.999
                v += 0.001 * g * g
                mh = m / (1 - 0.9 ** self.t)
                vh = v / (1 - 0.999 ** self.t)
                p -= self.lr * mh / (np.sqrt(vh) + 1e-8)


def make_autorec(n_inputs, n_ratings, h=500, l2=200.0, dropout=0.2, lr=1e-3, seed=0):
    """step(S_csr_batch) for I-AutoRec with ``AutoRec()``'s defaults: sigmoid hidden 500, identity
    output, dropout 0.2 on the code, Adam 1e-3, penalty l2/(2N)·‖W‖² (N training ratings)."""
    net = DenseAutoencoder([n_inputs, h, n_inputs], "sigmoid", "identity", code=0, dropout=dropout,
                           optimizer="adam", lr=lr, decay=float(l2) / float(n_ratings), seed=seed)

    def step(S):
        R = sp.csr_array(S, dtype=np.float32).toarray()
        return net.step(R, (R != 0).astype(np.float32))[0]

    return net, step


def make_deep_ae(n_items, hidden=(512, 256), activation="tanh", dropout=0.5, refeed=1, lr=0.06, momentum=0.9,
                 l2=3e-4, seed=0):
    """step(X_csr_batch) for ``DeepAutoencoder()``'s defaults: [n, 512, 256] encoder mirrored, tanh,
    identity output, dropout 0.5 on the code, SGD with momentum, then ``refeed`` dense steps on the
    dense output as input and target."""
    dims = [n_items, *hidden, *hidden[-2::-1], n_items]
    net = DenseAutoencoder(dims, activation, "identity", code=len(hidden) - 1, dropout=dropout, optimizer="sgd",
                           lr=lr, decay=l2, momentum=momentum, seed=seed)

    def step(X):
        R = sp.csr_array(X, dtype=np.float32).toarray()
        loss, out = net.step(R, (R != 0).astype(np.float32))
        for _ in range(refeed):
            _, out = net.step(np.ascontiguousarray(out, dtype=np.float32))
        return loss

    return net, step
