"""Argument validation: the Python wrappers reject bad input before native code runs, and the C++
bindings (the last line of defence) raise too — never crash."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import INDEX_DTYPES, ISAS, make_csr, readonly

from aerec import _native, kernels

N_ROWS, N_ITEMS, H = 6, 9, 3


class _NativeMustNotRun:
    """Stands in for the native module: any kernel call fails the test."""

    def __getattr__(self, name):
        def call(*args, **kwargs):
            pytest.fail(f"native {name} was called; the Python wrapper should have raised first")

        return call


@pytest.fixture
def no_native(monkeypatch):
    monkeypatch.setattr(kernels, "_mod", lambda: _NativeMustNotRun())


def _X(dtype=np.float64, index_dtype=np.int64, n_cols=N_ITEMS):
    return make_csr(N_ROWS, n_cols, 0.4, dtype, index_dtype, seed=3)


def _corrupt(X, what):
    """A copy of X with one structural defect (assigned directly, bypassing scipy's checks)."""
    Y = X.copy()
    ip, ix = np.array(X.indptr), np.array(X.indices)
    full = slice(ip[1], ip[2])  # row 1 holds every used item (>= 2 entries)
    if what == "index_out_of_range":
        ix[-1] = X.shape[1]
    elif what == "negative_index":
        ix[ip[1]] = -1
    elif what == "unsorted":
        ix[full] = ix[full][::-1]
    elif what == "duplicate":
        ix[ip[1] + 1] = ix[ip[1]]
    elif what == "indptr0_nonzero":
        ip[0] = 1
    elif what == "decreasing_indptr":
        ip[2] = ip[3] + 1  # row 1 ends after row 2 does; still within nnz
        ip[3] = ip[3] - 1 if ip[3] > 0 else 0
        assert np.any(np.diff(ip) < 0) and ip.max() <= ix.size
    elif what == "indptr_last_not_nnz":
        ip[-1] -= 1
    elif what == "indptr_wrong_length":
        ip = ip[:-1]
    else:
        raise AssertionError(what)
    Y.indptr, Y.indices = ip.astype(X.indptr.dtype), ix.astype(X.indices.dtype)
    return Y


DEFECTS = ["index_out_of_range", "negative_index", "unsorted", "duplicate", "indptr0_nonzero",
           "decreasing_indptr", "indptr_last_not_nnz", "indptr_wrong_length"]


def _call_with_csr(fn, X):
    """Call the wrapper ``fn`` with the CSR ``X`` and otherwise valid arguments."""
    rng = np.random.default_rng(0)
    n_rows = X.shape[0] if hasattr(X, "shape") else len(X)
    W = readonly(rng.standard_normal((N_ITEMS, H)))
    if fn == "sparse_encoder_forward":
        return kernels.sparse_encoder_forward(X, W)
    if fn == "sparse_encoder_backward":
        return kernels.sparse_encoder_backward(X, readonly(np.ones((n_rows, H))))
    if fn == "masked_decoder_forward":
        return kernels.masked_decoder_forward(X, readonly(np.ones((n_rows, H))), W)
    if fn == "masked_decoder_backward":
        nnz = X.indices.size if hasattr(X, "indices") else 1
        return kernels.masked_decoder_backward(X, readonly(np.ones((n_rows, H))), W, readonly(np.ones(nnz)))
    if fn == "multinomial_loss_grad":
        return kernels.multinomial_loss_grad(np.zeros((n_rows, N_ITEMS)), X)
    if fn == "topk":
        return kernels.topk(readonly(np.ones((n_rows, N_ITEMS))), 2, exclude=X)
    raise AssertionError(fn)


CSR_FUNCS = ["sparse_encoder_forward", "sparse_encoder_backward", "masked_decoder_forward",
             "masked_decoder_backward", "multinomial_loss_grad", "topk"]


@pytest.mark.parametrize("fn", CSR_FUNCS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_valid_csr_is_accepted(fn, index_dtype):
    _call_with_csr(fn, _X(index_dtype=index_dtype))
    _call_with_csr(fn, sp.csr_matrix(_X(index_dtype=index_dtype)))  # the legacy matrix class too


@pytest.mark.parametrize("defect", DEFECTS)
@pytest.mark.parametrize("fn", CSR_FUNCS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_malformed_csr_rejected_by_wrapper(no_native, fn, index_dtype, defect):
    X = _corrupt(_X(index_dtype=index_dtype), defect)
    with pytest.raises(ValueError):
        _call_with_csr(fn, X)


@pytest.mark.parametrize("fn", [f for f in CSR_FUNCS if f != "sparse_encoder_backward"])  # it has no W
def test_wrong_number_of_columns(no_native, fn):
    with pytest.raises(ValueError, match="columns"):
        _call_with_csr(fn, _X(n_cols=N_ITEMS + 1))


@pytest.mark.parametrize("fn", ["sparse_encoder_forward", "sparse_encoder_backward", "multinomial_loss_grad"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_values_rejected(no_native, fn, bad):
    X = _X()
    data = np.array(X.data)
    data[2] = bad
    X = X.copy()
    X.data = data
    with pytest.raises(ValueError, match="NaN or infinite"):
        _call_with_csr(fn, X)


@pytest.mark.parametrize("delta", [-1, 1])
def test_data_length_not_nnz(delta):
    """X.data with one value too few or too many is refused (by the wrapper or the binding)."""
    X = _X()
    Y = X.copy()
    Y.data = np.array(X.data[:-1]) if delta < 0 else np.append(X.data, 1.0)
    with pytest.raises(ValueError):
        kernels.sparse_encoder_forward(Y, np.ones((N_ITEMS, H)))
    with pytest.raises(ValueError):
        kernels.multinomial_loss_grad(np.zeros((N_ROWS, N_ITEMS)), Y)


# ---- the raw bindings (last line of defence) ----------------------------------------------------


def _raw_csr(defect, index_dtype):
    X = _X(index_dtype=index_dtype)
    Y = _corrupt(X, defect)
    return np.ascontiguousarray(Y.indptr), np.ascontiguousarray(Y.indices), np.ascontiguousarray(Y.data)


RAW_DEFECTS = [d for d in DEFECTS if d != "indptr_wrong_length"]


@pytest.mark.parametrize("defect", RAW_DEFECTS)
@pytest.mark.parametrize("index_dtype", INDEX_DTYPES)
def test_raw_bindings_reject_malformed_csr(isa, index_dtype, defect):
    m = _native.cpu_module()
    ip, ix, data = _raw_csr(defect, index_dtype)
    n_rows = ip.size - 1
    W = np.ones((N_ITEMS, H))
    with pytest.raises(ValueError):
        m.sparse_encoder_forward(ip, ix, data, N_ITEMS, W, None, None, 0.0, 0, 0, 0, 1)
    with pytest.raises(ValueError):
        m.sparse_encoder_backward(ip, ix, data, N_ITEMS, np.ones((n_rows, H)), None, 0.0, 0, 0, 0, 1)
    with pytest.raises(ValueError):
        m.masked_decoder_forward(ip, ix, N_ITEMS, np.ones((n_rows, H)), W, None, 1)
    with pytest.raises(ValueError):
        m.masked_decoder_backward(ip, ix, N_ITEMS, np.ones((n_rows, H)), W, np.ones(ix.size), 1)
    with pytest.raises(ValueError):
        m.multinomial_loss_grad(np.zeros((n_rows, N_ITEMS)), None, ip, ix, data, 1.0, 1)
    with pytest.raises(ValueError):
        m.topk(np.ones((n_rows, N_ITEMS)), 2, ip, ix, None, 1)


def test_raw_bindings_reject_bad_arguments(isa):
    m = _native.cpu_module()
    X = _X()
    ip, ix, data = X.indptr, X.indices, X.data
    W = np.ones((N_ITEMS, H))
    with pytest.raises(ValueError):  # n_threads
        m.sparse_encoder_forward(ip, ix, data, N_ITEMS, W, None, None, 0.0, 0, 0, 0, 0)
    for rate in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError):
            m.sparse_encoder_forward(ip, ix, data, N_ITEMS, W, None, None, rate, 0, 0, 0, 1)
        with pytest.raises(ValueError):
            m.dropout(np.ones((2, 2)), rate, 0, 0, 0, None, 1)
    with pytest.raises(TypeError):  # W float16
        m.sparse_encoder_forward(ip, ix, data, N_ITEMS, W.astype(np.float16), None, None, 0.0, 0, 0, 0, 1)
    with pytest.raises(TypeError):  # data float32, W float64
        m.sparse_encoder_forward(ip, ix, data.astype(np.float32), N_ITEMS, W, None, None, 0.0, 0, 0, 0, 1)
    with pytest.raises(TypeError):  # indptr int32, indices int64
        m.sparse_encoder_forward(ip.astype(np.int32), ix, data, N_ITEMS, W, None, None, 0.0, 0, 0, 0, 1)
    with pytest.raises(TypeError):  # uint32 indices
        m.sparse_encoder_forward(ip.astype(np.uint32), ix.astype(np.uint32), data, N_ITEMS, W, None, None, 0.0, 0,
                                 0, 0, 1)
    with pytest.raises(ValueError):  # W with the wrong number of rows
        m.sparse_encoder_forward(ip, ix, data, N_ITEMS, np.ones((N_ITEMS + 1, H)), None, None, 0.0, 0, 0, 0, 1)
    with pytest.raises(ValueError):  # X.data shorter than nnz
        m.sparse_encoder_forward(ip, ix, data[:-1].copy(), N_ITEMS, W, None, None, 0.0, 0, 0, 0, 1)
    with pytest.raises(ValueError):  # k = 0
        m.topk(np.ones((2, 3)), 0, None, None, None, 1)
    with pytest.raises(ValueError):  # unsorted candidates
        m.topk(np.ones((2, 3)), 1, None, None, np.array([2, 0], dtype=np.int64), 1)
    with pytest.raises(ValueError):  # candidate out of range
        m.topk(np.ones((2, 3)), 1, None, None, np.array([0, 3], dtype=np.int64), 1)
    with pytest.raises(ValueError):  # read-only logits written in place
        m.multinomial_loss_grad(readonly(np.zeros((N_ROWS, N_ITEMS))), None, ip, ix, data, 1.0, 1)
    with pytest.raises(ValueError):  # read-only param
        m.sgd_step(readonly(np.zeros(3)), np.zeros(3), None, 0.1, 0.0, False, 0.0, 1)
    with pytest.raises(ValueError):  # unknown activation code
        m.activation_forward(99, 0.0, np.zeros(3), None, 1)


_OOB_SCRIPT = textwrap.dedent("""
    import ctypes, mmap, sys
    import numpy as np
    from aerec import _native
    m = _native.cpu_module()
    assert _native.active_isa() == sys.argv[1], _native.active_isa()
    # The indices live at the start of a page that is followed by an inaccessible page, so a
    # read past their end faults. indptr climbs past nnz before it comes back down: a binding that
    # scans indices[indptr[r]:indptr[r+1]] before checking indptr reads out of bounds.
    PAGE = mmap.PAGESIZE
    libc = ctypes.CDLL(None)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    addr = libc.mmap(None, 2 * PAGE, 3, 0x22, -1, 0)          # PROT_READ|WRITE, MAP_PRIVATE|ANONYMOUS
    assert addr not in (None, ctypes.c_void_p(-1).value)
    assert libc.mprotect(addr + PAGE, PAGE, 0) == 0          # PROT_NONE guard page
    n = PAGE // 8
    page = np.ctypeslib.as_array((ctypes.c_int64 * n).from_address(addr))
    page[:] = np.arange(n)                                   # valid, sorted column ids
    indices = page[:2]                                       # nnz = 2
    indptr = np.array([0, n + 10, 2], dtype=np.int64)        # indptr[1] > nnz, then decreases
    n_cols = n + 100
    try:
        m.sparse_encoder_forward(indptr, indices, np.ones(2), n_cols, np.ones((n_cols, 1)), None, None,
                                 0.0, 0, 0, 0, 1)
    except ValueError as exc:
        print("ValueError:", exc)
        sys.exit(0)
    print("no error raised")
    sys.exit(3)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses mmap/mprotect through ctypes")
@pytest.mark.parametrize("isa_name", ISAS)
def test_raw_bindings_check_indptr_before_reading_indices(isa_name):
    """indptr that overshoots nnz must raise ValueError without reading past the indices array.

    Run in a subprocess: an out-of-bounds read here is a segmentation fault, which would otherwise
    take the whole test session down.
    """
    env = {**os.environ, "AEREC_ISA": isa_name}
    proc = subprocess.run([sys.executable, "-c", _OOB_SCRIPT, isa_name], capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 0 and "ValueError" in proc.stdout, (
        f"returncode {proc.returncode} (negative = killed by that signal; -11 = SIGSEGV)\n"
        f"stdout: {proc.stdout}\nstderr: {proc.stderr[-2000:]}"
    )


# ---- dtypes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.float16, np.int32, np.int64, np.complex128, object])
def test_wrong_dense_dtype(no_native, bad):
    X = _X()
    W = np.ones((N_ITEMS, H)).astype(bad)
    with pytest.raises(TypeError):
        kernels.sparse_encoder_forward(X, W)
    with pytest.raises(TypeError):
        kernels.masked_decoder_forward(X, np.ones((N_ROWS, H)).astype(bad), W)
    with pytest.raises(TypeError):
        kernels.activation_forward("relu", np.ones(3).astype(bad))
    with pytest.raises(TypeError):
        kernels.masked_mse(np.ones(3).astype(bad), np.ones(3).astype(bad))
    with pytest.raises(TypeError):
        kernels.gaussian_kl(np.ones((2, 2)).astype(bad), np.ones((2, 2)).astype(bad))
    with pytest.raises(TypeError):
        kernels.topk(np.ones((2, 2)).astype(bad), 1)
    with pytest.raises(TypeError):
        kernels.sgd_step(np.ones(3).astype(bad), np.ones(3).astype(bad), lr=0.1)
    with pytest.raises(TypeError):
        kernels.dropout(np.ones((2, 2)).astype(bad), 0.5)
    with pytest.raises(TypeError):
        kernels.random_uniform((2, 2), seed=0, dtype=bad)


@pytest.mark.parametrize("bad", [np.float16, np.int64, np.complex128])
def test_wrong_sparse_value_dtype(no_native, bad):
    X = _X()
    X.data = np.ones(X.nnz, dtype=bad)
    with pytest.raises(TypeError):
        kernels.sparse_encoder_forward(X, np.ones((N_ITEMS, H)))
    with pytest.raises(TypeError):
        kernels.sparse_encoder_forward(X, np.ones((N_ITEMS, H), np.float32))


def test_wrong_sparse_index_dtype(no_native):
    X = _X()
    X.indices = np.array(X.indices, dtype=np.uint32)
    with pytest.raises(TypeError):
        kernels.sparse_encoder_forward(X, np.ones((N_ITEMS, H)))


@pytest.mark.parametrize("x_dtype,w_dtype", [(np.float32, np.float64), (np.float64, np.float32)])
def test_mismatched_dtypes(no_native, x_dtype, w_dtype):
    X = _X(dtype=x_dtype)
    W = np.ones((N_ITEMS, H), w_dtype)
    with pytest.raises(TypeError):
        kernels.sparse_encoder_forward(X, W)
    with pytest.raises(TypeError):
        kernels.sparse_encoder_backward(X, np.ones((N_ROWS, H), w_dtype))
    with pytest.raises(TypeError):
        kernels.multinomial_loss_grad(np.zeros((N_ROWS, N_ITEMS), w_dtype), X)
    with pytest.raises(TypeError):  # bias of the other dtype
        kernels.sparse_encoder_forward(_X(dtype=w_dtype), W, np.ones(H, x_dtype))
    with pytest.raises(TypeError):
        kernels.masked_decoder_forward(X, np.ones((N_ROWS, H), x_dtype), W)
    with pytest.raises(TypeError):
        kernels.masked_mse(np.ones(3, x_dtype), np.ones(3, w_dtype))
    with pytest.raises(TypeError):
        kernels.gaussian_kl(np.ones((2, 2), x_dtype), np.ones((2, 2), w_dtype))
    with pytest.raises(TypeError):
        kernels.activation_backward("relu", np.ones(3, x_dtype), np.ones(3, w_dtype), np.ones(3, x_dtype))


# ---- scalars and shapes --------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [1.0, -0.1, 1.5, float("nan"), float("inf")])
def test_bad_dropout_rate(no_native, rate):
    X, W = _X(), np.ones((N_ITEMS, H))
    with pytest.raises(ValueError):
        kernels.sparse_encoder_forward(X, W, dropout=rate)
    with pytest.raises(ValueError):
        kernels.sparse_encoder_backward(X, np.ones((N_ROWS, H)), dropout=rate)
    with pytest.raises(ValueError):
        kernels.dropout(np.ones((2, 2)), rate)


def test_bad_n_threads(no_native):
    X, W = _X(), np.ones((N_ITEMS, H))
    with pytest.raises(ValueError):
        kernels.sparse_encoder_forward(X, W, n_threads=0)
    with pytest.raises(ValueError):
        kernels.topk(np.ones((2, 2)), 1, n_threads=0)
    with pytest.raises(ValueError):
        kernels.masked_mse(np.ones(2), np.ones(2), n_threads=0)
    with pytest.raises(TypeError):
        kernels.sparse_encoder_forward(X, W, n_threads=1.5)
    with pytest.raises(TypeError):
        kernels.sparse_encoder_forward(X, W, n_threads=True)


def test_negative_n_threads_means_all_but(isa):
    X, W = _X(), readonly(np.ones((N_ITEMS, H)))
    np.testing.assert_array_equal(kernels.sparse_encoder_forward(X, W, n_threads=-1),
                                  kernels.sparse_encoder_forward(X, W, n_threads=1))
    np.testing.assert_array_equal(kernels.sparse_encoder_forward(X, W, n_threads=-100),
                                  kernels.sparse_encoder_forward(X, W, n_threads=None))


@pytest.mark.parametrize("fn", CSR_FUNCS)
@pytest.mark.parametrize("make", ["coo", "csc", "dense", "list", "bsr"])
def test_non_csr_input(no_native, fn, make):
    X = _X()
    bad = {"coo": lambda: X.tocoo(), "csc": lambda: X.tocsc(), "dense": lambda: X.toarray(),
           "list": lambda: X.toarray().tolist(), "bsr": lambda: X.tobsr()}[make]()
    with pytest.raises(TypeError, match="CSR"):
        _call_with_csr(fn, bad)


def test_bad_seeds(no_native):
    X, W = _X(), np.ones((N_ITEMS, H))
    for seed in (-1, 2**64, 1.5, True):
        with pytest.raises(ValueError):
            kernels.sparse_encoder_forward(X, W, dropout=0.5, seed=seed)
        with pytest.raises(ValueError):
            kernels.random_uniform((2, 2), seed=seed)
    with pytest.raises(ValueError):
        kernels.dropout(np.ones((2, 2)), 0.5, step=-3)


def test_bad_shapes(no_native):
    X, W = _X(), np.ones((N_ITEMS, H))
    with pytest.raises(ValueError):
        kernels.sparse_encoder_forward(X, W, np.ones(H + 1))
    with pytest.raises(ValueError):
        kernels.sparse_encoder_forward(X, W, np.ones((1, H)))
    with pytest.raises(ValueError):
        kernels.sparse_encoder_forward(X, W, row_scale=np.ones(N_ROWS + 1))
    with pytest.raises(ValueError):
        kernels.sparse_encoder_forward(X, np.ones(N_ITEMS))
    with pytest.raises(ValueError):
        kernels.sparse_encoder_forward(X, np.asfortranarray(np.ones((N_ITEMS, H))))
    with pytest.raises(ValueError):
        kernels.sparse_encoder_backward(X, np.ones((N_ROWS + 1, H)))
    with pytest.raises(ValueError):
        kernels.masked_decoder_forward(X, np.ones((N_ROWS + 1, H)), W)
    with pytest.raises(ValueError):
        kernels.masked_decoder_forward(X, np.ones((N_ROWS, H)), np.ones((N_ITEMS, H + 1)))
    with pytest.raises(ValueError):
        kernels.masked_decoder_forward(X, np.ones((N_ROWS, H)), W, np.ones(N_ITEMS - 1))
    with pytest.raises(ValueError):
        kernels.masked_decoder_backward(X, np.ones((N_ROWS, H)), W, np.ones(X.nnz + 1))
    with pytest.raises(ValueError):
        kernels.multinomial_loss_grad(np.zeros((N_ROWS + 1, N_ITEMS)), X)
    with pytest.raises(ValueError):
        kernels.masked_mse(np.ones(3), np.ones(4))
    with pytest.raises(ValueError):
        kernels.gaussian_kl(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError):
        kernels.activation_backward("relu", np.ones(3), np.ones(4), np.ones(3))
    with pytest.raises(ValueError):
        kernels.random_normal((-1, 3), seed=0)
    with pytest.raises(ValueError):
        kernels.topk(np.ones((2, N_ITEMS)), 1, exclude=X)  # exclude has N_ROWS rows


# ---- top-k arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, -1])
def test_topk_bad_k(no_native, k):
    with pytest.raises(ValueError):
        kernels.topk(np.ones((2, 5)), k)


def test_topk_k_must_be_integer(no_native):
    with pytest.raises(TypeError):
        kernels.topk(np.ones((2, 5)), 2.0)


@pytest.mark.parametrize("cand", [[0, 5], [-1, 2], [7]])
def test_topk_candidates_out_of_range(no_native, cand):
    with pytest.raises(ValueError):
        kernels.topk(np.ones((2, 5)), 2, candidates=np.array(cand))


@pytest.mark.parametrize("cand", [np.array([0.0, 1.0]), np.array([[0, 1]]), np.array(["a"])])
def test_topk_candidates_wrong_type(no_native, cand):
    with pytest.raises(TypeError):
        kernels.topk(np.ones((2, 5)), 2, candidates=cand)


def _odd_offset(shape, dtype):
    """A C-contiguous array whose data starts one byte past its dtype's alignment."""
    n = int(np.prod(shape))
    itemsize = np.dtype(dtype).itemsize
    a = np.frombuffer(np.zeros(n * itemsize + 1, np.uint8).data, dtype=dtype, count=n, offset=1).reshape(shape)
    assert a.flags.c_contiguous and not a.flags.aligned
    return a


def test_misaligned_dense_arrays_are_rejected_by_wrapper_and_binding(isa):
    """Reading a float through a misaligned pointer is undefined behaviour in C++: both layers refuse."""
    X = _X(np.float32)
    W = _odd_offset((N_ITEMS, H), np.float32)
    with pytest.raises(ValueError, match="aligned"):
        kernels.sparse_encoder_forward(X, W)
    with pytest.raises(ValueError, match="aligned"):
        _native.cpu_module().activation_forward(2, 0.0, _odd_offset((4, 3), np.float32), None, 1)
