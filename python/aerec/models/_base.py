"""What every aerec estimator shares: input validation, batched predict/recommend, score,
save, the Ctrl-C guard and progress reporting. Estimators only orchestrate: the maths is in the
engine and the kernels.
"""

from __future__ import annotations

import numbers
import os

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import kernels, persistence
from .._threads import blas_threads, effective_n_threads
from .._validation import check_bool, check_float_dtype, check_sparse_structure
from ..engine.backend import CpuBackend, resolve_device
from ..engine.cuda import CudaBackend, cuda_status
from ..engine.trainer import progress_iter
from ..metrics import ndcg_at_k
from ..model_selection import holdout_items

#: Refuse to build a dense (rows × items) or (items × items) array larger than this many bytes
#: unless the caller raises it (``AEREC_MAX_DENSE_BYTES``); recommend() and batching avoid it.
DEFAULT_MAX_DENSE_BYTES = int(os.environ.get("AEREC_MAX_DENSE_BYTES", 8 * 2**30))


def check_dense_size(shape, dtype, what, alternative):
    """Raise MemoryError naming the size when a dense array of ``shape`` would exceed the limit."""
    n_bytes = int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
    if n_bytes > DEFAULT_MAX_DENSE_BYTES:
        raise MemoryError(
            f"{what} would need a dense {shape[0]:,} × {shape[1]:,} {np.dtype(dtype).name} array "
            f"({n_bytes / 2**30:.1f} GiB), above the limit of {DEFAULT_MAX_DENSE_BYTES / 2**30:.1f} GiB "
            f"(AEREC_MAX_DENSE_BYTES). {alternative}"
        )
    return n_bytes


def check_batch_size(batch_size, name="batch_size"):
    """A positive integer number of rows (bool, float and values below 1 are refused)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer or None, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"{name} must be >= 1, got {batch_size!r}")
    return int(batch_size)


def to_csr(X, dtype, *, what="X", implicit=True, binarize=True):
    """Any scipy.sparse matrix or dense array → canonical CSR of ``dtype``.

    Explicit (rating) models keep the values; implicit models reject negative values and treat
    every positive value as one interaction (binarised), or as a weight with ``binarize=False``.
    Zeros are never interactions.
    COO-style duplicate entries are summed first, as scipy does when converting.
    """
    if sp.issparse(X):
        check_sparse_structure(X, what)  # before SciPy itself touches the index arrays
        X = sp.csr_array(X, dtype=dtype, copy=True)
    else:
        X = sp.csr_array(np.asarray(X, dtype=dtype))
    X.sum_duplicates()
    X.sort_indices()
    if X.nnz and not np.isfinite(X.data).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    if implicit:
        if X.nnz and X.data.min() < 0:
            raise ValueError(f"Negative values in data passed to {what}: implicit-feedback models take "
                             "interaction counts or weights >= 0 (positive = interaction)")
    X.eliminate_zeros()  # before binarising: a stored zero is no interaction
    if implicit and binarize:
        X.data[:] = 1
    if X.indptr.dtype != X.indices.dtype:
        X.indptr = X.indptr.astype(X.indices.dtype)
    return X


def check_matrix_input(X, what="X", *, one_row_ok=False):
    """Refuse, with aerec's own one-line messages, inputs that are not a users × items matrix, before
    scikit-learn's validation sees them: interaction records (a DataFrame with user/item columns, or
    a dense array of a few columns of ids), strings, complex values (NaN/inf: ``to_csr``). With ``one_row_ok`` a
    1-D sparse row (``X[0]`` of the ``csr_array`` aerec returns) is one user; a 1-D dense array is
    refused with the reshape to use. Returns X (reshaped)."""
    columns = getattr(X, "columns", None)
    if columns is not None and not sp.issparse(X):  # a pandas (or polars) DataFrame
        names = [str(c) for c in columns]
        lower = [n.lower() for n in names]
        has_user = any("user" in n or n in ("uid", "customer") for n in lower)
        has_item = any(w in n for n in lower for w in ("item", "movie", "product", "iid"))
        if len(names) <= 6 and has_user and has_item:
            raise ValueError(
                f"{what} looks like interaction records (a DataFrame with columns {names}), not a users × items "
                "matrix: build the matrix with aerec.data.IdMapper(user_col=..., item_col=..., rating_col=...)"
                ".fit_transform(df) and fit on that (the mapper turns the rows of recommend back into your ids)")
    if sp.issparse(X):
        if X.dtype.kind == "c":
            raise ValueError(f"Complex data not supported: {what} is a sparse matrix of dtype {X.dtype}")
        if X.ndim == 1 and one_row_ok:
            C = sp.coo_array(X)
            (cols,) = C.coords
            if cols.size and (cols.min() < 0 or cols.max() >= C.shape[0]):
                raise ValueError(f"{what}: an index is out of range [0, {C.shape[0]})")
            X = sp.csr_array((C.data, (np.zeros_like(cols), cols)), shape=(1, C.shape[0]))
        return X
    a = X if isinstance(X, np.ndarray) else None
    if a is None:
        try:
            a = np.asarray(X)
        except Exception:  # ragged lists and the like: scikit-learn's validation explains those
            return X
    if a.dtype.kind in "US" or (a.dtype.kind == "O" and any(isinstance(v, (str, bytes)) for v in a.flat)):
        raise ValueError(f"{what} holds strings (dtype {a.dtype}); aerec models take a numeric users × items "
                         "matrix: turn records of ids into one with aerec.data.IdMapper")
    if a.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {what} has dtype {a.dtype}")
    if a.ndim == 1 and one_row_ok:
        raise ValueError(f"{what} is 1-D (shape {a.shape}): pass a users × items matrix, one row per user — "
                         "X[[i]] rather than X[i], or x.reshape(1, -1). Reshape your data")
    if a.ndim == 2 and 2 <= a.shape[1] <= 4 and a.shape[0] >= 50 and a.dtype.kind in "iuf" and _looks_like_ids(a):
        raise ValueError(
            f"{what} ({a.shape[0]:,} rows × {a.shape[1]} columns, whole numbers with many distinct values in the "
            "first columns) looks like interaction records (user id, item id[, rating…]), not a users × "
            "items matrix: build the matrix with aerec.data.IdMapper().fit_transform((users, items[, ratings])). "
            "If it really is a users × items matrix, pass it as a scipy.sparse matrix")
    return X


def _looks_like_ids(a):
    """A column of non-negative whole numbers with more distinct values than ratings or small counts have."""
    for j in range(min(2, a.shape[1])):
        col = a[:, j]
        if (col >= 0).all() and (col == np.floor(col)).all() and np.unique(col).size > 50:
            return True
    return False


def _aligned(value):
    """``value`` with every NumPy array in it (directly, or in a list, tuple or dict) aligned to its
    dtype; the same object when nothing needed a copy."""
    if isinstance(value, np.ndarray):
        return value if value.flags.aligned else np.array(value)
    if type(value) in (list, tuple):
        items = [_aligned(v) for v in value]
        return value if all(a is b for a, b in zip(items, value)) else type(value)(items)
    if type(value) is dict:
        items = {k: _aligned(v) for k, v in value.items()}
        return value if all(items[k] is v for k, v in value.items()) else items
    return value


def check_activation(value, name="activation", aliases=None):
    """An activation the kernels implement (``kernels.ACTIVATIONS``) or one of ``aliases`` (alias →
    kernel name); returns the kernel's name."""
    aliases = aliases or {}
    if not isinstance(value, str) or (value not in kernels.ACTIVATIONS and value not in aliases):
        raise ValueError(f"unknown {name} {value!r}; expected one of {sorted(kernels.ACTIVATIONS) + sorted(aliases)}")
    return aliases.get(value, value)


def available_memory_bytes():
    """Physical memory currently available (Linux: MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


class RecommenderBase(BaseEstimator):
    """Base of the aerec estimators (users × items input, sklearn conventions).

    Subclasses implement ``_fit(X, ...)`` and ``_score_batch(X_csr) -> dense scores`` and set
    ``_implicit`` (True: positive values are interactions, ``score`` is NDCG@100; False: values are
    ratings, ``score`` is −RMSE).
    """

    _implicit = True
    _score_k = 100
    _batch_rows = 1000  # rows per batch in predict/recommend

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):  # a public estimator: aerec.load can rebuild it
            persistence.register(cls)

    # ---- validation helpers ------------------------------------------------------------------

    def _dtype(self):
        return check_float_dtype(getattr(self, "dtype", "float32"))

    def _validate(self, X, *, reset):
        dtype = self._dtype() if reset else self.dtype_
        X = check_matrix_input(X, one_row_ok=not reset)
        if sp.issparse(X):
            check_sparse_structure(X)
        binarize = check_bool(getattr(self, "binarize", True), "binarize")  # 'no' would be truthy: refuse
        # NaN/inf are found once, by to_csr, with aerec's message (not scikit-learn's estimator advice)
        X = validate_data(self, X, accept_sparse=True, dtype=[np.float32, np.float64], reset=reset,
                          ensure_min_samples=1, ensure_all_finite=False)
        return to_csr(X, dtype, implicit=self._implicit, binarize=binarize)

    def _resolve_common(self, par=None):
        """random_state, threads and device resolved into locals at fit time. With ``par`` (MPI), a
        random_state of None or a RandomState becomes one seed shared by every rank, and the device
        is the CPU ('cuda' is refused)."""
        random_state = getattr(self, "random_state", None)
        if isinstance(random_state, bool) or not (random_state is None or isinstance(random_state, numbers.Integral)
                                                  or isinstance(random_state, np.random.RandomState)):
            raise TypeError(f"random_state must be None, an int or a numpy RandomState, got {random_state!r}")
        if par is not None:
            random_state = par.random_state  # the same on every rank
        try:
            rng = check_random_state(random_state)
        except ValueError as exc:  # e.g. a negative seed
            raise ValueError(f"random_state: {exc}") from None
        n_threads = effective_n_threads(getattr(self, "n_threads", None))
        if par is None:
            return rng, n_threads, resolve_device(getattr(self, "device", "auto"))
        if getattr(self, "device", "auto") == "cuda":
            raise ValueError("training over MPI runs on the CPU: pass device='cpu' (or 'auto')")
        return rng, n_threads, "cpu"

    def _with_y(self, X, y):
        """fit(X, y): a users × items y (the held-out part of the same users, as in score(X, y)) is
        merged into X so training users contribute all their items; a 1-D y (scikit-learn's
        unsupervised convention) or None is ignored."""
        if y is None:
            return X
        if not sp.issparse(y):
            y = np.asarray(y)
            if y.ndim == 1:
                return X
        Y = to_csr(y, self.dtype_, what="y", implicit=self._implicit)
        if Y.shape != X.shape:
            raise ValueError(f"y has shape {Y.shape}; expected {X.shape} (the held-out part of X's users) or None")
        if self._implicit:
            return to_csr(X + Y, self.dtype_, implicit=True)
        overlap = X.multiply(Y).nnz
        if overlap:
            raise ValueError(f"X and y both rate {overlap} (user, item) pairs; they must be disjoint parts")
        return to_csr(X + Y, self.dtype_, implicit=False)

    _blas_threads_for_inference = None  # None: as many BLAS threads as n_threads_

    def _blas_threads(self):
        return self._blas_threads_for_inference or self.n_threads_

    def _cpu(self):
        """The CPU backend at the fitted thread count: inference calls kernels through it (the
        CPU-only kernels of ``kernels.CPU_ONLY``, such as the bfloat16 scoring, directly)."""
        return CpuBackend(self.n_threads_)

    # ---- the public methods ----------------------------------------------------------------------

    def _batches(self, n_rows, batch_size=None):
        """Row slices of ``batch_size`` rows (None: the estimator's default). Checked here, before
        any output is allocated: a zero, negative or fractional batch size once gave an empty loop
        over an uninitialised result."""
        step = self._batch_rows if batch_size is None else check_batch_size(batch_size)
        return (slice(start, min(n_rows, start + step)) for start in range(0, n_rows, step))

    def predict(self, X):
        """Scores (implicit) or predicted ratings (explicit) for every item, (n_rows, n_items).

        Each row of X is a user's history. This builds the full dense array: prefer ``recommend``
        for top-k lists of many users.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        check_dense_size((X.shape[0], self.n_features_in_), self.dtype_, "predict",
                         "Use recommend(X, k) for top-k lists, or call predict on smaller batches of rows.")
        out = np.empty((X.shape[0], self.n_features_in_), dtype=self.dtype_)
        with blas_threads(self._blas_threads()):
            for s in self._batches(X.shape[0]):
                out[s] = self._score_batch(X[s])
        return out

    def recommend(self, X, k=10, exclude_seen=True, items=None, batch_size=None, precision=None):
        """Top-``k`` items per row of X, best first: ``(indices, scores)``, each (n_rows, k).

        Computed in batches of rows (never the full n_rows × n_items array). ``exclude_seen``
        drops the row's own items; ``items`` restricts the candidates. Rows with fewer than k
        eligible items are padded with index −1 and score −inf.

        ``precision='bfloat16'`` (MultVAE, MultDAE) scores with the output layer's product in
        bfloat16 (``aerec.kernels.gemm_bf16``: operands rounded to bfloat16, float32 sums; Intel AMX
        where the CPU has it, on the CPU even for a GPU-fitted model). Faster, and the rankings can
        differ from float32 scoring where scores nearly tie; benchmarks/RESULTS.md gives the measured
        speed and NDCG. ``None``: the model's own dtype. For float32 MultVAE/MultDAE on a CPU with
        AMX, ``k`` ≤ n_items / 100 and at least 2,000 rows, that top-k is found without a float32 score block:
        the bfloat16 scores screen the items with a proven error bound and the few candidates left are rescored in
        float64 (``aerec.kernels.screened_topk``) — the exact top-k, faster than scoring every item.
        """
        X, items = self._recommend_args(X, k, items, precision)
        step = self._batch_rows if batch_size is None else check_batch_size(batch_size)
        if k > self.n_features_in_:  # lists longer than the catalogue are padding: refuse absurd sizes up-front
            check_dense_size((X.shape[0], k), np.int64, "recommend",
                             f"Ask for a smaller k (the model has {self.n_features_in_:,} items: longer lists are "
                             "only padding) or recommend for fewer rows per call.")
        idx = np.empty((X.shape[0], k), dtype=np.int64)
        val = np.empty((X.shape[0], k), dtype=self.dtype_)
        batches = progress_iter(self._batches(X.shape[0], batch_size), -(-X.shape[0] // step),
                                getattr(self, "verbose", False), f"{type(self).__name__}.recommend", "batch")
        score_batch, ranker = self._score_batch, None
        if precision == "bfloat16":
            score_batch, gpu = self._bf16_scorer(), None
        else:
            gpu = self._gpu_scorer()
            if gpu is None:
                ranker = self._screened_ranker(k, X.shape[0])
        if ranker is not None:  # exact top-k without the float32 score block (MultVAE/MultDAE on AMX)
            with blas_threads(self._blas_threads()):
                for s in batches:
                    Xb = X[s]
                    idx[s], val[s] = ranker(Xb, Xb if exclude_seen else None, items)
            return idx, val
        if gpu is not None:  # scores, exclusion and top-k on the GPU; only the (rows, k) lists come back
            be, score_batch = gpu
            for s in batches:
                Xb = X[s]
                i, v = be.topk(score_batch(Xb), k, exclude=Xb if exclude_seen else None, candidates=items)
                idx[s], val[s] = be.to_host(i), be.to_host(v)
            return idx, val
        be = self._cpu()
        with blas_threads(self._blas_threads()):
            for s in batches:
                Xb = X[s]
                scores = np.ascontiguousarray(score_batch(Xb), dtype=None if precision else self.dtype_)
                idx[s], val[s] = be.topk(scores, k, exclude=Xb if exclude_seen else None, candidates=items)
        return idx, val

    def _recommend_args(self, X, k, items, precision):
        """recommend's checks: fitted, ``precision``, X validated, ``k`` a positive integer, ``items``
        1-D integer indices in range. Returns ``(X, items)``."""
        check_is_fitted(self)
        if precision not in (None, "bfloat16"):
            raise ValueError(f"precision must be None (the model's dtype) or 'bfloat16', got {precision!r}")
        X = self._validate(X, reset=False)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        if items is not None:
            items = np.asarray(items)
            if items.ndim != 1 or not np.issubdtype(items.dtype, np.integer):
                raise TypeError("items must be a 1-D array of integer item indices")
            if items.size and (items.min() < 0 or items.max() >= self.n_features_in_):
                raise ValueError(f"items must be indices in [0, {self.n_features_in_})")
        return X, items

    def _bf16_scorer(self):
        """batch → float32 scores with a bfloat16 output layer; models that support it override this."""
        raise ValueError(f"{type(self).__name__} does not support precision='bfloat16' "
                         "(supported: MultVAE, MultDAE)")

    def _screened_ranker(self, k, n_rows):
        """``(batch, exclude, candidates) → (indices, scores)``, the exact top-k by another route than
        scoring every item in the model's dtype, or None (the default: score, then ``kernels.topk``)."""
        return None

    def _gpu_scorer(self):
        """``(CudaBackend, batch → device scores)`` when this model recommends on the GPU — it was
        fitted with device resolving to 'cuda', implements ``_device_scorer(backend)``, and the
        CUDA backend is usable here — else None (a GPU-trained model loaded or unpickled on a
        CPU-only machine recommends on the CPU)."""
        if getattr(self, "device_", "cpu") != "cuda" or not hasattr(self, "_device_scorer"):
            return None
        if not cuda_status()[0]:
            return None
        be = CudaBackend(self.n_threads_)
        return be, self._device_scorer(be)

    def score(self, X, y=None):
        """Implicit models: mean NDCG@100 of ranking y's items from X's history (X's items
        excluded), over rows of y with at least one item. Explicit models: −RMSE at y's entries.

        Without ``y`` (as ``GridSearchCV(model, grid).fit(X)`` calls it on each test fold), every
        row of X is split by ``model_selection.holdout_items(X, 0.2, random_state=0)``: 80 % of its
        entries are the history, 20 % the held-out part scored as ``y``.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        if y is None:
            X, y = holdout_items(X, 0.2, random_state=0)
        y = to_csr(y, self.dtype_, what="y", implicit=self._implicit)
        if y.shape != (X.shape[0], self.n_features_in_):
            raise ValueError(f"y has shape {y.shape}; expected {(X.shape[0], self.n_features_in_)}")
        if not self._implicit:
            return -self._rmse(X, y)
        idx, _ = self.recommend(X, k=self._score_k, exclude_seen=True)
        return float(np.nanmean(ndcg_at_k(idx, y, self._score_k)))

    def save(self, path, *, mapper=None):
        """Write the fitted model to one versioned ``.npz`` file that ``aerec.load`` reads back
        without executing code. ``mapper``: the fitted ``aerec.data.IdMapper`` of the training data,
        stored in the same file (``aerec.load(path, return_mapper=True)`` gives it back)."""
        persistence.save(self, path, mapper=mapper)

    def __setstate__(self, state):
        # Unpickled arrays can sit at any byte offset of a shared buffer (pickle protocol 5's out-of-band
        # buffers, as Dask sends them), which the native kernels refuse: copy those, once, here.
        super().__setstate__({k: _aligned(v) for k, v in state.items()})

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: pickling must not change the live model
        state.pop("_scoring_cache", None)  # derived from the weights (vae._prepared_output); rebuilt on demand
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = self._implicit  # interactions are counts/weights >= 0
        tags.target_tags.required = False
        return tags
