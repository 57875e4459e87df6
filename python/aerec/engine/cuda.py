"""The CUDA backend: the same methods as ``CpuBackend``, over CuPy arrays.

Why CuPy: device memory (with its pooling allocator), streams and the dense products (cuBLAS
GEMMs, cuSOLVER's Cholesky for EASE) are what a well-kept GPU array library already does well;
aerec's own kernels (``_aerec_cuda``, one ``.cu`` per family) cover what it does not — the
sparse encoder and masked decoder, the fused losses, the optimiser steps, top-k keys and the
sparse Gram matrix — and run on CuPy's *current stream* through raw device pointers, so they
order correctly with CuPy's own work without synchronising.

Validation. Every CSR matrix is checked on the host with ``aerec._validation.check_csr``
(structure, index ranges, sorted unique columns) *before* it is uploaded; everything derived from
it on the device (row ids, the item-major view, Adam's row slots) is built here from those
validated arrays. Dense device arrays are checked for dtype, shape and C order. The C++ binding
checks sizes, null pointers and scalar ranges again, and never reads an index it was not given
by this module. CuPy is imported only when a ``CudaBackend`` is created.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import _native
from .._validation import check_csr, check_float_dtype, check_scalar, check_seed
from ..kernels import ACTIVATIONS


def import_cupy():
    """CuPy, or an ImportError saying how to get it."""
    try:
        import cupy
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise ImportError("aerec's CUDA backend needs CuPy: pip install 'aerec[cuda]' (cupy-cuda13x)") from exc
    return cupy


def is_device_array(a) -> bool:
    """True for a CuPy array (checked by type, without importing CuPy)."""
    return type(a).__module__.split(".")[0] == "cupy"


class DeviceCsr:
    """A validated CSR matrix copied to the device, with its item-major view built on demand.

    ``indptr``/``indices`` keep the host dtype (int32 or int64); ``data`` the value dtype."""

    __slots__ = ("indptr", "indices", "data", "shape", "nnz", "index_dtype", "_item_major", "_full_cols", "host")

    def __init__(self, cp, X, *, dtype=None, n_cols=None, pattern_only=False, name="X"):
        indptr, indices, data, n_rows, n = check_csr(X, name=name, n_cols=n_cols, dtype=dtype,
                                                     pattern_only=pattern_only)
        self.host = X
        self.indptr, self.indices = cp.asarray(indptr), cp.asarray(indices)
        self.data = None if data is None else cp.asarray(data)
        self.shape, self.nnz = (int(n_rows), int(n)), int(indices.shape[0])
        self.index_dtype = indices.dtype.name
        self._item_major = self._full_cols = None

    @classmethod
    def _derived(cls, indptr, indices, data, shape, index_dtype):
        """A DeviceCsr built on the device from an already validated one (no host round trip)."""
        out = cls.__new__(cls)
        out.indptr, out.indices, out.data, out.host = indptr, indices, data, None
        out.shape, out.nnz, out.index_dtype = shape, int(indices.shape[0]), index_dtype
        out._item_major = out._full_cols = None
        return out

    def take_rows(self, cp, rows):
        """The CSR matrix of the given rows (a device int64 array of row ids in range, e.g. a
        minibatch), gathered on the device. Row slicing keeps a valid CSR valid, so the result
        needs no new check; the entry count is read back once (one synchronisation)."""
        rows = cp.asarray(rows, dtype=cp.int64)
        starts = self.indptr[rows].astype(cp.int64)
        counts = self.indptr[rows + 1].astype(cp.int64) - starts
        indptr = cp.zeros(rows.shape[0] + 1, dtype=cp.int64)
        cp.cumsum(counts, out=indptr[1:])
        nnz = int(indptr[-1])
        k = cp.arange(nnz, dtype=cp.int64)
        r = cp.searchsorted(indptr[1:], k, side="right")
        src = starts[r] + (k - indptr[r])
        indptr = indptr.astype(self.indptr.dtype)
        data = None if self.data is None else self.data[src]
        return DeviceCsr._derived(indptr, self.indices[src], data, (int(rows.shape[0]), self.shape[1]),
                                  self.index_dtype)

    def rows(self, cp):
        """Row id of every stored entry (nnz,), int64: how many row ends lie at or before it."""
        return cp.searchsorted(self.indptr[1:].astype(cp.int64), cp.arange(self.nnz, dtype=cp.int64), side="right")

    def item_major(self, cp):
        """``(items, ptr, rows, pos)``: the present items ascending, and for item p its entries
        [ptr[p], ptr[p+1]) with their rows (ascending) and positions in the CSR arrays; all int64.
        The sort key column·n_rows + row is unique, so the order is fully determined."""
        if self._item_major is None:
            rows = self.rows(cp)
            key = self.indices.astype(cp.int64) * max(self.shape[0], 1) + rows
            pos = cp.argsort(key)
            cols = self.indices[pos].astype(cp.int64)
            items, counts = cp.unique(cols, return_counts=True)
            ptr = cp.zeros(items.shape[0] + 1, dtype=cp.int64)
            cp.cumsum(counts, out=ptr[1:])
            self._item_major = (items, ptr, rows[pos], pos.astype(cp.int64))
        return self._item_major

    def column_pointers(self, cp):
        """The item-major view over *every* column (absent ones empty): (col_ptr, rows, pos)."""
        if self._full_cols is None:
            _, _, rows, pos = self.item_major(cp)
            counts = cp.bincount(self.indices.astype(cp.int64), minlength=self.shape[1])
            col_ptr = cp.zeros(self.shape[1] + 1, dtype=cp.int64)
            cp.cumsum(counts, out=col_ptr[1:])
            self._full_cols = (col_ptr, rows, pos)
        return self._full_cols


def _ptr(a):
    return 0 if a is None else int(a.data.ptr)


class CudaBackend:
    """Kernels on the current CUDA device and CuPy stream; dense algebra through CuPy (cuBLAS)."""

    name = "cuda"

    def __init__(self, n_threads=None):
        if _native.cuda_module is None:
            raise ValueError("aerec was built without CUDA (rebuild with AEREC_CUDA=1 pip install .)")
        self.cp = self.xp = import_cupy()
        self.mod = _native.cuda_module
        self.n_threads = n_threads  # unused on the GPU; kept so callers can treat backends alike
        self._last_csr = None  # (host object, DeviceCsr): one batch is used by several calls in a row

    # ---- arrays ----------------------------------------------------------------------------------

    def asarray(self, a, dtype=None):
        return self.cp.ascontiguousarray(self.cp.asarray(a, dtype=dtype))

    def to_host(self, a):
        return self.cp.asnumpy(a) if is_device_array(a) else np.asarray(a)

    def zeros(self, shape, dtype):
        return self.cp.zeros(shape, dtype=dtype)

    def matmul(self, a, b, out=None):
        """``a @ b`` by cuBLAS (through CuPy); transposed views are passed as transposes."""
        return self.cp.matmul(a, b, out=out)

    def synchronize(self):
        self.cp.cuda.get_current_stream().synchronize()

    # ---- argument handling -----------------------------------------------------------------------

    @property
    def _stream(self):
        return int(self.cp.cuda.get_current_stream().ptr)

    def csr(self, X, *, dtype=None, n_cols=None, pattern_only=False, name="X"):
        """X as a ``DeviceCsr`` (validated on the host, then uploaded; the last one is reused)."""
        if isinstance(X, DeviceCsr):
            if n_cols is not None and X.shape[1] != n_cols:
                raise ValueError(f"{name} has {X.shape[1]} columns; expected {n_cols}")
            if dtype is not None and X.data is not None and X.data.dtype != np.dtype(dtype):
                raise TypeError(f"{name}.data is {X.data.dtype}; expected {np.dtype(dtype)}")
            return X
        last = self._last_csr
        if last is not None and last[0] is X and (n_cols is None or last[1].shape[1] == n_cols) and (
                pattern_only or dtype is None or (last[1].data is not None and last[1].data.dtype == np.dtype(dtype))):
            return last[1]
        dev = DeviceCsr(self.cp, X, dtype=dtype, n_cols=n_cols, pattern_only=pattern_only, name=name)
        self._last_csr = (X, dev)
        return dev

    def _dense(self, a, name, dtype=None, shape=None, ndim=None):
        """A C-contiguous device array of the given dtype/shape; host arrays are uploaded (the
        stored values of the last CSR batch are recognised and not copied again)."""
        cp = self.cp
        if not is_device_array(a):
            last = self._last_csr
            if last is not None and last[1].data is not None and a is getattr(last[0], "data", None):
                a = last[1].data
            else:
                a = cp.asarray(np.asarray(a))
        if dtype is not None and a.dtype != np.dtype(dtype):
            raise TypeError(f"{name}: dtype {a.dtype} does not match {np.dtype(dtype)}")
        if a.dtype not in (np.float32, np.float64):
            raise TypeError(f"{name}: expected float32 or float64, got {a.dtype}")
        if ndim is not None and a.ndim != ndim:
            raise ValueError(f"{name}: expected a {ndim}-D array, got shape {a.shape}")
        if shape is not None and tuple(a.shape) != tuple(shape):
            raise ValueError(f"{name}: expected shape {tuple(shape)}, got {a.shape}")
        if not a.flags.c_contiguous:
            raise ValueError(f"{name}: array must be C-contiguous")
        return a

    def _opt(self, a, name, dtype, shape):
        return None if a is None else self._dense(a, name, dtype=dtype, shape=shape)

    def _writable(self, a, name, like):
        if not is_device_array(a):
            raise TypeError(f"{name}: expected a device (CuPy) array to update in place")
        return self._dense(a, name, dtype=like.dtype, shape=like.shape)

    @staticmethod
    def _rate(rate, name):
        check_scalar(rate, name, low=0.0, high=1.0, high_inclusive=False)
        return float(rate)

    @staticmethod
    def _activation(name, alpha):
        if name not in ACTIVATIONS:
            raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
        code, default = ACTIVATIONS[name]
        return code, float(default if alpha is None else check_scalar(alpha, "alpha"))

    def _loss_buffers(self, n_partials=None):
        cp = self.cp
        return cp.empty(n_partials or self.mod.loss_scratch_size, dtype=cp.float64), cp.empty(1, dtype=cp.float64)

    # ---- sparse_encoder ----------------------------------------------------------------------------

    def sparse_encoder_forward(self, X, W, b=None, *, row_scale=None, dropout=0.0, seed=0, step=0, row_offset=0,
                               n_threads=None):
        W = self._dense(W, "W", ndim=2)
        Xd = self.csr(X, dtype=W.dtype, n_cols=W.shape[0])
        n_rows, h = Xd.shape[0], W.shape[1]
        b = self._opt(b, "b", W.dtype, (h,))
        row_scale = self._opt(row_scale, "row_scale", W.dtype, (n_rows,))
        Z = self.cp.empty((n_rows, h), dtype=W.dtype)
        coef = self.cp.empty(max(Xd.nnz, 1), dtype=W.dtype)
        self.mod.sparse_encoder_forward(_ptr(Xd.indptr), _ptr(Xd.indices), _ptr(Xd.data), Xd.index_dtype, n_rows,
                                        Xd.shape[1], Xd.nnz, _ptr(W), _ptr(b), _ptr(row_scale), h,
                                        self._rate(dropout, "dropout"), check_seed(seed), check_seed(step, "step"),
                                        int(row_offset), _ptr(coef), _ptr(Z), W.dtype.name, self._stream)
        return Z

    def sparse_encoder_backward(self, X, dZ, *, row_scale=None, dropout=0.0, seed=0, step=0, row_offset=0,
                                n_threads=None):
        dZ = self._dense(dZ, "dZ", ndim=2)
        Xd = self.csr(X, dtype=dZ.dtype)
        n_rows, h = Xd.shape[0], dZ.shape[1]
        if dZ.shape[0] != n_rows:
            raise ValueError(f"dZ has {dZ.shape[0]} rows but X has {n_rows}")
        row_scale = self._opt(row_scale, "row_scale", dZ.dtype, (n_rows,))
        items, ptr, rows, pos = Xd.item_major(self.cp)
        m = int(items.shape[0])
        dW = self.cp.empty((m, h), dtype=dZ.dtype)
        coef = self.cp.empty(max(Xd.nnz, 1), dtype=dZ.dtype)
        self.mod.sparse_encoder_backward(_ptr(Xd.data), Xd.nnz, _ptr(items), _ptr(ptr), _ptr(rows), _ptr(pos), m,
                                         n_rows, _ptr(dZ), _ptr(row_scale), h, self._rate(dropout, "dropout"),
                                         check_seed(seed), check_seed(step, "step"), int(row_offset), _ptr(coef),
                                         _ptr(dW), dZ.dtype.name, self._stream)
        return items, dW, dZ.sum(axis=0)

    # ---- masked_decoder ----------------------------------------------------------------------------

    def _decoder_args(self, mask, H, V):
        H = self._dense(H, "H", ndim=2)
        V = self._dense(V, "V", dtype=H.dtype, ndim=2)
        if V.shape[1] != H.shape[1]:
            raise ValueError(f"V has {V.shape[1]} columns but H has {H.shape[1]}")
        M = self.csr(mask, n_cols=V.shape[0], pattern_only=True, name="mask")
        if H.shape[0] != M.shape[0]:
            raise ValueError(f"H has {H.shape[0]} rows but mask has {M.shape[0]}")
        return M, H, V

    def masked_decoder_forward(self, mask, H, V, c=None, *, n_threads=None):
        M, H, V = self._decoder_args(mask, H, V)
        c = self._opt(c, "c", H.dtype, (V.shape[0],))
        out = self.cp.empty(M.nnz, dtype=H.dtype)
        self.mod.masked_decoder_forward(_ptr(M.indptr), _ptr(M.indices), M.index_dtype, M.shape[0], M.shape[1],
                                        M.nnz, _ptr(H), _ptr(V), _ptr(c), H.shape[1], _ptr(out), H.dtype.name,
                                        self._stream)
        return out

    def masked_decoder_backward(self, mask, H, V, d_out, *, n_threads=None):
        M, H, V = self._decoder_args(mask, H, V)
        d_out = self._dense(d_out, "d_out", dtype=H.dtype, shape=(M.nnz,))
        items, ptr, rows, pos = M.item_major(self.cp)
        m, h = int(items.shape[0]), H.shape[1]
        cp = self.cp
        dH, dV, dc = cp.empty_like(H), cp.empty((m, h), dtype=H.dtype), cp.empty(m, dtype=H.dtype)
        coef = cp.empty(max(M.nnz, 1), dtype=H.dtype)
        self.mod.masked_decoder_backward(_ptr(M.indptr), _ptr(M.indices), M.index_dtype, M.shape[0], M.shape[1],
                                         M.nnz, _ptr(ptr), _ptr(rows), _ptr(pos), m, _ptr(H), _ptr(V), _ptr(d_out), h,
                                         _ptr(coef), _ptr(dH), _ptr(dV), _ptr(dc), H.dtype.name, self._stream)
        return dH, items, dV, dc

    # ---- losses --------------------------------------------------------------------------------------

    def masked_mse(self, pred, target, *, scale=1.0, n_threads=None):
        pred = self._dense(pred, "pred", ndim=1)
        target = self._dense(target, "target", dtype=pred.dtype, shape=pred.shape)
        grad = self.cp.empty_like(pred)
        partials, loss = self._loss_buffers()
        self.mod.masked_mse(_ptr(pred), _ptr(target), pred.shape[0], float(check_scalar(scale, "scale")), _ptr(grad),
                            _ptr(partials), _ptr(loss), pred.dtype.name, self._stream)
        return float(loss[0]), grad

    def multinomial_loss_grad(self, logits, X, c=None, *, scale=1.0, n_threads=None):
        if not is_device_array(logits):
            raise TypeError("logits: expected a device (CuPy) array (it is overwritten with the gradient)")
        logits = self._dense(logits, "logits", ndim=2)
        Xd = self.csr(X, dtype=logits.dtype, n_cols=logits.shape[1])
        if logits.shape[0] != Xd.shape[0]:
            raise ValueError(f"logits has {logits.shape[0]} rows but X has {Xd.shape[0]}")
        c = self._opt(c, "c", logits.dtype, (logits.shape[1],))
        row_loss, loss = self._loss_buffers(max(Xd.shape[0], 1))
        self.mod.multinomial_loss_grad(_ptr(logits), _ptr(c), _ptr(Xd.indptr), _ptr(Xd.indices), _ptr(Xd.data),
                                       Xd.index_dtype, Xd.shape[0], Xd.shape[1], Xd.nnz,
                                       float(check_scalar(scale, "scale")), _ptr(row_loss), _ptr(loss),
                                       logits.dtype.name, self._stream)
        return float(loss[0])

    def gaussian_kl(self, mu, logvar, *, scale=1.0, n_threads=None):
        mu = self._dense(mu, "mu", ndim=2)
        logvar = self._dense(logvar, "logvar", dtype=mu.dtype, shape=mu.shape)
        dmu, dlv = self.cp.empty_like(mu), self.cp.empty_like(mu)
        partials, loss = self._loss_buffers()
        self.mod.gaussian_kl(_ptr(mu), _ptr(logvar), mu.size, float(check_scalar(scale, "scale")), _ptr(dmu),
                             _ptr(dlv), _ptr(partials), _ptr(loss), mu.dtype.name, self._stream)
        return float(loss[0]), dmu, dlv

    # ---- activations: activation functions, dropout, random draws --------------------------------------

    def _out_like(self, like, out):
        if out is None:
            return self.cp.empty_like(like)
        return self._writable(out, "out", like)

    def activation_forward(self, name, Z, *, alpha=None, out=None, n_threads=None):
        code, alpha = self._activation(name, alpha)
        Z = self._dense(Z, "Z")
        Y = self._out_like(Z, out)
        self.mod.activation_forward(code, alpha, _ptr(Z), Z.size, _ptr(Y), Z.dtype.name, self._stream)
        return Y

    def activation_backward(self, name, Z, Y, dY, *, alpha=None, out=None, n_threads=None):
        code, alpha = self._activation(name, alpha)
        Z = self._dense(Z, "Z")
        Y = self._dense(Y, "Y", dtype=Z.dtype, shape=Z.shape)
        dY = self._dense(dY, "dY", dtype=Z.dtype, shape=Z.shape)
        dZ = self._out_like(Z, out)
        self.mod.activation_backward(code, alpha, _ptr(Z), _ptr(Y), _ptr(dY), Z.size, _ptr(dZ), Z.dtype.name,
                                     self._stream)
        return dZ

    def dropout(self, X, rate, *, seed=0, step=0, row_offset=0, out=None, n_threads=None):
        X = self._dense(X, "X", ndim=2)
        Y = self._out_like(X, out)
        self.mod.dropout(_ptr(X), X.shape[0], X.shape[1], self._rate(rate, "rate"), check_seed(seed),
                         check_seed(step, "step"), int(row_offset), _ptr(Y), X.dtype.name, self._stream)
        return Y

    def _random(self, fn, shape, seed, step, row_offset, dtype):
        if isinstance(shape, numbers.Integral):
            shape = (1, int(shape))
        n_rows, n_cols = (int(s) for s in shape)
        if n_rows < 0 or n_cols < 0:
            raise ValueError(f"shape must be non-negative, got {shape}")
        dt = check_float_dtype(dtype)
        out = self.cp.empty((n_rows, n_cols), dtype=dt)
        fn(n_rows, n_cols, check_seed(seed), check_seed(step, "step"), int(row_offset), _ptr(out), dt.name,
           self._stream)
        return out

    def random_uniform(self, shape, *, seed, step=0, row_offset=0, dtype=np.float32, n_threads=None):
        return self._random(self.mod.random_uniform, shape, seed, step, row_offset, dtype)

    def random_normal(self, shape, *, seed, step=0, row_offset=0, dtype=np.float32, n_threads=None):
        return self._random(self.mod.random_normal, shape, seed, step, row_offset, dtype)

    # ---- optim ----------------------------------------------------------------------------------------

    def sgd_step(self, param, grad, velocity=None, *, lr, momentum=0.0, nesterov=False, weight_decay=0.0,
                 n_threads=None):
        param = self._writable(param, "param", param)
        grad = self._dense(grad, "grad", dtype=param.dtype, shape=param.shape)
        if velocity is not None:
            velocity = self._writable(velocity, "velocity", param)
        elif momentum:
            raise ValueError("velocity is required when momentum != 0")
        self.mod.sgd_step(_ptr(param), _ptr(grad), _ptr(velocity), param.size, float(check_scalar(lr, "lr", low=0.0)),
                          float(check_scalar(momentum, "momentum", low=0.0, high=1.0)), bool(nesterov),
                          float(check_scalar(weight_decay, "weight_decay", low=0.0)), param.dtype.name, self._stream)

    def _adam_kw(self, t, lr, beta1, beta2, eps, weight_decay):
        return (int(check_scalar(t, "t", kind=numbers.Integral, low=1)), float(check_scalar(lr, "lr", low=0.0)),
                float(check_scalar(beta1, "beta1", low=0.0, high=1.0, high_inclusive=False)),
                float(check_scalar(beta2, "beta2", low=0.0, high=1.0, high_inclusive=False)),
                float(check_scalar(eps, "eps", low=0.0, low_inclusive=False)),
                float(check_scalar(weight_decay, "weight_decay", low=0.0)))

    def adam_step(self, param, grad, m, v, *, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                  decoupled=False, n_threads=None):
        param = self._writable(param, "param", param)
        grad = self._dense(grad, "grad", dtype=param.dtype, shape=param.shape)
        m, v = self._writable(m, "m", param), self._writable(v, "v", param)
        self.mod.adam_step(_ptr(param), _ptr(grad), _ptr(m), _ptr(v), param.size,
                           *self._adam_kw(t, lr, beta1, beta2, eps, weight_decay), bool(decoupled), param.dtype.name,
                           self._stream)

    def _row_slots(self, param, rows, grad_rows):
        """(slot, grad_rows) of a row-compact gradient: slot[r] = position of row r in ``rows`` or −1.
        Rows must be unique and in range: they come from the item-major view (unique by
        construction) or are checked here on the host when given as a NumPy array."""
        cp = self.cp
        if param.ndim != 2:
            raise ValueError(f"param: expected a 2-D array, got shape {param.shape}")
        n_rows, n_cols = param.shape
        if not is_device_array(rows):
            rows = np.asarray(rows)
            if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
                raise TypeError("rows must be a 1-D array of integer row indices")
            if rows.size and (rows.min() < 0 or rows.max() >= n_rows or np.unique(rows).size != rows.size):
                raise ValueError(f"rows must be unique row indices in [0, {n_rows})")
            rows = cp.asarray(rows, dtype=cp.int64)
        elif rows.ndim != 1 or rows.dtype.kind not in "iu":
            raise TypeError("rows must be a 1-D array of integer row indices")
        grad_rows = self._dense(grad_rows, "grad_rows", dtype=param.dtype, shape=(rows.shape[0], n_cols))
        slot = cp.full(n_rows, -1, dtype=cp.int64)
        slot[rows] = cp.arange(rows.shape[0], dtype=cp.int64)
        return slot, grad_rows

    def sgd_step_rows(self, param, rows, grad_rows, velocity=None, *, lr, momentum=0.0, nesterov=False,
                      weight_decay=0.0, n_threads=None):
        param = self._writable(param, "param", param)
        if velocity is not None:
            velocity = self._writable(velocity, "velocity", param)
        elif momentum:
            raise ValueError("velocity is required when momentum != 0")
        slot, grad_rows = self._row_slots(param, rows, grad_rows)
        self.mod.sgd_step_rows(_ptr(param), param.shape[0], param.shape[1], _ptr(slot), _ptr(grad_rows),
                               grad_rows.shape[0], _ptr(velocity), float(check_scalar(lr, "lr", low=0.0)),
                               float(check_scalar(momentum, "momentum", low=0.0, high=1.0)), bool(nesterov),
                               float(check_scalar(weight_decay, "weight_decay", low=0.0)), param.dtype.name,
                               self._stream)

    def adam_step_rows(self, param, rows, grad_rows, m, v, *, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
                       weight_decay=0.0, decoupled=False, n_threads=None):
        param = self._writable(param, "param", param)
        m, v = self._writable(m, "m", param), self._writable(v, "v", param)
        slot, grad_rows = self._row_slots(param, rows, grad_rows)
        self.mod.adam_step_rows(_ptr(param), param.shape[0], param.shape[1], _ptr(slot), _ptr(grad_rows),
                                grad_rows.shape[0], _ptr(m), _ptr(v), *self._adam_kw(t, lr, beta1, beta2, eps,
                                                                                     weight_decay),
                                bool(decoupled), param.dtype.name, self._stream)

    def rprop_step(self, param, grad, prev_grad, step_size, *, eta_minus=0.5, eta_plus=1.2, step_min=1e-6,
                   step_max=50.0, n_threads=None):
        param = self._writable(param, "param", param)
        grad = self._dense(grad, "grad", dtype=param.dtype, shape=param.shape)
        prev_grad, step_size = self._writable(prev_grad, "prev_grad", param), self._writable(step_size, "step_size",
                                                                                            param)
        check_scalar(eta_minus, "eta_minus", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
        check_scalar(eta_plus, "eta_plus", low=1.0, low_inclusive=False)
        check_scalar(step_min, "step_min", low=0.0)
        check_scalar(step_max, "step_max", low=step_min)
        self.mod.rprop_step(_ptr(param), _ptr(grad), _ptr(prev_grad), _ptr(step_size), param.size, float(eta_minus),
                            float(eta_plus), float(step_min), float(step_max), param.dtype.name, self._stream)

    # ---- topk ------------------------------------------------------------------------------------------

    def topk(self, scores, k, *, exclude=None, candidates=None, n_threads=None):
        """``kernels.topk`` on the device: returns device ``(indices int64, scores)``, (n_rows, k).

        Keys from the kernel, then CuPy's stable argsort per row (best first, lower index first
        among equal scores, NaN/excluded/non-candidates last → index −1, score −inf)."""
        cp = self.cp
        scores = self._dense(scores, "scores", ndim=2)
        k = int(check_scalar(k, "k", kind=numbers.Integral, low=1))
        n_rows, n_items = scores.shape
        E = None
        if exclude is not None:
            E = self.csr(exclude, n_cols=n_items, pattern_only=True, name="exclude")
            if E.shape[0] != n_rows:
                raise ValueError(f"exclude has {E.shape[0]} rows but scores has {n_rows}")
        allowed = None
        if candidates is not None:
            cand = np.asarray(candidates.get() if is_device_array(candidates) else candidates)
            if cand.ndim != 1 or (cand.size and not np.issubdtype(cand.dtype, np.integer)):
                raise TypeError("candidates must be a 1-D array of integer item ids")
            if cand.size and (cand.min() < 0 or cand.max() >= n_items):
                raise ValueError(f"candidates must be item ids in [0, {n_items})")
            mask = np.zeros(n_items, dtype=np.uint8)
            mask[cand] = 1
            allowed = cp.asarray(mask)
        key_dtype = cp.uint32 if scores.dtype == np.float32 else cp.uint64
        keys = cp.empty((n_rows, n_items), dtype=key_dtype)
        self.mod.topk_keys(_ptr(scores), n_rows, n_items, _ptr(E.indptr) if E else 0, _ptr(E.indices) if E else 0,
                           E.nnz if E else 0, E.index_dtype if E else "int32", _ptr(allowed), _ptr(keys),
                           scores.dtype.name, self._stream)
        kk = min(k, n_items)
        order = cp.argsort(keys, axis=1)[:, :kk]  # stable: equal keys keep the lower item first
        valid = cp.take_along_axis(keys, order, axis=1) != cp.iinfo(key_dtype).max
        idx = cp.full((n_rows, k), -1, dtype=cp.int64)
        val = cp.full((n_rows, k), -cp.inf, dtype=scores.dtype)
        idx[:, :kk] = cp.where(valid, order, -1)
        val[:, :kk] = cp.where(valid, cp.take_along_axis(scores, order, axis=1), -cp.inf)
        return idx, val

    # ---- gram: sparse Gram ------------------------------------------------------------------------------

    def sparse_gram(self, X, *, n_threads=None):
        """``G = XᵀX`` (n_items, n_items) on the device, in X's dtype."""
        Xd = self.csr(X)
        n = Xd.shape[1]
        col_ptr, rows, pos = Xd.column_pointers(self.cp)
        G = self.cp.empty((n, n), dtype=Xd.data.dtype)
        self.mod.sparse_gram(_ptr(Xd.indptr), _ptr(Xd.indices), _ptr(Xd.data), Xd.index_dtype, Xd.shape[0], n,
                             Xd.nnz, _ptr(col_ptr), _ptr(rows), _ptr(pos), _ptr(G), Xd.data.dtype.name, self._stream)
        return G


def cuda_status():
    """(usable, reason): whether a CudaBackend can be made here, and what is missing if not."""
    if _native.cuda_module is None:
        return False, "aerec was built without CUDA (rebuild with AEREC_CUDA=1 pip install .)"
    if not _native.HAS_CUDA:
        return False, "no CUDA device is visible (the CUDA module reports 0 devices)"
    try:
        cp = import_cupy()
    except ImportError:
        return False, "CuPy is not installed (pip install 'aerec[cuda]', i.e. cupy-cuda13x)"
    except Exception as exc:  # noqa: BLE001 - a broken CuPy must not break device='auto' on the CPU
        return False, f"CuPy failed to import ({type(exc).__name__}: {exc})"
    problem = _smoke_test(cp)
    if problem:
        return False, f"CuPy cannot run here ({problem}); check the CUDA libraries it needs (cuBLAS, NVRTC)"
    return True, ""


_SMOKE = {}


def _smoke_test(cp):
    """'' when CuPy can compile an elementwise kernel (NVRTC) and call cuBLAS here, else the error.
    Done once per CuPy module object: the first call costs a kernel compilation (cached on disk)."""
    known = _SMOKE.get(id(cp))
    if known is None or known[0] is not cp:  # (the module itself is kept: ids can be reused)
        try:
            a = cp.arange(4, dtype=cp.float32)
            float(a @ a)
            known = (cp, "")
        except Exception as exc:  # noqa: BLE001 - any failure means: do not pick the GPU
            known = (cp, f"{type(exc).__name__}: {exc}")
        _SMOKE[id(cp)] = known
    return known[1]
