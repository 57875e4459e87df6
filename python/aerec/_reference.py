"""Float64 NumPy oracles for every native kernel: ``ref_<name>`` has the meaning of
``aerec.kernels.<name>``, written to be read rather than to be fast (dense, obvious code).

Tests compare the native kernels to these across dtypes, index types, thread counts and CPU
variants; the gradient checks compare the native backward passes to central differences of the
native forward passes. Sparse arguments are scipy CSR matrices; everything is computed in float64.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# ---- counter-based random numbers (random.h) ---------------------------------------------------

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)


def ref_philox(seed, step, rows, cols):
    """Philox4x32-10 with key (seed lo, seed hi) and counter (col, row, step lo, step hi).

    rows, cols: broadcastable integer arrays. Returns the four 32-bit output lanes as uint64 arrays.
    """
    rows, cols = np.broadcast_arrays(np.asarray(rows, dtype=np.uint64), np.asarray(cols, dtype=np.uint64))
    c0 = cols & _MASK32
    c1 = rows & _MASK32
    c2 = np.full_like(c0, np.uint64(step) & _MASK32)
    c3 = np.full_like(c0, np.uint64(step) >> np.uint64(32))
    k0, k1 = np.uint64(seed) & _MASK32, np.uint64(seed) >> np.uint64(32)
    for r in range(10):
        if r > 0:
            k0, k1 = (k0 + _W0) & _MASK32, (k1 + _W1) & _MASK32
        p0, p1 = _M0 * c0, _M1 * c2  # 32×32 → 64-bit products, exact in uint64
        hi0, lo0 = p0 >> np.uint64(32), p0 & _MASK32
        hi1, lo1 = p1 >> np.uint64(32), p1 & _MASK32
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


def ref_uniform24(x):
    return (x >> np.uint64(8)).astype(np.float64) / 16777216.0


def ref_dropout_mask(seed, step, rows, cols, rate):
    """Keep mask of inverted dropout: u24(seed, step, row, col) >= rate."""
    return ref_uniform24(ref_philox(seed, step, rows, cols)[0]) >= rate


def ref_random_uniform(shape, *, seed, step=0, row_offset=0):
    n_rows, n_cols = shape
    r, c = np.meshgrid(np.arange(n_rows) + row_offset, np.arange(n_cols), indexing="ij")
    return ref_uniform24(ref_philox(seed, step, r, c)[0])


def ref_random_normal(shape, *, seed, step=0, row_offset=0):
    n_rows, n_cols = shape
    r, c = np.meshgrid(np.arange(n_rows) + row_offset, np.arange(n_cols), indexing="ij")
    x0, x1, _, _ = ref_philox(seed, step, r, c)
    u1 = (x0.astype(np.float64) + 0.5) / 4294967296.0
    u2 = (x1.astype(np.float64) + 0.5) / 4294967296.0
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


# ---- sparse_encoder ----------------------------------------------------------------------------


def _dropped_input(X, row_scale, dropout, seed, step, row_offset):
    """D·drop(X) as a dense float64 matrix."""
    A = X.toarray().astype(np.float64)
    if row_scale is not None:
        A *= np.asarray(row_scale, dtype=np.float64)[:, None]
    if dropout > 0:
        r, c = np.meshgrid(np.arange(A.shape[0]) + row_offset, np.arange(A.shape[1]), indexing="ij")
        A = np.where(ref_dropout_mask(seed, step, r, c, dropout), A / (1.0 - dropout), 0.0)
    return A


def ref_sparse_encoder_forward(X, W, b=None, *, row_scale=None, dropout=0.0, seed=0, step=0, row_offset=0):
    Z = _dropped_input(X, row_scale, dropout, seed, step, row_offset) @ np.asarray(W, dtype=np.float64)
    return Z if b is None else Z + np.asarray(b, dtype=np.float64)


def ref_sparse_encoder_backward(X, dZ, *, row_scale=None, dropout=0.0, seed=0, step=0, row_offset=0):
    """(items, dW[items], db) with dW = (D·drop(X))ᵀ·dZ."""
    A = _dropped_input(X, row_scale, dropout, seed, step, row_offset)
    dZ = np.asarray(dZ, dtype=np.float64)
    items = np.unique(sp.csr_matrix(X).indices).astype(np.int64)
    return items, (A.T @ dZ)[items], dZ.sum(axis=0)


# ---- masked_decoder ----------------------------------------------------------------------------


def ref_masked_decoder_forward(mask, H, V, c=None):
    full = np.asarray(H, dtype=np.float64) @ np.asarray(V, dtype=np.float64).T
    if c is not None:
        full = full + np.asarray(c, dtype=np.float64)
    rows, cols = _csr_coords(mask)
    return full[rows, cols]


def ref_masked_decoder_backward(mask, H, V, d_out):
    """(dH, items, dV[items], dc[items]) for out = (H·Vᵀ + c) at the mask's entries."""
    rows, cols = _csr_coords(mask)
    G = np.zeros((mask.shape[0], mask.shape[1]))
    G[rows, cols] = np.asarray(d_out, dtype=np.float64)
    items = np.unique(cols).astype(np.int64)
    dV = G.T @ np.asarray(H, dtype=np.float64)
    return G @ np.asarray(V, dtype=np.float64), items, dV[items], G.sum(axis=0)[items]


def _csr_coords(A):
    A = sp.csr_matrix(A)
    rows = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    return rows, A.indices.astype(np.int64)


# ---- losses ------------------------------------------------------------------------------------


def ref_masked_mse(pred, target, *, scale=1.0):
    d = np.asarray(pred, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    return scale * float(np.sum(d * d)), 2.0 * scale * d


def ref_log_softmax(S):
    S = S - S.max(axis=1, keepdims=True)
    return S - np.log(np.exp(S).sum(axis=1, keepdims=True))


def ref_multinomial_loss_grad(logits, X, c=None, *, scale=1.0):
    """(loss, dlogits) for loss = −scale·Σ X ∘ log_softmax(logits + c)."""
    S = np.asarray(logits, dtype=np.float64)
    if c is not None:
        S = S + np.asarray(c, dtype=np.float64)
    Xd = X.toarray().astype(np.float64)
    logp = ref_log_softmax(S)
    loss = -scale * float(np.sum(Xd * logp))
    grad = scale * (np.exp(logp) * Xd.sum(axis=1, keepdims=True) - Xd)
    return loss, grad


def ref_gaussian_kl(mu, logvar, *, scale=1.0):
    mu, logvar = np.asarray(mu, dtype=np.float64), np.asarray(logvar, dtype=np.float64)
    loss = scale * float(np.sum(0.5 * (-logvar + np.exp(logvar) + mu**2 - 1.0)))
    return loss, scale * mu, scale * 0.5 * (np.exp(logvar) - 1.0)


# ---- activations: activation functions and dropout ---------------------------------------------

SELU_LAMBDA = 1.0507009873554804934193349852946
SELU_ALPHA = 1.6732632423543772848170429916717


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, overflow-free


def ref_activation_forward(name, Z, *, alpha=None):
    z = np.asarray(Z, dtype=np.float64)
    a = {"elu": 1.0, "leaky_relu": 0.01}.get(name, 0.0) if alpha is None else alpha
    if name == "identity":
        return z.copy()
    if name == "sigmoid":
        return _sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "elu":
        return np.where(z > 0, z, a * np.expm1(np.minimum(z, 0.0)))
    if name == "selu":
        return SELU_LAMBDA * np.where(z > 0, z, SELU_ALPHA * np.expm1(np.minimum(z, 0.0)))
    if name == "leaky_relu":
        return np.where(z > 0, z, a * z)
    if name == "swish":
        return z * _sigmoid(z)
    raise ValueError(name)


def ref_activation_backward(name, Z, Y, dY, *, alpha=None):
    """dZ = f'(Z)·dY, computed from Z alone (Y is accepted for symmetry with the kernel)."""
    z = np.asarray(Z, dtype=np.float64)
    a = {"elu": 1.0, "leaky_relu": 0.01}.get(name, 0.0) if alpha is None else alpha
    s = _sigmoid(z)
    deriv = {
        "identity": lambda: np.ones_like(z),
        "sigmoid": lambda: s * (1 - s),
        "tanh": lambda: 1 - np.tanh(z) ** 2,
        "relu": lambda: (z > 0).astype(np.float64),
        "elu": lambda: np.where(z > 0, 1.0, a * np.exp(np.minimum(z, 0.0))),
        "selu": lambda: SELU_LAMBDA * np.where(z > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(z, 0.0))),
        "leaky_relu": lambda: np.where(z > 0, 1.0, a),
        "swish": lambda: s + z * s * (1 - s),
    }[name]()
    return deriv * np.asarray(dY, dtype=np.float64)


def ref_dropout(X, rate, *, seed=0, step=0, row_offset=0):
    X = np.asarray(X, dtype=np.float64)
    if rate == 0:
        return X.copy()
    r, c = np.meshgrid(np.arange(X.shape[0]) + row_offset, np.arange(X.shape[1]), indexing="ij")
    return np.where(ref_dropout_mask(seed, step, r, c, rate), X / (1.0 - rate), 0.0)


# ---- optim: optimisers (return the new state instead of updating in place) ------------------------


def ref_sgd_step(param, grad, velocity=None, *, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    p, g = np.asarray(param, dtype=np.float64), np.asarray(grad, dtype=np.float64)
    g = g + weight_decay * p
    v = None
    if velocity is not None:
        v = momentum * np.asarray(velocity, dtype=np.float64) + g
        g = g + momentum * v if nesterov else v
    return p - lr * g, v


def ref_sgd_step_rows(param, rows, grad_rows, velocity=None, *, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """``ref_sgd_step`` with the dense gradient that is ``grad_rows`` at ``rows`` and zero elsewhere."""
    grad = np.zeros(np.shape(param))
    grad[np.asarray(rows, dtype=np.int64)] = grad_rows
    return ref_sgd_step(param, grad, velocity, lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)


def ref_adam_step(param, grad, m, v, *, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                  decoupled=False):
    p, g = np.asarray(param, dtype=np.float64), np.asarray(grad, dtype=np.float64)
    if decoupled:
        p = p * (1.0 - lr * weight_decay)
    else:
        g = g + weight_decay * p
    m = beta1 * np.asarray(m, dtype=np.float64) + (1 - beta1) * g
    v = beta2 * np.asarray(v, dtype=np.float64) + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def ref_rprop_step(param, grad, prev_grad, step_size, *, eta_minus=0.5, eta_plus=1.2, step_min=1e-6, step_max=50.0):
    p, g = np.asarray(param, dtype=np.float64), np.asarray(grad, dtype=np.float64).copy()
    s = g * np.asarray(prev_grad, dtype=np.float64)
    st = np.asarray(step_size, dtype=np.float64)
    st = np.where(s > 0, np.minimum(st * eta_plus, step_max), np.where(s < 0, np.maximum(st * eta_minus, step_min), st))
    g[s < 0] = 0.0
    return p - np.sign(g) * st, g, st


# ---- topk --------------------------------------------------------------------------------------


def ref_topk(scores, k, *, exclude=None, candidates=None):
    """Full sort per row: key (−score, index); excluded, non-candidate and NaN items dropped."""
    scores = np.asarray(scores, dtype=np.float64)
    n_rows, n_items = scores.shape
    idx = np.full((n_rows, k), -1, dtype=np.int64)
    val = np.full((n_rows, k), -np.inf)
    allowed = np.ones(n_items, dtype=bool)
    if candidates is not None:
        allowed[:] = False
        allowed[np.asarray(candidates, dtype=np.int64)] = True
    for r in range(n_rows):
        ok = allowed & ~np.isnan(scores[r])
        if exclude is not None:
            ok[sp.csr_matrix(exclude)[r].indices] = False
        items = np.flatnonzero(ok)
        order = np.lexsort((items, -scores[r, items]))[:k]
        idx[r, : order.size] = items[order]
        val[r, : order.size] = scores[r, items[order]]
    return idx, val


# ---- gram: sparse Gram -----------------------------------------------------------------------------


def ref_sparse_gram(X):
    A = X.toarray().astype(np.float64)
    return A.T @ A


# ---- gemm_bf16: bfloat16 scoring GEMM ----------------------------------------------------------------


def ref_bf16_round(A):
    """float32 → the nearest bfloat16 (ties to even), returned as float32; NaN stays NaN."""
    A = np.ascontiguousarray(A, dtype=np.float32)
    u = A.view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)
    return np.where(np.isnan(A), np.float32(np.nan), rounded)


def ref_gemm_bf16(A, B, bias=None):
    """bf16(A)·bf16(B) + bias in float64 (the native kernel accumulates the exact products in float32)."""
    out = ref_bf16_round(A).astype(np.float64) @ ref_bf16_round(B).astype(np.float64)
    return out if bias is None else out + np.asarray(bias, dtype=np.float64)


# ---- screened_topk: exact top-k screened in bfloat16 -------------------------------------------------


def ref_screened_topk(A, B, k, bias=None, *, exclude=None, candidates=None):
    """What the screening must reproduce: the top-k of A·B + bias computed in float64 (no screen)."""
    scores = np.asarray(A, dtype=np.float64) @ np.asarray(B, dtype=np.float64)
    if bias is not None:
        scores = scores + np.asarray(bias, dtype=np.float64)
    return ref_topk(scores, k, exclude=exclude, candidates=candidates)


# ---- gemm_f32: the float32 training GEMM ------------------------------------------------------------


def ref_gemm_f32(A, B, C=None):
    """A·B (+ C) in float64 from the float32 operands: the exact product up to float64 rounding."""
    out = np.asarray(A, dtype=np.float64) @ np.asarray(B, dtype=np.float64)
    return out if C is None else out + np.asarray(C, dtype=np.float64)


def ref_gemm_f32_bound(A, B, C=None):
    """The elementwise error bound of a float32 GEMM with any summation order: γ_{K+1}·(|A|·|B| + |C|),
    γ_n = n·u/(1 − n·u), u = 2⁻²⁴ (K products and K − 1 additions, plus C's)."""
    n = A.shape[1] + 1
    u = 2.0**-24
    mag = np.abs(np.asarray(A, dtype=np.float64)) @ np.abs(np.asarray(B, dtype=np.float64))
    if C is not None:
        mag = mag + np.abs(np.asarray(C, dtype=np.float64))
    return n * u / (1 - n * u) * mag
