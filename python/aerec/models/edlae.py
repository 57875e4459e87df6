"""EDLAE (Steck, "Autoencoders that don't overfit towards the Identity", NeurIPS 2020): the
emphasized denoising linear autoencoder, full rank (closed form) and low rank.

The derivation implemented here (G = XᵀX, g = diag(G), c = p / (1 − p)):

* **Dropout as a penalty.** The input is Z = X ∘ M / (1 − p) with M_ui ~ Bernoulli(1 − p)
  independent, so E[z_ui] = x_ui and Var[z_ui] = c·x_ui². For an output entry (u, j),
  E[(x_uj − Σ_i z_ui B_ij)²] = (x_uj − Σ_i x_ui B_ij)² + c Σ_i x_ui² B_ij².
* **Full emphasis.** The loss counts only the entries whose input was dropped (emphasis a = 1 on
  them, b = 0 on the others). Given m_uj = 0, z_uj = 0, so item j never predicts itself, and the
  other mask entries are independent of m_uj: the expected loss of column j is
  p·[‖X_j − X B_{:,j}‖² + c Σ_{i≠j} g_i B_ij²] with B_jj out of the model, i.e. B_jj = 0.
  Adding λ‖B‖² (λ absorbing the factor p) the objective is, with Λ = c·diagMat(g) + λI,

      min_B ‖X − XB‖² + ‖Λ^{1/2} B‖²   subject to diag(B) = 0.

* **Full rank.** The Lagrangian's stationarity, (G + Λ)B − G + diagMat(γ) = 0, with P = (G + Λ)⁻¹
  and PG = I − PΛ gives B = I − P·diagMat(Λ_jj + γ_j); diag(B) = 0 fixes Λ_jj + γ_j = 1 / P_jj:

      B = I − P·diagMat(1 ⊘ diag(P)),   i.e. B_ij = −P_ij / P_jj, B_jj = 0,

  EASE's solution with the diagonal Λ in place of λI. Only the diagonal added to G changes, so the
  fit is EASE's (``ease._ZeroDiagonalItemItem``: native Gram, blocked Cholesky inverse, GPU path).
  p = 0 is EASE exactly.
* **Low rank**, B = UVᵀ with U, V of n_items × k. Under full emphasis the model's diagonal is
  never used, so the objective is f(U, V) = ‖X − X·L‖² + ‖Λ^{1/2} L‖² with
  L = UVᵀ − diagMat(diag(UVᵀ)), and scores are X·L. The paper gives no closed form for it (the
  diagonal exclusion couples the columns); it is fitted by alternating least squares from a closed
  form. With A = G + Λ and B_f the full-rank solution, A·B_f − G = −diagMat(γ) is diagonal, so
  for every zero-diagonal L the cross term vanishes and

      f(L) = f(B_f) + ‖A^{1/2}(L − B_f)‖²_F  exactly.

  Dropping the diagonal exclusion for the start, the best rank-k C in that norm is
  A^{−1/2}·(the best rank-k part of A^{1/2}B_f) = B_f·W·Wᵀ, W the top-k eigenvectors of
  B_fᵀ·A·B_f = A − 2D + D·P·D (D = diagMat(1 ⊘ diag(P)), using B_f = I − P·D and P·A = I), an
  n² formula given P. So U₀ = B_f·W = W − P·D·W, V₀ = W. (Starting instead from the low-rank
  *DLAE* closed form, W the top-k eigenvectors of G·P·G, ended in worse local minima in most
  of our small trials: the objective is not convex in (U, V).)
  The ALS steps:

  - *V given U* (exact): column j of L is U⁽⁻ʲ⁾v_j, U⁽⁻ʲ⁾ = U with row j zeroed, so
    v_j = (U⁽⁻ʲ⁾ᵀ A U⁽⁻ʲ⁾)⁻¹ U⁽⁻ʲ⁾ᵀ G_{:,j}. With M = UᵀAU and W = AU,
    U⁽⁻ʲ⁾ᵀ A U⁽⁻ʲ⁾ = M + C_j S_j C_jᵀ, C_j = [u_j, w_j], S_j = [[A_jj, −1], [−1, 0]]: a rank-2
    update of one k × k matrix, solved for every j at once by the Woodbury identity (O(n k²)
    after the O(n² k) products, on one BLAS thread so that the bits do not
    depend on n_threads). A ridge of 10⁻¹⁰·tr(M)/k keeps the k = n_items case (where
    U⁽⁻ʲ⁾ is rank-deficient and v_j is not unique) well posed.
  - *U given V*: f is quadratic in U with gradient 2·offdiag(A·L − G)·V, whose normal equations
    couple the rows of U through the diagonal term; a few steps of conjugate gradients,
    preconditioned by R ↦ P·R·(VᵀV)⁻¹ (the inverse of the dominant term A·U·VᵀV), warm-started
    from the current U. Each step lowers f.

  Each sweep is a U step then a V step, after a first V step from (U₀, V₀); f never increases.
  With k = n_items the first V step already gives the full-rank solution (U₀ is invertible, so
  U⁽⁻ʲ⁾ spans every column with a zero j-th entry).
"""

from __future__ import annotations

import numbers
from typing import Optional

import numpy as np
import scipy.linalg
from sklearn.utils import TransformerTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from .._threads import blas_threads, effective_n_threads
from .._typing import DTypeLike, MatrixLike, RandomStateLike
from .._validation import check_scalar
from ..engine.backend import CpuBackend
from ..engine.trainer import Progress
from .ease import _ZeroDiagonalItemItem

#: preconditioned conjugate-gradient steps per U update of the low-rank ALS
_CG_STEPS = 5


def _low_rank(self):
    return getattr(self, "n_components", None) is not None


class EDLAE(_ZeroDiagonalItemItem):
    """EDLAE: the emphasized denoising linear autoencoder, full rank or low rank (Steck 2020).

    A linear item–item model trained, in expectation, with dropout on the input and the loss on the
    dropped entries only ("full emphasis"): an item is never predicted from itself, and dropout
    becomes a penalty proportional to each item's popularity. The full-rank model has EASE's closed
    form with that penalty and costs the same to fit; the low-rank model B = UVᵀ is fitted by
    alternating least squares from a closed-form start.

    Parameters
    ----------
    l2 : float, default=200.0
        The L2 penalty λ on B, added to the dropout penalty (200 with p = 0.5 was best on ML-1M's
        validation users).
    dropout : float, default=0.33
        Dropout probability p of the input, in [0, 1): the penalty on B's row i is
        p / (1 − p) · (XᵀX)_ii. 0 gives EASE.
    n_components : int or None, default=None
        None: the full-rank model. k: B = UVᵀ of rank k (1 ≤ k ≤ n_items), with ``transform``
        giving the k-dimensional codes X·U.
    n_iter : int, default=10
        Low rank only: alternating least-squares sweeps after the closed-form start (0: one exact
        V step from the start only). The objective is not convex: ALS finds a local minimum.
    binarize : bool, default=True
        True (the paper): every positive entry of X is one interaction. False: the values are
        non-negative weights.
    dtype : {'float32', 'float64'}, default='float32'
        Precision of the items × items matrices and of B (or U and V).
    max_memory : int or None, default=None
        Refuse to fit when the dense items × items buffers (two full rank, three low rank) would
        exceed this many bytes (None: 80 % of the memory available at fit time).
    n_threads : int or None, default=None
        Threads (None: all usable cores); results are identical for any value.
    device : {'auto', 'cpu', 'cuda'}, default='auto'
        Where to fit. The full-rank model fits on the GPU as EASE does; the low-rank model fits on
        the CPU ('auto' picks it; 'cuda' raises NotImplementedError).
    verbose : bool, default=False
        Show a progress bar.
    random_state : None, int or RandomState, default=None
        Accepted, as by every aerec estimator, and unused: the fit is deterministic.

    Attributes
    ----------
    B_ : ndarray of shape (n_items, n_items)
        Full rank: the item–item weights, zero diagonal.
    U_, V_ : ndarray of shape (n_items, n_components)
        Low rank: the factors; the weights are UVᵀ with its diagonal set to zero.
    n_features_in_ : int
        Number of items.

    See Also
    --------
    EASE : The same closed form with λI as the only penalty (``dropout=0``).

    Notes
    -----
    With G = XᵀX, Λ = p/(1−p)·diagMat(diag(G)) + λI and P = (G + Λ)⁻¹, the full-rank solution is
    B = I − P·diagMat(1 ⊘ diag(P)) [1]_: B_ij = −P_ij / P_jj with a zero diagonal. The low-rank model
    minimises ‖X − X·L‖² + ‖Λ^{1/2}L‖², L = UVᵀ − diagMat(diag(UVᵀ)), by alternating least squares
    started from the best rank-k approximation of the full-rank B in the (G + Λ)-norm, which ignores
    the diagonal exclusion (U = B·W, V = W, W the top-k eigenvectors of Bᵀ(G + Λ)B). The module docstring of
    ``aerec.models.edlae`` gives the derivations. Measured (aerec's source repository):
    ``benchmarks/quality/RESULTS_EDLAE.md``.

    References
    ----------
    .. [1] H. Steck, "Autoencoders that don't overfit towards the Identity", NeurIPS 2020.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from aerec import EDLAE
    >>> X = sp.random(100, 30, density=0.2, format="csr", random_state=0)
    >>> idx, scores = EDLAE(l2=10.0, dropout=0.25).fit(X).recommend(X[:2], k=3)
    >>> idx.shape
    (2, 3)
    >>> EDLAE(l2=10.0, n_components=4).fit(X).transform(X[:2]).shape
    (2, 4)
    """

    _name = "EDLAE"
    _penalty_hint = "increase l2 or dropout"
    _gram_label = "XᵀX + Λ"

    def __init__(self, l2: float = 200.0, dropout: float = 0.33, n_components: Optional[int] = None, *,
                 n_iter: int = 10, binarize: bool = True, dtype: DTypeLike = "float32",
                 max_memory: Optional[int] = None, n_threads: Optional[int] = None, device: str = "auto",
                 random_state: RandomStateLike = None, verbose: bool = False) -> None:
        self.l2 = l2
        self.dropout = dropout
        self.n_components = n_components
        self.n_iter = n_iter
        self.binarize = binarize
        self.dtype = dtype
        self.max_memory = max_memory
        self.n_threads = n_threads
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self, n_items):
        check_scalar(self.l2, "l2", low=0.0, low_inclusive=False)
        check_scalar(self.dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        if self.n_components is not None:
            k = self.n_components
            if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= n_items:
                raise ValueError(f"n_components must be None (full rank) or an integer in [1, n_items = {n_items}], "
                                 f"got {k!r}")
        n_iter = self.n_iter
        if isinstance(n_iter, bool) or not isinstance(n_iter, numbers.Integral) or n_iter < 0:
            raise ValueError(f"n_iter must be a non-negative integer, got {n_iter!r}")
        if self.max_memory is not None:
            check_scalar(self.max_memory, "max_memory", low=0, low_inclusive=False)

    def _lambda(self, gram_diagonal, xp):
        """Λ's diagonal in float64: p/(1−p)·diag(XᵀX) + λ."""
        p = float(self.dropout)
        return (p / (1.0 - p)) * gram_diagonal.astype(xp.float64) + float(self.l2)

    def _diagonal_penalty(self, gram_diagonal, xp):
        return self._lambda(gram_diagonal, xp).astype(self.dtype_)

    def fit(self, X: MatrixLike, y: Optional[MatrixLike] = None) -> EDLAE:
        """Fit B (or U and V) on users × items interactions X (y, if given, is added: X ∪ y)."""
        self.dtype_ = self._dtype()
        X = self._validate(X, reset=True)
        X = self._with_y(X, y)
        n = X.shape[1]
        self._check_params(n)
        _, n_threads, device = self._resolve_common()
        low_rank = self.n_components is not None
        if low_rank and device == "cuda":
            if self.device == "cuda":
                raise NotImplementedError("EDLAE(n_components=k) fits on the CPU only; use device='cpu' or 'auto' "
                                          "(the full-rank EDLAE, n_components=None, fits on the GPU)")
            device = "cpu"
        self.n_threads_, self.device_ = n_threads, device
        self._memory_check(n, self.dtype_, n_buffers=3 if low_rank else 2)
        for name in ("B_", "U_", "V_", "_diag"):  # a refit may change the form
            self.__dict__.pop(name, None)
        if not low_rank:
            bar = Progress(4, self.verbose, "EDLAE", unit="step")
            self.B_ = self._zero_diagonal_B(X, n, n_threads, bar)
            bar.close()
            return self
        bar = Progress(5 + self.n_iter, self.verbose, "EDLAE", unit="step")
        self.U_, self.V_ = self._fit_low_rank(X, n, n_threads, bar)
        self._diag = np.einsum("ij,ij->i", self.U_, self.V_)
        bar.close()
        return self

    # ---- low rank ------------------------------------------------------------------------------

    def _fit_low_rank(self, X, n, n_threads, bar):
        k = int(self.n_components)
        dt = self.dtype_
        P = self._inverse(lambda: CpuBackend(n_threads).sparse_gram(X).T, n, n_threads, bar)  # (G + Λ)⁻¹, C-ordered
        G = np.ascontiguousarray(CpuBackend(n_threads).sparse_gram(X))  # again: the inverse used its buffer
        g = np.diag(G).astype(np.float64)
        lam = self._lambda(g, np)
        a = g + lam  # diag(A), A = G + Λ
        # K = B_fullᵀ·A·B_full = A − 2D + D·P·D with D = diagMat(1 ⊘ diag(P)), B_full = I − P·D; its top-k
        # eigenvectors W (one BLAS thread: the same bits for any n_threads)
        dinv = (1.0 / np.diag(P).astype(np.float64))
        M = P * dinv.astype(dt)[:, None]
        M *= dinv.astype(dt)[None, :]
        M += G
        M[np.diag_indices(n)] += (lam - 2 * dinv).astype(dt)
        with blas_threads(1):
            _, W = scipy.linalg.eigh(M, subset_by_index=[n - k, n - 1], overwrite_a=True, check_finite=False,
                                     driver="evr")
        del M
        W = np.ascontiguousarray(W[:, ::-1])  # largest first
        flip = W[np.abs(W).argmax(axis=0), np.arange(k)] < 0  # a fixed sign: the largest entry positive
        W[:, flip] *= -1
        bar.update(step="eigenvectors")
        with blas_threads(1):  # threaded BLAS changes the bits with the thread count (measured)
            U = W - P @ (dinv.astype(dt)[:, None] * W)  # B_full·W
            V = self._v_step(G, g, a, lam, U)
            bar.update(step="V")
            for _ in range(self.n_iter):
                U = self._u_step(G, P, g, a, lam, U, V)
                V = self._v_step(G, g, a, lam, U)
                bar.update(step="ALS sweep")
        return np.ascontiguousarray(U, dtype=dt), np.ascontiguousarray(V, dtype=dt)

    @staticmethod
    def _v_step(G, g, a, lam, U):
        """v_j = (U⁽⁻ʲ⁾ᵀ A U⁽⁻ʲ⁾)⁻¹ U⁽⁻ʲ⁾ᵀ G_{:,j} for every j (Woodbury on a rank-2 update of UᵀAU)."""
        dt = U.dtype
        GU = (G @ U).astype(np.float64)
        U64 = U.astype(np.float64)
        AU = GU + lam[:, None] * U64
        M = U64.T @ AU
        M = (M + M.T) / 2
        k = M.shape[0]
        M[np.diag_indices(k)] += 1e-10 * max(np.trace(M), np.finfo(np.float64).tiny) / k
        R = GU.T - (U64 * g[:, None]).T  # columns r_j = U⁽⁻ʲ⁾ᵀ G_{:,j} (G symmetric)
        cf = scipy.linalg.cho_factor(M, check_finite=False)
        Y = scipy.linalg.cho_solve(cf, R, check_finite=False)
        Zu = scipy.linalg.cho_solve(cf, U64.T, check_finite=False)
        Zw = scipy.linalg.cho_solve(cf, AU.T, check_finite=False)
        # K = S⁻¹ + CᵀM⁻¹C per column, S⁻¹ = [[0, −1], [−1, −A_jj]]
        k11 = np.einsum("ij,ji->i", U64, Zu)
        k12 = np.einsum("ij,ji->i", U64, Zw) - 1.0
        k21 = np.einsum("ij,ji->i", AU, Zu) - 1.0
        k22 = np.einsum("ij,ji->i", AU, Zw) - a
        c1 = np.einsum("ij,ji->i", U64, Y)
        c2 = np.einsum("ij,ji->i", AU, Y)
        det = k11 * k22 - k12 * k21
        t1 = (k22 * c1 - k12 * c2) / det
        t2 = (k11 * c2 - k21 * c1) / det
        V = Y - Zu * t1[None, :] - Zw * t2[None, :]
        return np.ascontiguousarray(V.T, dtype=dt)

    @staticmethod
    def _u_step(G, P, g, a, lam, U, V):
        """A few preconditioned CG steps on offdiag(A·L(U))·V = offdiag(G)·V, from the current U."""
        dt = U.dtype
        V64 = V.astype(np.float64)
        VtV = V64.T @ V64
        VtV_inv = np.linalg.pinv(VtV, hermitian=True)

        def A_times(Z):
            return (G @ Z.astype(dt)).astype(np.float64) + lam[:, None] * Z

        def H(Z):  # offdiag(A·L(Z))·V, L(Z) = ZVᵀ − diagMat(diag(ZVᵀ))
            d = np.einsum("ij,ij->i", Z, V64)
            AZ = A_times(np.hstack([Z @ VtV - d[:, None] * V64, Z]))
            k = Z.shape[1]
            diag_AL = np.einsum("ij,ij->i", AZ[:, k:], V64) - a * d
            return AZ[:, :k] - diag_AL[:, None] * V64

        def precondition(R):
            return (P @ R.astype(dt)).astype(np.float64) @ VtV_inv

        rhs = (G @ V).astype(np.float64) - g[:, None] * V64
        X = U.astype(np.float64)
        R = rhs - H(X)
        Z = precondition(R)
        D = Z
        rz = np.vdot(R, Z)
        tol = 1e-24 * abs(np.vdot(rhs, precondition(rhs)))  # (relative residual 1e-12)²: at the optimum already
        for _ in range(_CG_STEPS):
            if not rz > tol:
                break
            HD = H(D)
            step = rz / np.vdot(D, HD)
            X = X + step * D
            R = R - step * HD
            Z = precondition(R)
            rz_new = np.vdot(R, Z)
            D = Z + (rz_new / rz) * D
            rz = rz_new
        return np.ascontiguousarray(X, dtype=dt)

    # ---- inference and persistence ---------------------------------------------------------------

    def _score_batch(self, X):
        if not hasattr(self, "U_"):
            return np.asarray(X @ self.B_)
        S = np.asarray(X @ self.U_) @ self.V_.T
        coo = X.tocoo()
        # UVᵀ's diagonal is not part of the model (full emphasis never uses it)
        S[coo.row, coo.col] -= (coo.data * self._diag[coo.col]).astype(S.dtype)
        return S

    def _gpu_scorer(self):  # the low-rank form scores on the CPU
        return None if hasattr(self, "U_") else super()._gpu_scorer()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if _low_rank(self):  # a transformer only in the low-rank form, which has codes
            tags.transformer_tags = TransformerTags(preserves_dtype=[np.dtype(self.dtype).name])
        return tags

    @available_if(_low_rank)
    def transform(self, X: MatrixLike) -> np.ndarray:
        """Low rank: the k-dimensional codes X·U of each row."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        with blas_threads(self._blas_threads()):
            return np.asarray(X @ self.U_)

    @available_if(_low_rank)
    def fit_transform(self, X: MatrixLike, y: Optional[MatrixLike] = None) -> np.ndarray:
        """Low rank: fit, then the codes X·U of X's rows."""
        return self.fit(X, y).transform(X)

    def _get_fitted_state(self):
        check_is_fitted(self)
        arrays = {"U": self.U_, "V": self.V_} if hasattr(self, "U_") else {"B": self.B_}
        return {"arrays": arrays, "scalars": {"n_features_in_": self.n_features_in_, "dtype_": self.dtype_.name}}

    def _set_fitted_state(self, arrays, scalars):
        if "B" in arrays:
            return super()._set_fitted_state(arrays, scalars)
        n, dtype = int(scalars["n_features_in_"]), np.dtype(scalars["dtype_"])
        U, V = arrays["U"], arrays["V"]
        if U.ndim != 2 or U.shape[0] != n or U.shape != V.shape or U.dtype != dtype or V.dtype != dtype:
            raise ValueError(f"U is {U.dtype}{U.shape} and V {V.dtype}{V.shape}, expected ({n}, k) {dtype}")
        if not (np.isfinite(U).all() and np.isfinite(V).all()):
            raise ValueError("U or V holds NaN or infinite values")
        self.U_, self.V_, self.n_features_in_, self.dtype_ = np.array(U), np.array(V), n, dtype
        self._diag = np.einsum("ij,ij->i", self.U_, self.V_)
        self.n_threads_, self.device_ = effective_n_threads(self.n_threads), "cpu"
