"""Layers with explicit forward and backward passes over a backend.

Each layer owns ``Parameter`` objects (value, gradient, whether weight decay applies) and caches
what its backward pass needs. Conventions: dense weights are (n_in, n_out) so ``Z = X·W + b``; the
sparse encoder's W is (n_items, h); the masked decoder's V is item-major (n_items, h).
"""

from __future__ import annotations

import numpy as np

from .backend import array_namespace


class Parameter:
    """A trainable array, its gradient, and whether L2/weight decay applies to it.

    The gradient is either dense (``grad``) or row-compact: ``rows`` (sorted unique row indices)
    with ``grad_rows`` (len(rows), n_cols) and zero elsewhere — what the sparse encoder produces.
    Optimisers that can use the compact form do (Adam); ``dense_grad()`` gives the dense one."""

    __slots__ = ("name", "value", "grad", "decay", "rows", "grad_rows")

    def __init__(self, name, value, decay=True):
        self.name, self.value, self.decay = name, value, decay
        self.grad = array_namespace(value).zeros_like(value)  # on the value's device
        self.rows = self.grad_rows = None

    def set_row_grad(self, rows, grad_rows):
        self.rows, self.grad_rows = rows, grad_rows

    def set_dense_grad(self):
        self.rows = self.grad_rows = None
        return self.grad

    def dense_grad(self):
        """The gradient as a dense array (materialised from the compact rows if needed)."""
        if self.rows is not None:
            self.grad.fill(0)
            self.grad[self.rows] = self.grad_rows
        return self.grad

    def __repr__(self):
        return f"Parameter({self.name!r}, shape={self.value.shape}, dtype={self.value.dtype})"


def xavier_uniform(rng, n_in, n_out, dtype):
    """Glorot & Bengio (2010) uniform init, as the Mult-VAE reference uses."""
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, size=(n_in, n_out)).astype(dtype)


def _init(init, rng, n_in, n_out, dtype):
    if init == "xavier":
        return xavier_uniform(rng, n_in, n_out, dtype)
    if init == "lecun":  # SELU's self-normalising init
        return (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
    if init == "normal":
        return (0.01 * rng.standard_normal((n_in, n_out))).astype(dtype)
    raise ValueError(f"unknown init {init!r}")


class Layer:
    def parameters(self):
        return []


class SparseEncoder(Layer):
    """First layer, ``Z = D·drop(X)·W + b`` on a CSR batch (nnz·h work, not rows·items·h)."""

    def __init__(self, backend, n_items, n_out, *, dtype, rng, init="xavier", dropout=0.0, name="enc"):
        self.backend, self.dropout = backend, float(dropout)
        self.W = Parameter(f"{name}.W", _init(init, rng, n_items, n_out, dtype))
        self.b = Parameter(f"{name}.b", np.zeros(n_out, dtype=dtype), decay=False)

    def parameters(self):
        return [self.W, self.b]

    def forward(self, X, *, row_scale=None, train=False, seed=0, step=0, row_offset=0):
        self._cache = (X, row_scale, self.dropout if train else 0.0, seed, step, row_offset)
        return self.backend.sparse_encoder_forward(X, self.W.value, self.b.value, row_scale=row_scale,
                                                   dropout=self._cache[2], seed=seed, step=step,
                                                   row_offset=row_offset)

    def backward(self, dZ):
        X, row_scale, rate, seed, step, row_offset = self._cache
        items, dW, db = self.backend.sparse_encoder_backward(X, dZ, row_scale=row_scale, dropout=rate, seed=seed,
                                                             step=step, row_offset=row_offset)
        self.W.set_row_grad(items, dW)  # rows of items absent from the batch have zero gradient
        self.b.grad[...] = db
        return None


class Dense(Layer):
    """``Z = X·W + b`` through BLAS."""

    def __init__(self, backend, n_in, n_out, *, dtype, rng, init="xavier", name="dense"):
        self.backend = backend
        self.W = Parameter(f"{name}.W", _init(init, rng, n_in, n_out, dtype))
        self.b = Parameter(f"{name}.b", np.zeros(n_out, dtype=dtype), decay=False)

    def parameters(self):
        return [self.W, self.b]

    def forward(self, X, **_):
        self._X = X
        Z = self.backend.matmul(X, self.W.value)
        Z += self.b.value
        return Z

    def backward(self, dZ):
        self.backend.matmul(self._X.T, dZ, out=self.W.grad)
        self.b.grad[...] = dZ.sum(axis=0)
        return self.backend.matmul(dZ, self.W.value.T)


class Activation(Layer):
    def __init__(self, backend, name, alpha=None):
        self.backend, self.name, self.alpha = backend, name, alpha

    def forward(self, Z, **_):
        self._Z = Z
        self._Y = self.backend.activation_forward(self.name, Z, alpha=self.alpha)
        return self._Y

    def backward(self, dY):
        return self.backend.activation_backward(self.name, self._Z, self._Y, dY, alpha=self.alpha)


class Dropout(Layer):
    """Inverted dropout on a dense block, keyed by (seed, step, row, column); identity at inference."""

    def __init__(self, backend, rate):
        self.backend, self.rate = backend, float(rate)

    def forward(self, X, *, train=False, seed=0, step=0, row_offset=0, **_):
        self._key = (seed, step, row_offset) if (train and self.rate > 0) else None
        if self._key is None:
            return X
        return self.backend.dropout(X, self.rate, seed=seed, step=step, row_offset=row_offset)

    def backward(self, dY):
        if self._key is None:
            return dY
        seed, step, row_offset = self._key
        return self.backend.dropout(dY, self.rate, seed=seed, step=step, row_offset=row_offset)


class MaskedDecoder(Layer):
    """Output layer evaluated only at a CSR mask's entries: ``out_k = H[r]·V[j] + c[j]``."""

    def __init__(self, backend, n_in, n_items, *, dtype, rng, init="xavier", name="dec"):
        self.backend = backend
        self.V = Parameter(f"{name}.V", _init(init, rng, n_items, n_in, dtype))
        self.c = Parameter(f"{name}.c", np.zeros(n_items, dtype=dtype), decay=False)

    def parameters(self):
        return [self.V, self.c]

    def forward(self, H, *, mask, **_):
        self._H, self._mask = H, mask
        return self.backend.masked_decoder_forward(mask, H, self.V.value, self.c.value)

    def backward(self, d_out):
        dH, items, dV, dc = self.backend.masked_decoder_backward(self._mask, self._H, self.V.value, d_out)
        self.V.grad.fill(0)
        self.V.grad[items] = dV
        self.c.grad.fill(0)
        self.c.grad[items] = dc
        return dH

    def dense(self, H):
        """The full reconstruction H·Vᵀ + c (dense re-feeding, prediction)."""
        out = self.backend.matmul(H, self.V.value.T)
        out += self.c.value
        return out


class Sequential(Layer):
    """Layers applied in order; keyword arguments reach every layer's forward."""

    def __init__(self, layers):
        self.layers = list(layers)

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def forward(self, x, **kw):
        for layer in self.layers:
            x = layer.forward(x, **kw)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy
