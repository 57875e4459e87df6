"""A host stand-in for the GPU, so the CUDA backend's *Python* side runs on any machine.

* ``fake_cupy()``: a ``cupy`` namespace over NumPy whose arrays (``HostDeviceArray``) look like CuPy's
  to aerec (module name ``cupy``, ``.data.ptr`` = the buffer's address, ``cupy.asnumpy``, a current
  stream) — plus ``cupyx.scipy.linalg.solve_triangular``.
* ``EmulatedCudaModule``: the ``_aerec_cuda`` API (same function names and argument order) that
  rebuilds NumPy views from the raw addresses and sizes it is given and computes each kernel's
  contract on the host (the CPU kernels where the contract is the same, NumPy where the GPU kernel
  works differently, e.g. from the item-major view or to sort keys).

What this checks: every argument CudaBackend passes (order, sizes, dtypes, pointers), the arrays
it builds on the "device" (item-major views, row gathers, Adam's slots, top-k keys) and every
estimator's GPU code path, end to end. What it cannot check: the CUDA kernels themselves — those are
tests/gpu/test_kernels_raw.py's job, on a real GPU.
"""

from __future__ import annotations

import ctypes
import sys
import types

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from aerec import _reference as ref
from aerec import kernels

_CTYPES = {np.dtype(np.float32): ctypes.c_float, np.dtype(np.float64): ctypes.c_double,
           np.dtype(np.int32): ctypes.c_int32, np.dtype(np.int64): ctypes.c_int64,
           np.dtype(np.uint8): ctypes.c_uint8, np.dtype(np.uint32): ctypes.c_uint32,
           np.dtype(np.uint64): ctypes.c_uint64}


def view(ptr, shape, dtype):
    """A writable NumPy view of ``shape`` at the raw address ``ptr`` (None for a null pointer)."""
    dtype = np.dtype(dtype)
    shape = (shape,) if np.isscalar(shape) else tuple(int(s) for s in shape)
    n = int(np.prod(shape, dtype=np.int64))
    if ptr == 0:
        return None
    if n == 0:
        return np.empty(shape, dtype)
    arr = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(_CTYPES[dtype])), shape=(n,))
    return arr.reshape(shape)


# ---- the CuPy stand-in -------------------------------------------------------------------------------


class _Mem:
    def __init__(self, ptr):
        self.ptr = ptr


class HostDeviceArray(np.ndarray):
    """A NumPy array that aerec takes for a CuPy one."""

    @property
    def data(self):  # CuPy: arr.data.ptr is the device address
        return _Mem(self.__array_interface__["data"][0])

    def get(self):
        return np.array(self, copy=True).view(np.ndarray)


HostDeviceArray.__module__ = "cupy._core.core"


def _dev(x):
    if isinstance(x, np.ndarray) and not isinstance(x, HostDeviceArray):
        return x.view(HostDeviceArray)
    if isinstance(x, tuple):
        return tuple(_dev(v) for v in x)
    return x


def fake_cupy():
    """(cupy, cupyx) module objects over NumPy."""
    cp = types.ModuleType("cupy")
    for name in ("empty", "empty_like", "zeros", "zeros_like", "full", "full_like", "arange", "cumsum", "searchsorted",
                 "unique", "bincount", "take_along_axis", "where", "matmul", "exp", "concatenate", "sum", "vdot",
                 "maximum", "eye", "isfinite", "ones", "sqrt", "diff"):
        fn = getattr(np, name)
        setattr(cp, name, (lambda f: lambda *a, **k: _dev(f(*a, **k)))(fn))
    cp.argsort = lambda a, axis=-1: _dev(np.argsort(a, axis=axis, kind="stable"))  # CuPy's sort is stable
    cp.asarray = lambda a, dtype=None: _dev(np.array(np.asarray(a), dtype=dtype, copy=True))
    cp.ascontiguousarray = lambda a, dtype=None: _dev(np.ascontiguousarray(a, dtype=dtype))
    cp.asnumpy = lambda a: np.array(a, copy=True).view(np.ndarray)
    for name in ("int32", "int64", "uint8", "uint32", "uint64", "float32", "float64", "inf", "newaxis", "iinfo",
                 "ndarray"):
        setattr(cp, name, getattr(np, name))
    cp.__version__ = "emulated"

    class _Stream:
        ptr = 0

        def synchronize(self):
            pass

    cp.cuda = types.SimpleNamespace(get_current_stream=lambda: _Stream())
    cp.linalg = types.SimpleNamespace(cholesky=lambda a: _dev(np.linalg.cholesky(a)))
    cupyx = types.ModuleType("cupyx")
    cupyx.scipy = types.ModuleType("cupyx.scipy")
    cupyx.scipy.linalg = types.ModuleType("cupyx.scipy.linalg")
    cupyx.scipy.linalg.solve_triangular = lambda a, b, lower=False, overwrite_b=False, **k: _dev(
        scipy.linalg.solve_triangular(a, b, lower=lower))
    return cp, cupyx


def install(monkeypatch):
    """Put the stand-ins in place for one test: cupy/cupyx importable, aerec's CUDA module emulated."""
    from aerec import _native

    cp, cupyx = fake_cupy()
    for name, mod in (("cupy", cp), ("cupyx", cupyx), ("cupyx.scipy", cupyx.scipy),
                      ("cupyx.scipy.linalg", cupyx.scipy.linalg)):
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setattr(_native, "cuda_module", EmulatedCudaModule())
    monkeypatch.setattr(_native, "HAS_CUDA", True)
    return cp


# ---- the kernel module stand-in ----------------------------------------------------------------------


def _csr(indptr, indices, data, index_dtype, n_rows, n_cols, nnz, dtype):
    ip = view(indptr, n_rows + 1, index_dtype)
    ix = view(indices, nnz, index_dtype)
    d = view(data, nnz, dtype) if data else np.ones(nnz, dtype)
    return sp.csr_array((d.copy(), ix.copy(), ip.copy()), shape=(n_rows, n_cols))


def _check_item_major(items, ptr, rows, pos, m, nnz, indices_of_entry):
    """The invariants CudaBackend's item-major view must satisfy (the CUDA kernels rely on them)."""
    assert ptr[0] == 0 and ptr[-1] == nnz and np.all(np.diff(ptr) > 0), "im_ptr"
    assert np.array_equal(np.sort(pos), np.arange(nnz)), "im_pos is not a permutation"
    if items is not None:
        assert np.all(np.diff(items) > 0), "items ascending and unique"
        for p in range(m):
            seg = slice(ptr[p], ptr[p + 1])
            assert np.all(indices_of_entry[pos[seg]] == items[p]), "entries of an item hold that item"
            assert np.all(np.diff(rows[seg]) > 0), "rows ascending within an item"


class EmulatedCudaModule:
    loss_scratch_size = 1024
    calls: list

    def __init__(self):
        self.calls = []

    def device_count(self):
        return 1

    def build_info(self):
        return {"version": "emulated", "cuda_runtime": 13000, "architectures": "80-real 90"}

    def synchronize(self):
        pass

    # sparse_encoder
    def sparse_encoder_forward(self, indptr, indices, data, index_dtype, n_rows, n_cols, nnz, W, b, row_scale, h,
                               dropout, seed, step, row_offset, coef, Z, dtype, stream=0):
        self.calls.append("sparse_encoder_forward")
        X = _csr(indptr, indices, data, index_dtype, n_rows, n_cols, nnz, dtype)
        assert view(coef, nnz, dtype) is not None or nnz == 0
        out = kernels.sparse_encoder_forward(X, view(W, (n_cols, h), dtype).copy(), _copy(view(b, h, dtype)),
                                             row_scale=_copy(view(row_scale, n_rows, dtype)), dropout=dropout,
                                             seed=seed, step=step, row_offset=row_offset, n_threads=1)
        view(Z, (n_rows, h), dtype)[...] = out

    def sparse_encoder_backward(self, data, nnz, im_items, im_ptr, im_rows, im_pos, m, n_rows, dZ, row_scale, h,
                                dropout, seed, step, row_offset, coef, dW, dtype, stream=0):
        self.calls.append("sparse_encoder_backward")
        x = view(data, nnz, dtype).astype(np.float64)
        items, ptr = view(im_items, m, np.int64), view(im_ptr, m + 1, np.int64)
        rows, pos = view(im_rows, nnz, np.int64), view(im_pos, nnz, np.int64)
        item_of_t = np.repeat(items, np.diff(ptr))
        c = x[pos]
        rs = view(row_scale, n_rows, dtype)
        if rs is not None:
            c = c * rs[rows]
        if dropout > 0:
            c = np.where(ref.ref_dropout_mask(seed, step, row_offset + rows, item_of_t, dropout), c / (1 - dropout), 0)
        G = view(dZ, (n_rows, h), dtype).astype(np.float64)
        out = np.zeros((m, h))
        np.add.at(out, np.repeat(np.arange(m), np.diff(ptr)), c[:, None] * G[rows])
        view(dW, (m, h), dtype)[...] = out

    # masked_decoder
    def masked_decoder_forward(self, indptr, indices, index_dtype, n_rows, n_cols, nnz, H, V, c, h, out, dtype,
                               stream=0):
        self.calls.append("masked_decoder_forward")
        M = _csr(indptr, indices, 0, index_dtype, n_rows, n_cols, nnz, dtype)
        view(out, nnz, dtype)[...] = kernels.masked_decoder_forward(
            M, view(H, (n_rows, h), dtype).copy(), view(V, (n_cols, h), dtype).copy(), _copy(view(c, n_cols, dtype)),
            n_threads=1)

    def masked_decoder_backward(self, indptr, indices, index_dtype, n_rows, n_cols, nnz, im_ptr, im_rows, im_pos, m,
                                H, V, d_out, h, coef, dH, dV, dc, dtype, stream=0):
        self.calls.append("masked_decoder_backward")
        M = _csr(indptr, indices, 0, index_dtype, n_rows, n_cols, nnz, dtype)
        ptr, rows, pos = view(im_ptr, m + 1, np.int64), view(im_rows, nnz, np.int64), view(im_pos, nnz, np.int64)
        _check_item_major(None, ptr, rows, pos, m, nnz, M.indices)
        r_dH, items, r_dV, r_dc = kernels.masked_decoder_backward(
            M, view(H, (n_rows, h), dtype).copy(), view(V, (n_cols, h), dtype).copy(), view(d_out, nnz, dtype).copy(),
            n_threads=1)
        assert items.size == m
        if dH:
            view(dH, (n_rows, h), dtype)[...] = r_dH
        view(dV, (m, h), dtype)[...] = r_dV
        if dc:
            view(dc, m, dtype)[...] = r_dc

    # losses
    def masked_mse(self, pred, target, n, scale, grad, partials, loss, dtype, stream=0):
        self.calls.append("masked_mse")
        val, g = kernels.masked_mse(view(pred, n, dtype).copy(), view(target, n, dtype).copy(), scale=scale,
                                    n_threads=1)
        if grad:
            view(grad, n, dtype)[...] = g
        view(loss, 1, np.float64)[0] = val

    def multinomial_loss_grad(self, logits, c, indptr, indices, data, index_dtype, n_rows, n_items, nnz, scale,
                              row_loss, loss, dtype, stream=0):
        self.calls.append("multinomial_loss_grad")
        X = _csr(indptr, indices, data, index_dtype, n_rows, n_items, nnz, dtype)
        L = view(logits, (n_rows, n_items), dtype)
        G = L.copy()
        val = kernels.multinomial_loss_grad(G, X, _copy(view(c, n_items, dtype)), scale=scale, n_threads=1)
        L[...] = G
        view(loss, 1, np.float64)[0] = val

    def gaussian_kl(self, mu, logvar, n, scale, dmu, dlogvar, partials, loss, dtype, stream=0):
        self.calls.append("gaussian_kl")
        val, a, b = kernels.gaussian_kl(view(mu, (1, n), dtype).copy(), view(logvar, (1, n), dtype).copy(),
                                        scale=scale, n_threads=1)
        view(dmu, n, dtype)[...] = a.ravel()
        view(dlogvar, n, dtype)[...] = b.ravel()
        view(loss, 1, np.float64)[0] = val

    # activations
    def activation_forward(self, kind, alpha, Z, n, Y, dtype, stream=0):
        name = [k for k, (code, _) in kernels.ACTIVATIONS.items() if code == kind][0]
        view(Y, n, dtype)[...] = kernels.activation_forward(name, view(Z, n, dtype).copy(), alpha=alpha, n_threads=1)

    def activation_backward(self, kind, alpha, Z, Y, dY, n, dZ, dtype, stream=0):
        name = [k for k, (code, _) in kernels.ACTIVATIONS.items() if code == kind][0]
        view(dZ, n, dtype)[...] = kernels.activation_backward(name, view(Z, n, dtype).copy(), view(Y, n, dtype).copy(),
                                                              view(dY, n, dtype).copy(), alpha=alpha, n_threads=1)

    def dropout(self, X, n_rows, n_cols, rate, seed, step, row_offset, Y, dtype, stream=0):
        view(Y, (n_rows, n_cols), dtype)[...] = kernels.dropout(view(X, (n_rows, n_cols), dtype).copy(), rate,
                                                                seed=seed, step=step, row_offset=row_offset,
                                                                n_threads=1)

    def random_uniform(self, n_rows, n_cols, seed, step, row_offset, out, dtype, stream=0):
        view(out, (n_rows, n_cols), dtype)[...] = kernels.random_uniform((n_rows, n_cols), seed=seed, step=step,
                                                                         row_offset=row_offset, dtype=dtype)

    def random_normal(self, n_rows, n_cols, seed, step, row_offset, out, dtype, stream=0):
        view(out, (n_rows, n_cols), dtype)[...] = kernels.random_normal((n_rows, n_cols), seed=seed, step=step,
                                                                        row_offset=row_offset, dtype=dtype)

    # optim (views at the given addresses are updated in place, as the kernels do)
    def sgd_step(self, param, grad, velocity, n, lr, momentum, nesterov, weight_decay, dtype, stream=0):
        kernels.sgd_step(view(param, n, dtype), view(grad, n, dtype).copy(), view(velocity, n, dtype), lr=lr,
                         momentum=momentum, nesterov=nesterov, weight_decay=weight_decay, n_threads=1)

    def adam_step(self, param, grad, m, v, n, t, lr, beta1, beta2, eps, weight_decay, decoupled, dtype, stream=0):
        self.calls.append("adam_step")
        kernels.adam_step(view(param, n, dtype), view(grad, n, dtype).copy(), view(m, n, dtype), view(v, n, dtype),
                          t=t, lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                          decoupled=decoupled, n_threads=1)

    @staticmethod
    def _rows_of(slot, n_rows, n_present):
        s = view(slot, n_rows, np.int64)
        rows = np.full(n_present, -1, dtype=np.int64)
        rows[s[s >= 0]] = np.flatnonzero(s >= 0)
        assert np.all(rows >= 0) and np.sum(s >= 0) == n_present, "slot must name every present row once"
        return rows

    def sgd_step_rows(self, param, n_rows, n_cols, slot, grad_rows, n_present, velocity, lr, momentum, nesterov,
                      weight_decay, dtype, stream=0):
        self.calls.append("sgd_step_rows")
        kernels.sgd_step_rows(view(param, (n_rows, n_cols), dtype), self._rows_of(slot, n_rows, n_present),
                              view(grad_rows, (n_present, n_cols), dtype).copy(),
                              view(velocity, (n_rows, n_cols), dtype) if velocity else None, lr=lr, momentum=momentum,
                              nesterov=nesterov, weight_decay=weight_decay, n_threads=1)

    def adam_step_rows(self, param, n_rows, n_cols, slot, grad_rows, n_present, m, v, t, lr, beta1, beta2, eps,
                       weight_decay, decoupled, dtype, stream=0):
        self.calls.append("adam_step_rows")
        rows = self._rows_of(slot, n_rows, n_present)
        kernels.adam_step_rows(view(param, (n_rows, n_cols), dtype), rows,
                               view(grad_rows, (n_present, n_cols), dtype).copy(), view(m, (n_rows, n_cols), dtype),
                               view(v, (n_rows, n_cols), dtype), t=t, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                               weight_decay=weight_decay, decoupled=decoupled, n_threads=1)

    def rprop_step(self, param, grad, prev_grad, step_size, n, eta_minus, eta_plus, step_min, step_max, dtype,
                   stream=0):
        kernels.rprop_step(view(param, n, dtype), view(grad, n, dtype).copy(), view(prev_grad, n, dtype),
                           view(step_size, n, dtype), eta_minus=eta_minus, eta_plus=eta_plus, step_min=step_min,
                           step_max=step_max, n_threads=1)

    # topk: the keys as topk.cu writes them
    def topk_keys(self, scores, n_rows, n_items, excl_indptr, excl_indices, excl_nnz, index_dtype, allowed, keys,
                  dtype, stream=0):
        self.calls.append("topk_keys")
        S = view(scores, (n_rows, n_items), dtype) + dtype_type(dtype)(0)  # −0 → +0
        U = np.uint32 if np.dtype(dtype) == np.float32 else np.uint64
        sign = U(1) << U(8 * np.dtype(U).itemsize - 1)
        u = S.view(U)
        u = np.where(u & sign, ~u, u | sign).astype(U)
        ok = ~np.isnan(S)
        if allowed:
            ok &= view(allowed, n_items, np.uint8).astype(bool)[None, :]
        if excl_indptr:
            E = _csr(excl_indptr, excl_indices, 0, index_dtype, n_rows, n_items, excl_nnz, dtype)
            ok &= E.toarray() == 0
        view(keys, (n_rows, n_items), U)[...] = np.where(ok, ~u, np.iinfo(U).max)

    # gram
    def sparse_gram(self, indptr, indices, data, index_dtype, n_rows, n_items, nnz, col_ptr, col_rows, col_pos, G,
                    dtype, stream=0):
        self.calls.append("sparse_gram")
        X = _csr(indptr, indices, data, index_dtype, n_rows, n_items, nnz, dtype)
        cptr = view(col_ptr, n_items + 1, np.int64)
        rows, pos = view(col_rows, nnz, np.int64), view(col_pos, nnz, np.int64)
        assert cptr[0] == 0 and cptr[-1] == nnz and np.all(np.diff(cptr) >= 0)
        col_of_t = np.repeat(np.arange(n_items), np.diff(cptr))
        assert np.array_equal(X.indices[pos], col_of_t), "column view entries hold their column"
        assert np.array_equal(np.repeat(np.arange(n_rows), np.diff(X.indptr))[pos], rows), "rows"
        view(G, (n_items, n_items), dtype)[...] = kernels.sparse_gram(X, n_threads=1)


def dtype_type(dtype):
    return np.dtype(dtype).type


def _copy(a):
    return None if a is None else a.copy()
