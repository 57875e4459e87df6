"""Trainable parameters and their initialisation.

A model's forward and backward passes are its own step function (they exploit structure a generic
layer stack would hide: row-compact gradients of the sparse layers, dropout fused into the sparse
encoder, tied weights, GEMMs writing straight into gradient buffers); what they share is here: the
``Parameter`` the optimisers step and the trainer checkpoints. Conventions: dense weights are
(n_in, n_out) so ``Z = X·W + b``; the sparse encoder's W is (n_items, h); the masked decoder's V is
item-major (n_items, h).
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
