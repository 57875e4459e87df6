"""The native kernels, validated: the functions the training engine and the estimators call.

Every function checks its arguments (dtype, shape, C order, CSR structure, ranges) and raises a
``TypeError``/``ValueError`` naming the argument before native code runs; none converts an array
silently. Each has a float64 NumPy oracle ``aerec._reference.ref_<name>`` with the same meaning.

Conventions: dense arrays are C-contiguous float32 or float64 and all arrays of one call share that
dtype; sparse inputs are canonical ``scipy.sparse`` CSR (sorted, unique indices) with int32 or
int64 indices; ``n_threads=None`` uses every usable core (see ``aerec._threads``). Results are
bit-identical for any ``n_threads``. Random draws (dropout, uniform, normal) are a pure function of
``(seed, step, row_offset + row, column)`` — Philox4x32-10 — so they do not depend on threads,
batching order or device.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

from . import _native
from ._threads import effective_n_threads
from ._validation import check_csr, check_dense, check_float_dtype, check_scalar, check_seed

__all__ = [
    "ACTIVATIONS",
    "sparse_encoder_forward",
    "sparse_encoder_backward",
    "masked_decoder_forward",
    "masked_decoder_backward",
    "masked_mse",
    "multinomial_loss_grad",
    "gaussian_kl",
    "activation_forward",
    "activation_backward",
    "dropout",
    "random_uniform",
    "random_normal",
    "sgd_step",
    "adam_step",
    "adam_step_rows",
    "sgd_step_rows",
    "rprop_step",
    "topk",
    "sparse_gram",
    "amx_bf16_available",
    "bf16_round",
    "BF16Weights",
    "pack_bf16",
    "gemm_bf16",
    "screened_topk",
    "gemm_f32",
    "gemm_f32_native",
]

#: Inference helpers that run on the CPU only, never through a backend: bfloat16 scoring
#: (``recommend(precision='bfloat16')`` scores on the CPU, also for a GPU-fitted model) and the exact
#: top-k screened with it (float32 ``recommend`` of MultVAE/MultDAE fitted on the CPU, where AMX is).
#: The float32 GEMM is the CPU backend's ``matmul``; the CUDA backend multiplies with cuBLAS.
CPU_ONLY = ("amx_bf16_available", "bf16_round", "BF16Weights", "pack_bf16", "gemm_bf16", "screened_topk",
            "gemm_f32", "gemm_f32_native")

#: Activation names → codes shared with the C++ (elementwise.h), with each one's default alpha.
ACTIVATIONS = {
    "identity": (0, 0.0),
    "sigmoid": (1, 0.0),
    "tanh": (2, 0.0),
    "relu": (3, 0.0),
    "elu": (4, 1.0),
    "selu": (5, 0.0),
    "leaky_relu": (6, 0.01),
    "swish": (7, 0.0),
}


def _mod():
    return _native.cpu_module()


def _rate(rate, name):
    check_scalar(rate, name, low=0.0, high=1.0, high_inclusive=False)
    return float(rate)


def _opt(a, name, dtype, shape):
    return None if a is None else check_dense(a, name=name, dtype=dtype, ndim=len(shape), shape=shape)


def _activation(name, alpha):
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    code, default = ACTIVATIONS[name]
    return code, float(default if alpha is None else check_scalar(alpha, "alpha"))


# ---- sparse_encoder ----------------------------------------------------------------------------


def sparse_encoder_forward(X, W, b=None, *, row_scale=None, dropout=0.0, seed=0, step=0, row_offset=0,
                           n_threads=None):
    """``Z = D·drop(X)·W + b`` reading only X's nonzeros.

    X: CSR (n_rows, n_items); W: (n_items, h); b: (h,) or None; row_scale: D's diagonal (n_rows,) or
    None; dropout: inverted-dropout rate on X's stored entries, keyed by (seed, step, row_offset + r,
    item). Returns Z (n_rows, h).
    """
    W = check_dense(W, name="W", ndim=2)
    indptr, indices, data, n_rows, n_items = check_csr(X, n_cols=W.shape[0], dtype=W.dtype)
    h = W.shape[1]
    return _mod().sparse_encoder_forward(
        indptr, indices, data, n_items, W, _opt(b, "b", W.dtype, (h,)),
        _opt(row_scale, "row_scale", W.dtype, (n_rows,)),
        _rate(dropout, "dropout"), check_seed(seed), check_seed(step, "step"), int(row_offset),
        effective_n_threads(n_threads))


def sparse_encoder_backward(X, dZ, *, row_scale=None, dropout=0.0, seed=0, step=0, row_offset=0, n_threads=None):
    """Gradients of the sparse encoder given ``dZ`` (n_rows, h).

    Returns ``(items, dW_items, db)``: the ascending int64 ids of the items present in X, the rows of
    dW for those items only (len(items), h), and db (h,). The full dW is zero elsewhere.
    """
    dZ = check_dense(dZ, name="dZ", ndim=2)
    indptr, indices, data, n_rows, n_items = check_csr(X, dtype=dZ.dtype)
    if dZ.shape[0] != n_rows:
        raise ValueError(f"dZ has {dZ.shape[0]} rows but X has {n_rows}")
    return _mod().sparse_encoder_backward(
        indptr, indices, data, n_items, dZ, _opt(row_scale, "row_scale", dZ.dtype, (n_rows,)),
        _rate(dropout, "dropout"), check_seed(seed), check_seed(step, "step"), int(row_offset),
        effective_n_threads(n_threads))


# ---- masked_decoder ----------------------------------------------------------------------------


def masked_decoder_forward(mask, H, V, c=None, *, n_threads=None):
    """``out_k = H[r]·V[j] + c[j]`` at each stored entry k = (r, j) of the CSR ``mask``.

    H: (n_rows, h); V: (n_items, h) (item-major); c: (n_items,) or None. Returns (nnz,) in CSR order.
    """
    H = check_dense(H, name="H", ndim=2)
    V = check_dense(V, name="V", dtype=H.dtype, ndim=2, shape=(None, H.shape[1]))
    indptr, indices, _, n_rows, n_items = check_csr(mask, name="mask", n_cols=V.shape[0], pattern_only=True)
    if H.shape[0] != n_rows:
        raise ValueError(f"H has {H.shape[0]} rows but mask has {n_rows}")
    return _mod().masked_decoder_forward(indptr, indices, n_items, H, V, _opt(c, "c", H.dtype, (n_items,)),
                                         effective_n_threads(n_threads))


def masked_decoder_backward(mask, H, V, d_out, *, n_threads=None):
    """Gradients of the masked decoder given ``d_out`` (nnz,).

    Returns ``(dH, items, dV_items, dc_items)``: dH (n_rows, h), then the ascending ids of the items
    present in the mask with their rows of dV (len(items), h) and entries of dc (len(items),).
    """
    H = check_dense(H, name="H", ndim=2)
    V = check_dense(V, name="V", dtype=H.dtype, ndim=2, shape=(None, H.shape[1]))
    indptr, indices, _, n_rows, n_items = check_csr(mask, name="mask", n_cols=V.shape[0], pattern_only=True)
    if H.shape[0] != n_rows:
        raise ValueError(f"H has {H.shape[0]} rows but mask has {n_rows}")
    d_out = check_dense(d_out, name="d_out", dtype=H.dtype, ndim=1, shape=(indices.shape[0],))
    return _mod().masked_decoder_backward(indptr, indices, n_items, H, V, d_out, effective_n_threads(n_threads))


# ---- losses ------------------------------------------------------------------------------------


def masked_mse(pred, target, *, scale=1.0, n_threads=None):
    """``loss = scale·Σ(pred − target)²`` and its gradient ``2·scale·(pred − target)``."""
    pred = check_dense(pred, name="pred", ndim=1)
    target = check_dense(target, name="target", dtype=pred.dtype, ndim=1, shape=pred.shape)
    return _mod().masked_mse(pred, target, float(check_scalar(scale, "scale")), effective_n_threads(n_threads))


def multinomial_loss_grad(logits, X, c=None, *, scale=1.0, n_threads=None):
    """Multinomial negative log-likelihood with bias and log-softmax fused; gradient in place.

    ``loss = −scale·Σ_r Σ_j X_rj·log softmax(logits_r + c)_j`` is returned, and ``logits`` (n_rows,
    n_items), which must be writable, is overwritten with ``∂loss/∂logits``.
    """
    logits = check_dense(logits, name="logits", ndim=2, writeable=True)
    indptr, indices, data, n_rows, n_items = check_csr(X, n_cols=logits.shape[1], dtype=logits.dtype)
    if logits.shape[0] != n_rows:
        raise ValueError(f"logits has {logits.shape[0]} rows but X has {n_rows}")
    return _mod().multinomial_loss_grad(logits, _opt(c, "c", logits.dtype, (n_items,)), indptr, indices, data,
                                        float(check_scalar(scale, "scale")), effective_n_threads(n_threads))


def gaussian_kl(mu, logvar, *, scale=1.0, n_threads=None):
    """``scale·Σ ½(−logvar + e^logvar + mu² − 1)`` and its gradients ``(loss, dmu, dlogvar)``."""
    mu = check_dense(mu, name="mu", ndim=2)
    logvar = check_dense(logvar, name="logvar", dtype=mu.dtype, ndim=2, shape=mu.shape)
    return _mod().gaussian_kl(mu, logvar, float(check_scalar(scale, "scale")), effective_n_threads(n_threads))


# ---- activations: activation functions, dropout, random draws ------------------------------------


def activation_forward(name, Z, *, alpha=None, out=None, n_threads=None):
    """``Y = f(Z)`` for f in ``ACTIVATIONS`` (alpha: ELU's alpha / leaky ReLU's slope)."""
    code, alpha = _activation(name, alpha)
    Z = check_dense(Z, name="Z")
    return _mod().activation_forward(code, alpha, Z, out, effective_n_threads(n_threads))


def activation_backward(name, Z, Y, dY, *, alpha=None, out=None, n_threads=None):
    """``dZ = f'(Z)·dY`` given ``Y = f(Z)`` from the forward pass."""
    code, alpha = _activation(name, alpha)
    Z = check_dense(Z, name="Z")
    Y = check_dense(Y, name="Y", dtype=Z.dtype, shape=Z.shape)
    dY = check_dense(dY, name="dY", dtype=Z.dtype, shape=Z.shape)
    return _mod().activation_backward(code, alpha, Z, Y, dY, out, effective_n_threads(n_threads))


def dropout(X, rate, *, seed=0, step=0, row_offset=0, out=None, n_threads=None):
    """Inverted dropout on a dense (n_rows, n_cols) block; call again on dY for the backward pass."""
    X = check_dense(X, name="X", ndim=2)
    return _mod().dropout(X, _rate(rate, "rate"), check_seed(seed), check_seed(step, "step"), int(row_offset), out,
                          effective_n_threads(n_threads))


def _shape2(shape):
    if isinstance(shape, numbers.Integral):
        shape = (1, int(shape))
    n_rows, n_cols = (int(s) for s in shape)
    if n_rows < 0 or n_cols < 0:
        raise ValueError(f"shape must be non-negative, got {shape}")
    return n_rows, n_cols


def random_uniform(shape, *, seed, step=0, row_offset=0, dtype=np.float32, n_threads=None):
    """Uniform [0, 1) draws (24 random bits) of shape (n_rows, n_cols)."""
    n_rows, n_cols = _shape2(shape)
    return _mod().random_uniform(n_rows, n_cols, check_seed(seed), check_seed(step, "step"), int(row_offset),
                                 check_float_dtype(dtype).name, effective_n_threads(n_threads))


def random_normal(shape, *, seed, step=0, row_offset=0, dtype=np.float32, n_threads=None):
    """Standard normal draws (Box–Muller, computed in double) of shape (n_rows, n_cols)."""
    n_rows, n_cols = _shape2(shape)
    return _mod().random_normal(n_rows, n_cols, check_seed(seed), check_seed(step, "step"), int(row_offset),
                                check_float_dtype(dtype).name, effective_n_threads(n_threads))


# ---- optim ---------------------------------------------------------------------------------------


def _distinct(**arrays):
    """The optimiser kernels read and write their arrays through restrict pointers: refuse two that
    overlap in memory (e.g. grad given as a view of param) instead of leaving it undefined."""
    named = [(k, a) for k, a in arrays.items() if a is not None]
    for i, (n1, a1) in enumerate(named):
        for n2, a2 in named[i + 1:]:
            if np.may_share_memory(a1, a2):
                raise ValueError(f"{n1} and {n2} overlap in memory; pass separate arrays")


def _state(a, name, like):
    return check_dense(a, name=name, dtype=like.dtype, shape=like.shape, writeable=True)


def sgd_step(param, grad, velocity=None, *, lr, momentum=0.0, nesterov=False, weight_decay=0.0, n_threads=None):
    """In place: SGD with (Nesterov) momentum and L2 weight decay, PyTorch's rule."""
    param = check_dense(param, name="param", writeable=True)
    grad = check_dense(grad, name="grad", dtype=param.dtype, shape=param.shape)
    if velocity is not None:
        velocity = _state(velocity, "velocity", param)
    elif momentum:
        raise ValueError("velocity is required when momentum != 0")
    _mod().sgd_step(param, grad, velocity, float(check_scalar(lr, "lr", low=0.0)),
                    float(check_scalar(momentum, "momentum", low=0.0, high=1.0)), bool(nesterov),
                    float(check_scalar(weight_decay, "weight_decay", low=0.0)), effective_n_threads(n_threads))


def _row_grad(rows, grad_rows, param):
    """``rows`` as int64 (1-D, integer) and ``grad_rows`` checked as (len(rows), n_cols) of param's dtype;
    the native side checks the indices are unique and in range."""
    rows = np.asarray(rows)
    if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
        raise TypeError("rows must be a 1-D array of integer row indices")
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    grad_rows = check_dense(grad_rows, name="grad_rows", dtype=param.dtype, ndim=2, shape=(rows.size, param.shape[1]))
    return rows, grad_rows


def sgd_step_rows(param, rows, grad_rows, velocity=None, *, lr, momentum=0.0, nesterov=False, weight_decay=0.0,
                  n_threads=None):
    """In place: the step of ``sgd_step`` for a 2-D ``param`` whose gradient is zero outside ``rows``
    (unique int64 row indices; ``grad_rows`` is (len(rows), n_cols)). Every row is updated (weight
    decay, momentum), bit-identical to ``sgd_step`` with the dense gradient, without building it."""
    param = check_dense(param, name="param", ndim=2, writeable=True)
    if velocity is not None:
        velocity = _state(velocity, "velocity", param)
    elif momentum:
        raise ValueError("velocity is required when momentum != 0")
    rows, grad_rows = _row_grad(rows, grad_rows, param)
    _distinct(param=param, grad_rows=grad_rows, velocity=velocity)
    _mod().sgd_step_rows(param, rows, grad_rows, velocity, float(check_scalar(lr, "lr", low=0.0)),
                         float(check_scalar(momentum, "momentum", low=0.0, high=1.0)), bool(nesterov),
                         float(check_scalar(weight_decay, "weight_decay", low=0.0)), effective_n_threads(n_threads))


def adam_step(param, grad, m, v, *, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False,
              n_threads=None):
    """In place: one Adam step (t ≥ 1 counts steps); ``decoupled=True`` is AdamW's weight decay."""
    param = check_dense(param, name="param", writeable=True)
    grad = check_dense(grad, name="grad", dtype=param.dtype, shape=param.shape)
    m, v = _state(m, "m", param), _state(v, "v", param)
    _distinct(param=param, grad=grad, m=m, v=v)
    _mod().adam_step(param, grad, m, v, int(check_scalar(t, "t", kind=numbers.Integral, low=1)),
                     float(check_scalar(lr, "lr", low=0.0)),
                     float(check_scalar(beta1, "beta1", low=0.0, high=1.0, high_inclusive=False)),
                     float(check_scalar(beta2, "beta2", low=0.0, high=1.0, high_inclusive=False)),
                     float(check_scalar(eps, "eps", low=0.0, low_inclusive=False)),
                     float(check_scalar(weight_decay, "weight_decay", low=0.0)), bool(decoupled),
                     effective_n_threads(n_threads))


def adam_step_rows(param, rows, grad_rows, m, v, *, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                   decoupled=False, n_threads=None):
    """In place: the Adam step of ``adam_step`` for a 2-D ``param`` whose gradient is zero outside
    ``rows`` (unique int64 row indices); ``grad_rows`` holds those rows' gradients
    (len(rows), n_cols). Bit-identical to ``adam_step`` with the dense gradient, without building it
    — the sparse encoder's weight gradient has rows only for the items in the batch."""
    param = check_dense(param, name="param", ndim=2, writeable=True)
    m, v = _state(m, "m", param), _state(v, "v", param)
    rows, grad_rows = _row_grad(rows, grad_rows, param)
    _distinct(param=param, grad_rows=grad_rows, m=m, v=v)
    _mod().adam_step_rows(param, rows, grad_rows, m, v, int(check_scalar(t, "t", kind=numbers.Integral, low=1)),
                          float(check_scalar(lr, "lr", low=0.0)),
                          float(check_scalar(beta1, "beta1", low=0.0, high=1.0, high_inclusive=False)),
                          float(check_scalar(beta2, "beta2", low=0.0, high=1.0, high_inclusive=False)),
                          float(check_scalar(eps, "eps", low=0.0, low_inclusive=False)),
                          float(check_scalar(weight_decay, "weight_decay", low=0.0)), bool(decoupled),
                          effective_n_threads(n_threads))


def rprop_step(param, grad, prev_grad, step_size, *, eta_minus=0.5, eta_plus=1.2, step_min=1e-6, step_max=50.0,
               n_threads=None):
    """In place: one iRprop− step (PyTorch's Rprop); ``step_size`` starts at the initial step (0.01)."""
    param = check_dense(param, name="param", writeable=True)
    grad = check_dense(grad, name="grad", dtype=param.dtype, shape=param.shape)
    prev_grad, step_size = _state(prev_grad, "prev_grad", param), _state(step_size, "step_size", param)
    check_scalar(eta_minus, "eta_minus", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    check_scalar(eta_plus, "eta_plus", low=1.0, low_inclusive=False)
    check_scalar(step_min, "step_min", low=0.0)
    check_scalar(step_max, "step_max", low=step_min)
    _mod().rprop_step(param, grad, prev_grad, step_size, float(eta_minus), float(eta_plus), float(step_min),
                      float(step_max), effective_n_threads(n_threads))


# ---- topk --------------------------------------------------------------------------------------


def topk(scores, k, *, exclude=None, candidates=None, n_threads=None):
    """Top-``k`` items per row of ``scores`` (n_rows, n_items), best first.

    exclude: CSR (n_rows, n_items) of items never returned for that row (e.g. already seen);
    candidates: item ids to choose from (any order, duplicates ignored). Ties rank the lower item
    index first; NaN scores are never returned; a row with fewer than k eligible items is padded
    with index −1 and score −inf. Returns ``(indices int64, scores)``, each (n_rows, k).
    """
    scores = check_dense(scores, name="scores", ndim=2)
    k = int(check_scalar(k, "k", kind=numbers.Integral, low=1))
    ex_ptr, ex_idx, candidates = _topk_filters(exclude, candidates, *scores.shape)
    return _mod().topk(scores, k, ex_ptr, ex_idx, candidates, effective_n_threads(n_threads))


def _topk_filters(exclude, candidates, n_rows, n_items):
    """Validated (exclude indptr, indices, candidates) for topk and screened_topk."""
    ex_ptr = ex_idx = None
    if exclude is not None:
        ex_ptr, ex_idx, _, ex_rows, _ = check_csr(exclude, name="exclude", n_cols=n_items, pattern_only=True)
        if ex_rows != n_rows:
            raise ValueError(f"exclude has {ex_rows} rows but scores has {n_rows}")
    if candidates is not None:
        cand = np.asarray(candidates)
        if cand.ndim != 1 or (cand.size and not np.issubdtype(cand.dtype, np.integer)):
            raise TypeError("candidates must be a 1-D array of integer item ids")
        cand = np.unique(cand).astype(np.int64)
        if cand.size and (cand[0] < 0 or cand[-1] >= n_items):
            raise ValueError(f"candidates must be item ids in [0, {n_items})")
        candidates = cand
    return ex_ptr, ex_idx, candidates


# ---- gram: sparse Gram -----------------------------------------------------------------------------


def sparse_gram(X, *, n_threads=None):
    """``G = XᵀX`` (n_items, n_items), dense, in X's dtype, from the nonzeros only (Σ_u n_u² work)."""
    indptr, indices, data, _, n_items = check_csr(X)
    return _mod().sparse_gram(indptr, indices, data, n_items, effective_n_threads(n_threads))


# ---- gemm_bf16: bfloat16 scoring GEMM ----------------------------------------------------------------


def amx_bf16_available():
    """True when ``gemm_bf16`` runs on Intel AMX tiles here: the CPU has AMX-BF16, the OS granted the
    tile state, and ``AEREC_AMX`` is not ``0``. Otherwise ``gemm_bf16`` uses its NumPy fallback."""
    if os.environ.get("AEREC_AMX", "").strip() == "0":
        return False
    return bool(_mod().amx_bf16_available())


def bf16_round(A, *, n_threads=None):
    """float32 ``A`` rounded to the nearest bfloat16 (ties to even), as float32; NaN stays NaN."""
    A = check_dense(A, name="A", dtype=np.float32)
    return _mod().bf16_round(A, effective_n_threads(n_threads))


class BF16Weights:
    """A (K, N) float32 matrix prepared once for ``gemm_bf16``: packed into AMX tiles when AMX is
    available, else kept as its bfloat16-rounded float32 copy (the fallback's operand). With
    ``pack_bf16(B, keep_exact=True)`` it also keeps ``exact`` = Bᵀ (N, K) in float32 and
    ``exact_norms``, bounds on the largest column norms of B, of its bfloat16 rounding and of the
    rounding's residual — what ``screened_topk`` rescores and bounds the screen's error from. Read-only."""

    __slots__ = ("_shape", "packed", "rounded", "exact", "exact_norms")

    def __init__(self, shape, packed=None, rounded=None, exact=None, exact_norms=None):
        fields = dict(_shape=tuple(int(s) for s in shape), packed=packed, rounded=rounded, exact=exact,
                      exact_norms=exact_norms)
        for name, value in fields.items():
            object.__setattr__(self, name, value)
        for a in (packed, rounded, exact):  # the layout must keep matching the shape gemm_bf16 is told
            if a is not None:
                a.flags.writeable = False

    def __setattr__(self, name, value):
        raise AttributeError(f"BF16Weights is read-only (cannot set {name!r}); pack the weights again")

    @property
    def shape(self):
        """(K, N) of the packed weights."""
        return self._shape

    def __repr__(self):
        exact = ", with the exact copy" if self.exact is not None else ""
        return f"BF16Weights(shape={self.shape}, {'amx' if self.packed is not None else 'fallback'}{exact})"


def pack_bf16(B, *, keep_exact=False, n_threads=None):
    """Prepare the (K, N) float32 weights ``B`` for ``gemm_bf16`` (done once per set of weights).

    ``keep_exact=True`` also keeps Bᵀ and the column-norm bounds ``screened_topk`` needs."""
    B = check_dense(B, name="B", dtype=np.float32, ndim=2)
    if B.shape[0] < 1 or B.shape[1] < 1:
        raise ValueError(f"B must have at least one row and one column, got shape {B.shape}")
    extra = {}
    if keep_exact:
        Wt, norms = _mod().screened_prepare(B, effective_n_threads(n_threads))
        extra = dict(exact=Wt, exact_norms=norms)
    if amx_bf16_available():
        return BF16Weights(B.shape, packed=_mod().pack_bf16(B, effective_n_threads(n_threads)), **extra)
    return BF16Weights(B.shape, rounded=bf16_round(B, n_threads=n_threads), **extra)


def gemm_bf16(A, W, bias=None, *, n_threads=None):
    """Inference scores ``bf16(A)·bf16(B) + bias`` (M, N) float32, with ``W = pack_bf16(B)``.

    Both operands are rounded to bfloat16 (ties to even), so each product is exact in float32; the
    sums are float32. On CPUs with AMX-BF16 this runs on AMX tiles (several times sgemm's rate);
    elsewhere it is an sgemm of the rounded operands (the same rounding, summed in BLAS's order).
    Results are bit-identical for any ``n_threads``. Meant for scoring, not training.
    """
    if not isinstance(W, BF16Weights):
        raise TypeError(f"W must be the BF16Weights returned by pack_bf16, got {type(W).__name__}")
    K, N = W.shape
    A = check_dense(A, name="A", dtype=np.float32, ndim=2)
    if A.shape[1] != K:
        raise ValueError(f"A has {A.shape[1]} columns but the packed weights have {K} rows")
    bias = _opt(bias, "bias", np.float32, (N,))
    if W.packed is not None and amx_bf16_available():
        return _mod().gemm_bf16(A, W.packed, N, bias, effective_n_threads(n_threads))
    if W.rounded is None:
        raise ValueError("these BF16Weights were packed for AMX, which is not available now (AEREC_AMX=0?); "
                         "pack them again with pack_bf16")
    out = bf16_round(A, n_threads=n_threads) @ W.rounded
    if bias is not None:
        out += bias
    return out


# ---- screened_topk: exact top-k screened in bfloat16 -------------------------------------------------


def screened_topk(A, W, k, bias=None, *, exclude=None, candidates=None, n_threads=None):
    """Top-``k`` items per row of ``A·B + bias`` with ``W = pack_bf16(B, keep_exact=True)``, exactly —
    without the float32 product: ``(indices int64, scores float32)``, each (M, k).

    The scores are first computed in bfloat16 (``gemm_bf16``); a rigorous bound on that error per row
    leaves a few candidates beyond the screened top-k, which are rescored in float64 from the float32
    operands (each product exact). The result is the top-k of the float64-accurate scores — what
    ``topk(A @ B + bias, k)`` returns, up to the float32 rounding of near-ties — with the scores
    rounded to float32. ``exclude``, ``candidates``, ties, NaN and padding as in ``topk``. Rows whose
    bound could fail (non-finite values, magnitudes near float32 overflow) are rescored in full.
    Identical for any ``n_threads``.
    """
    if not isinstance(W, BF16Weights):
        raise TypeError(f"W must be the BF16Weights returned by pack_bf16, got {type(W).__name__}")
    if W.exact is None:
        raise ValueError("screened_topk needs the exact weights: pack them with pack_bf16(B, keep_exact=True)")
    k = int(check_scalar(k, "k", kind=numbers.Integral, low=1))
    K, N = W.shape
    A = check_dense(A, name="A", dtype=np.float32, ndim=2)
    if A.shape[1] != K:
        raise ValueError(f"A has {A.shape[1]} columns but the packed weights have {K} rows")
    bias = _opt(bias, "bias", np.float32, (N,))
    ex_ptr, ex_idx, candidates = _topk_filters(exclude, candidates, A.shape[0], N)
    nt = effective_n_threads(n_threads)
    screen = gemm_bf16(A, W, bias, n_threads=nt)
    return _mod().screened_topk(screen, A, W.exact, bias, W.exact_norms, k, ex_ptr, ex_idx, candidates, nt)


# ---- gemm_f32: the float32 training GEMM --------------------------------------------------------------


def gemm_f32_native():
    """True when ``gemm_f32`` runs a vectorised micro-kernel (the AVX2 or AVX-512 module is active):
    then it is faster than NumPy's BLAS at training's thin shapes. The generic module's kernel is
    portable and exact to the same bound, but slow; the CPU backend then keeps NumPy's BLAS."""
    return _native.active_isa() in ("avx2", "avx512")


def _gemm_operand(a, name):
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(a).__name__}")
    if a.dtype != np.float32:
        raise TypeError(f"{name} must have dtype float32, got {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {a.shape}")
    return a


def gemm_f32(A, B, *, out=None, accumulate=False, n_threads=None):
    """``A @ B`` in float32 (or ``out += A @ B`` with ``accumulate``), returned in ``out`` when given.

    A (M, K) and B (K, N) may be any strided float32 views — transposes (``H.T``) are read in place,
    not copied. ``out`` (M, N) needs contiguous rows. Blocked as BLIS does, with FMA micro-kernels
    (``cpp/src/gemm_f32.cpp``); each element is one fixed-order sum over K, so the result is
    bit-identical for any ``n_threads``, and within ``K·u·|A|·|B|`` (u = 2⁻²⁴) of the exact product.
    """
    A, B = _gemm_operand(A, "A"), _gemm_operand(B, "B")
    A, B = (x if x.flags.aligned else x.copy() for x in (A, B))  # e.g. np.frombuffer at an odd offset
    if A.shape[1] != B.shape[0]:
        raise ValueError(f"A {A.shape} and B {B.shape} do not chain: A has {A.shape[1]} columns, B {B.shape[0]} rows")
    shape = (A.shape[0], B.shape[1])
    if out is None:
        if accumulate:
            raise ValueError("accumulate=True needs out (the array to add the product to)")
        out = np.empty(shape, dtype=np.float32)
    else:
        _gemm_operand(out, "out")
        if out.shape != shape:
            raise ValueError(f"out has shape {out.shape}; expected {shape}")
        if not out.flags.writeable:
            raise ValueError("out is read-only but is written in place")
    n_threads = effective_n_threads(n_threads)
    if out.size == 0:
        return out
    target = out
    if (out.shape[1] > 1 and out.strides[1] != 4) or out.strides[0] < 4 * out.shape[1] or not out.flags.aligned \
            or np.may_share_memory(out, A) or np.may_share_memory(out, B):
        # a layout the kernel does not write (strided rows) or an out that may alias an operand:
        # the product goes to a fresh array first (np.matmul does the same for aliasing operands)
        target = np.array(out, order="C") if accumulate else np.empty(shape, dtype=np.float32)
    _mod().gemm_f32(A, B, target, bool(accumulate), n_threads)
    if target is not out:
        out[...] = target
    return out
