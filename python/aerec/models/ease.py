"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019).

EASE's closed form: G = XᵀX + λI, P = G⁻¹, B = −P / diag(P) (column-wise) with a zero diagonal,
scores = X·B. The inverse goes through a blocked Cholesky factorisation and blocked triangular
solves on single-threaded BLAS tiles (``aerec._linalg``): one n_items² buffer holds G then its
factor, a second one P and then B. XᵀX is a native kernel
(``aerec.kernels.sparse_gram``): SciPy's sparse product builds a nearly dense *sparse* result
single-threaded, which dominated the fit.
"""

from __future__ import annotations

import contextlib
from typing import Any, Optional

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._linalg import cholesky_inverse
from .._threads import blas_threads, effective_n_threads
from .._typing import DTypeLike, MatrixLike, RandomStateLike
from .._validation import check_bool, check_scalar
from ..distributed.mpi import DataParallel, data_parallel_fit
from ..engine.backend import CpuBackend, get_backend
from ..engine.trainer import Progress
from ._base import RecommenderBase, available_memory_bytes


def _block_size(n_items):
    """Tile width of the blocked inverse: a function of the size only (so results do not depend on
    the thread count); wider tiles past 8,192 items, where the GEMMs' rank matters more than the
    number of parallel jobs. Measured (aerec's source repository): ``benchmarks/RESULTS_SPEED_NOTES.md``."""
    return 256 if n_items < 8192 else 512


class _ZeroDiagonalItemItem(RecommenderBase):
    """What EASE and full-rank EDLAE share: B = I − P·diagMat(1 ⊘ diag(P)) with P = (XᵀX + D)⁻¹ for
    a diagonal penalty D (``_diagonal_penalty``), scores X·B. Subclasses set ``_name``, the
    parameters, and ``_diagonal_penalty(gram_diagonal, xp)``: what is added to the Gram matrix's
    diagonal (a scalar or a vector of ``dtype_``)."""

    _name = "EASE"
    _penalty_hint = "increase l2"

    def _memory_check(self, n_items, dtype, n_buffers=2):
        need = n_buffers * n_items * n_items * np.dtype(dtype).itemsize  # the factor and the inverse
        limit = self.max_memory
        if limit is None:
            avail = available_memory_bytes()
            limit = int(0.8 * avail) if avail else None
        if limit is not None and need > limit:
            count = {2: "two", 3: "three"}.get(n_buffers, str(n_buffers))
            raise MemoryError(
                f"{self._name} with {n_items:,} items needs {count} dense {n_items:,} × {n_items:,} "
                f"{np.dtype(dtype).name} matrices "
                f"({need / 2**30:.2f} GiB) but only {limit / 2**30:.2f} GiB may be used. Use dtype='float32', "
                "fewer items (drop rare ones), or raise max_memory."
            )
        return need

    _gram_label = "XᵀX + l2·I"

    def _inverse(self, make_gram, n, n_threads, bar):
        """P = (G + D)⁻¹ on the CPU from ``make_gram()``, G = XᵀX (Fortran-ordered; the only reference,
        so that it is freed once factored), as a C-ordered array (P is symmetric)."""
        G = make_gram()
        bar.update(step="Gram XᵀX")
        G[np.diag_indices(n)] += self._diagonal_penalty(np.diag(G), np)
        # P = G⁻¹ by a blocked Cholesky and blocked triangular solves on single-threaded BLAS tiles
        # (aerec._linalg): n³ flops instead of the 2.3n³ of potrf + potrs(I), bit-identical for any
        # n_threads, and clear of OpenBLAS's threaded potrf, which segfaults here for n ≥ 28,000.
        with blas_threads(1):
            try:
                P = cholesky_inverse(G, n_threads=n_threads, block=_block_size(n),
                                     progress=lambda stage: bar.update(step=stage))
            except np.linalg.LinAlgError as exc:
                raise np.linalg.LinAlgError(f"{self._name}: Cholesky factorisation of {self._gram_label} failed "
                                            f"({exc}); {self._penalty_hint}") from None
        del G
        # P is symmetric: its transpose (a C-ordered view) is P itself.
        return P.T

    def _solve(self, make_gram, n, n_threads, bar):
        """B = −P / diag(P) on the CPU, column j divided by P_jj, zero diagonal: fit, fit_gram and
        the MPI fit share everything from the Gram matrix onward."""
        B = np.ascontiguousarray(self._zero_diagonal(self._inverse(make_gram, n, n_threads, bar), np))
        bar.update(step="B")
        return B

    def _zero_diagonal(self, P, xp):
        """B = −P / diag(P) in place: column j divided by P_jj, a zero diagonal, clipped at zero with
        ``positive`` (NumPy or CuPy)."""
        d = P.diagonal().copy()
        P /= -d[xp.newaxis, :]
        P.reshape(-1)[:: P.shape[0] + 1] = 0  # P is C-contiguous: a view of its diagonal
        if getattr(self, "positive", False):
            xp.maximum(P, 0, out=P)
        return P

    def _solve_cuda(self, be, make_gram, n, bar):
        """B on the GPU from ``make_gram()``, G = XᵀX on the device: cuSOLVER's Cholesky (through
        CuPy) and triangular solves: G = LLᵀ, L⁻¹ by solving LY = I, P = G⁻¹ = L⁻ᵀL⁻¹ (a GEMM).
        Returns B on the host."""
        cp = be.xp
        from cupyx.scipy.linalg import solve_triangular

        G = make_gram()
        bar.update(step="Gram XᵀX")
        G.ravel()[:: n + 1] += self._diagonal_penalty(G.diagonal(), cp)
        L = cp.linalg.cholesky(G)
        del G
        if not bool(cp.isfinite(L).all()):
            raise np.linalg.LinAlgError(f"{self._name}: Cholesky factorisation of {self._gram_label} failed on the "
                                        f"GPU; {self._penalty_hint}")
        bar.update(step="Cholesky")
        Linv = solve_triangular(L, cp.eye(n, dtype=self.dtype_), lower=True, overwrite_b=True)
        del L
        P = be.matmul(Linv.T, Linv)
        del Linv
        bar.update(step="inverse")
        B = be.to_host(self._zero_diagonal(P, cp))
        bar.update(step="B")
        return B

    def _zero_diagonal_B(self, X, n, n_threads, bar):
        """B from the training matrix X, on the fitted device."""
        if self.device_ == "cuda":
            be = get_backend("cuda", self.n_threads_)
            return self._solve_cuda(be, lambda: be.sparse_gram(X), n, bar)
        # Gram matrix XᵀX from the nonzeros (native, Σ_u n_u² work). G is symmetric, so its
        # transpose — a Fortran-ordered view — is the same matrix for BLAS/LAPACK, without a copy.
        return self._solve(lambda: CpuBackend(n_threads).sparse_gram(X).T, n, n_threads, bar)

    def _score_batch(self, X):
        return np.asarray(X @ self.B_)

    def _device_scorer(self, be):
        """X·B on the GPU for recommend: the sparse encoder kernel computes exactly X·B (nnz·n work)."""
        B = be.asarray(self.B_)
        return lambda X: be.sparse_encoder_forward(X, B)

    def _get_fitted_state(self):
        check_is_fitted(self)
        return {"arrays": {"B": self.B_},
                "scalars": {"n_features_in_": self.n_features_in_, "dtype_": self.dtype_.name}}

    def _set_fitted_state(self, arrays, scalars):
        n = int(scalars["n_features_in_"])
        B = arrays["B"]
        if B.shape != (n, n) or B.dtype != np.dtype(scalars["dtype_"]):
            raise ValueError(f"B is {B.dtype}{B.shape}, expected ({n}, {n}) {scalars['dtype_']}")
        if not np.isfinite(B).all():
            raise ValueError("B holds NaN or infinite values")
        self.B_, self.n_features_in_, self.dtype_ = np.array(B), n, B.dtype
        self.n_threads_, self.device_ = effective_n_threads(self.n_threads), "cpu"


class EASE(_ZeroDiagonalItemItem):
    """EASE: an item–item linear autoencoder with a closed-form solution (Steck 2019).

    Scores are ``X·B`` with an items × items weight matrix B whose diagonal is zero, so an item is
    never scored from itself; B is the closed-form ridge solution, with no training loop.

    Parameters
    ----------
    l2 : float, default=500.0
        The L2 penalty λ on B (500 in the paper's ML-20M/Netflix runs).
    binarize : bool, default=True
        True (the paper): every positive entry of X is one interaction. False: the values are
        non-negative weights, e.g. from a weighting step (TF-IDF, BM25) in a ``Pipeline``.
    positive : bool, default=False
        Clip B at zero (a non-negative item–item matrix, as some libraries default to). Off by
        default, as in the paper.
    dtype : {'float32', 'float64'}, default='float32'
        Precision of G, P and B.
    max_memory : int or None, default=None
        Refuse to fit when the two items × items buffers would exceed this many bytes (None: 80 %
        of the memory available at fit time).
    n_threads : int or None, default=None
        Threads (None: all usable cores); results are identical for any value.
    device : {'auto', 'cpu', 'cuda'}, default='auto'
        Where to fit, as for every aerec estimator (see the README).
    verbose : bool, default=False
        Show a progress bar.
    random_state : None, int or RandomState, default=None
        Accepted, as by every aerec estimator, and unused: the fit is deterministic.

    Attributes
    ----------
    B_ : ndarray of shape (n_items, n_items)
        The item–item weights, zero diagonal.
    n_features_in_ : int
        Number of items.

    See Also
    --------
    MultDAE : A non-linear autoencoder trained on the same interactions.
    Popularity : The most-popular baseline.

    Notes
    -----
    With G = XᵀX + λI and P = G⁻¹, the solution is B = −P / diag(P) column-wise with a zero
    diagonal [1]_. The inverse goes through a blocked Cholesky factorisation and blocked triangular
    solves (``aerec._linalg``): about n_items³ flops and two n_items × n_items buffers.

    Measured (aerec's source repository): ``benchmarks/quality/RESULTS_I1_ml1m.md`` (λ grid),
    ``benchmarks/quality/RESULTS_I2_gowalla.md``.

    References
    ----------
    .. [1] H. Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from aerec import EASE
    >>> X = sp.random(100, 30, density=0.2, format="csr", random_state=0)
    >>> idx, scores = EASE(l2=10.0).fit(X).recommend(X[:2], k=3)
    >>> idx.shape
    (2, 3)
    """

    def __init__(self, l2: float = 500.0, *, binarize: bool = True, positive: bool = False,
                 dtype: DTypeLike = "float32", max_memory: Optional[int] = None, n_threads: Optional[int] = None,
                 device: str = "auto", random_state: RandomStateLike = None, verbose: bool = False) -> None:
        self.l2 = l2
        self.random_state = random_state
        self.binarize = binarize
        self.positive = positive
        self.dtype = dtype
        self.max_memory = max_memory
        self.n_threads = n_threads
        self.device = device
        self.verbose = verbose

    def _check_params(self):
        check_scalar(self.l2, "l2", low=0.0, low_inclusive=False)
        check_bool(self.positive, "positive")
        if self.max_memory is not None:
            check_scalar(self.max_memory, "max_memory", low=0, low_inclusive=False)

    @data_parallel_fit
    def fit(self, X: MatrixLike, y: Optional[MatrixLike] = None, *, comm: Any = None) -> EASE:
        """Fit B on users × items interactions X (y, if given, is added: X ∪ y).

        ``comm`` (an mpi4py communicator): every rank passes its block of users, the Gram matrices
        XᵀX are summed over the ranks (one Allreduce of n_items² values), and every rank solves for
        the same B — no rank holds the whole of X. CPU only.
        """
        par = None if comm is None else DataParallel(comm, getattr(self, "random_state", None))
        with contextlib.nullcontext() if par is None else par.together("checking the fit's input"):
            self._check_params()
            self.dtype_ = self._dtype()
            X = self._validate(X, reset=True)
            X = self._with_y(X, y)
            _, n_threads, device = self._resolve_common(par)
            self.n_threads_, self.device_ = n_threads, device
            if par is not None:  # here, so that a rank short of memory fails with the others
                self._memory_check(X.shape[1], self.dtype_)
        if par is not None:
            par.setup(self, X)
            gram = CpuBackend(n_threads).sparse_gram(X)  # C-ordered; its transpose is what _solve factors
            par.sum_inplace(gram)
            bar = Progress(4, self.verbose, "EASE", unit="step")
            self.B_ = self._solve(lambda: gram.T, X.shape[1], n_threads, bar)
            bar.close()
            return self
        n = X.shape[1]
        self._memory_check(n, self.dtype_)
        bar = Progress(4, self.verbose, "EASE", unit="step")
        self.B_ = self._zero_diagonal_B(X, n, n_threads, bar)
        bar.close()
        return self

    def fit_gram(self, G):
        """Fit B from a precomputed Gram matrix ``G = XᵀX`` (n_items × n_items) instead of X.

        For Gram matrices summed over partitions of the users, e.g. by
        ``aerec.distributed.gram_dask``: ``EASE().fit_gram(gram_dask(...)).B_`` is bit-identical to
        ``EASE().fit(X).B_`` when G is the same matrix as XᵀX of ``fit``'s binarised X (exact for
        0/1 data: the counts are whole numbers). G must be symmetric, with the interactions already
        binarised (or weighted) as ``fit`` would; it is cast to ``dtype`` and not modified. Everything
        after the Gram matrix — l2, the inverse, ``positive``, ``device`` — is ``fit``'s own code.
        The number of users is not needed: B depends on X only through XᵀX.
        """
        self._check_params()
        self.dtype_ = self._dtype()
        shape = getattr(G, "shape", None)
        if shape is None or len(shape) != 2 or shape[0] != shape[1] or shape[0] < 1:
            raise ValueError(f"G must be a square n_items × n_items matrix, got shape {shape}")
        G = np.asarray(G)
        if G.dtype.kind not in "iuf":
            raise TypeError(f"G must hold real numbers, got dtype {G.dtype}")
        if not np.isfinite(G).all():
            raise ValueError("G contains NaN or infinite values")
        _, n_threads, device = self._resolve_common()
        self.n_threads_, self.device_ = n_threads, device
        n = G.shape[0]
        self.n_features_in_ = n
        self.__dict__.pop("feature_names_in_", None)
        self._memory_check(n, self.dtype_)
        bar = Progress(4, self.verbose, "EASE", unit="step")
        if device == "cuda":
            be = get_backend("cuda", self.n_threads_)
            self.B_ = self._solve_cuda(be, lambda: be.asarray(np.ascontiguousarray(G, dtype=self.dtype_)), n, bar)
        else:
            # a C-ordered copy in the fitted dtype, seen through its transpose as fit sees its G
            self.B_ = self._solve(lambda: np.array(G, dtype=self.dtype_, order="C", copy=True).T, n, n_threads, bar)
        bar.close()
        return self

    def _diagonal_penalty(self, gram_diagonal, xp):
        """λ on every diagonal entry of XᵀX."""
        return self.dtype_.type(self.l2)
