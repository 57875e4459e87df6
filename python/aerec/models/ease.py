"""EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019).

EASE's closed form: G = XᵀX + λI, P = G⁻¹, B = −P / diag(P) (column-wise) with a zero diagonal,
scores = X·B. The inverse goes through a blocked Cholesky factorisation and blocked triangular
solves on single-threaded BLAS tiles (``aerec._linalg``): one n_items² buffer holds G then its
factor, a second one P and then B. XᵀX is a native kernel
(``aerec.kernels.sparse_gram``): SciPy's sparse product builds a nearly dense *sparse* result
single-threaded, which dominated the fit.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._linalg import cholesky_inverse
from .._threads import blas_threads, effective_n_threads
from .._typing import DTypeLike, MatrixLike, RandomStateLike
from .._validation import check_bool, check_scalar
from ..engine.backend import CpuBackend, get_backend
from ..engine.trainer import Progress
from ._base import RecommenderBase, available_memory_bytes


def _block_size(n_items):
    """Tile width of the blocked inverse: a function of the size only (so results do not depend on
    the thread count); wider tiles past 8,192 items, where the GEMMs' rank matters more than the
    number of parallel jobs. Measured: ``benchmarks/RESULTS_SPEED_NOTES.md``."""
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

    def _inverse(self, X, n, n_threads, bar):
        """P = (XᵀX + D)⁻¹ on the CPU, as a C-ordered array (P is symmetric)."""
        # Gram matrix XᵀX from the nonzeros (native, Σ_u n_u² work). G is symmetric, so its
        # transpose — a Fortran-ordered view — is the same matrix for BLAS/LAPACK, without a copy.
        G = CpuBackend(n_threads).sparse_gram(X).T
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

    _gram_label = "XᵀX + l2·I"

    def _zero_diagonal_B(self, X, n, n_threads, bar):
        """B = −P / diag(P), column j divided by P_jj, zero diagonal (on the CPU or the GPU)."""
        if self.device_ == "cuda":
            return self._fit_cuda(X, n, bar)
        P = self._inverse(X, n, n_threads, bar)
        d = np.diag(P).copy()
        P /= -d[np.newaxis, :]
        P[np.diag_indices(n)] = 0
        if getattr(self, "positive", False):
            np.maximum(P, 0, out=P)
        B = np.ascontiguousarray(P)
        bar.update(step="B")
        return B

    def _fit_cuda(self, X, n, bar):
        """B on the GPU: the Gram kernel, then cuSOLVER's Cholesky (through CuPy) and triangular
        solves: G = LLᵀ, L⁻¹ by solving LY = I, P = G⁻¹ = L⁻ᵀL⁻¹ (a GEMM). Returns B on the host."""
        be = get_backend("cuda", self.n_threads_)
        cp = be.xp
        from cupyx.scipy.linalg import solve_triangular

        G = be.sparse_gram(X)
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
        d = P.diagonal().copy()
        P /= -d[cp.newaxis, :]
        P.ravel()[:: n + 1] = 0
        if getattr(self, "positive", False):
            cp.maximum(P, 0, out=P)
        B = be.to_host(P)
        bar.update(step="B")
        return B

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

    Measured: ``benchmarks/quality/RESULTS_I1_ml1m.md`` (λ grid), ``benchmarks/quality/RESULTS_I2_gowalla.md``.

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

    def fit(self, X: MatrixLike, y: Optional[MatrixLike] = None) -> EASE:
        """Fit B on users × items interactions X (y, if given, is added: X ∪ y)."""
        check_scalar(self.l2, "l2", low=0.0, low_inclusive=False)
        check_bool(self.positive, "positive")
        if self.max_memory is not None:
            check_scalar(self.max_memory, "max_memory", low=0, low_inclusive=False)
        self.dtype_ = self._dtype()
        X = self._validate(X, reset=True)
        X = self._with_y(X, y)
        _, n_threads, device = self._resolve_common()
        self.n_threads_, self.device_ = n_threads, device
        n = X.shape[1]
        self._memory_check(n, self.dtype_)
        bar = Progress(4, self.verbose, "EASE", unit="step")
        self.B_ = self._zero_diagonal_B(X, n, n_threads, bar)
        bar.close()
        return self

    def _diagonal_penalty(self, gram_diagonal, xp):
        """λ on every diagonal entry of XᵀX."""
        return self.dtype_.type(self.l2)
