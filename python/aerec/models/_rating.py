"""What the explicit-rating autoencoders (AutoRec, DeepAutoencoder) share: the seeded rating
split for early stopping, predictions at chosen entries (masked decoder: O(nnz·h), never a dense
users × items array), the unseen-user/item defaults, clipping to the training rating range, and
the predict/recommend loops for both orientations.

Vocabulary. A model reads *samples* (the rows it encodes) and reconstructs *outputs*:
user-based models encode users' rows (samples = users, outputs = items); item-based AutoRec
encodes items' columns (samples = items, outputs = users), so its sample matrix is Xᵀ.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._threads import blas_threads, effective_n_threads
from .._validation import check_bool, check_scalar
from ..model_selection import holdout_ratings
from ._base import RecommenderBase, check_dense_size, to_csr

UNSEEN_POLICIES = ("default", "mean")
BASELINES = (None, "biases")


def _row_sums(rows, values, n):
    return np.bincount(rows, weights=values, minlength=n)


def _shrunk_mean(total, count, lam):
    """total / (count + λ), 0 where there is nothing to average (count = 0)."""
    den = count + lam
    return np.divide(total, den, out=np.zeros_like(total), where=den > 0)


def rating_biases(X, mu, lam, rtol=1e-10, maxiter=2000, reduce=None):
    """Item biases b_i of the baseline ``r_ui ≈ μ + b_u + b_i`` (Koren 2008, §2.1): the exact
    minimiser of ``Σ (r − μ − b_u − b_i)² + λ(‖b_u‖² + ‖b_i‖²)`` over the ratings of the users × items
    CSR X. Eliminating the user biases (each is the shrunk mean of ``r − μ − b_i`` over its row, see
    :func:`row_biases`) leaves the items' Schur complement system

        (D_i + λI − Aᵀ (D_u + λI)⁻¹ A) b_i = s_i − Aᵀ (D_u + λI)⁻¹ s_u

    (A the 0/1 rating pattern, D the rating counts, s the sums of r − μ), symmetric positive
    (semi-)definite, solved by Jacobi-preconditioned conjugate gradients with sparse products only —
    never an items × items matrix. Alternating updates (coordinate descent) converge too slowly on
    dense data: 20 sweeps were still far off on ML-1M (``benchmarks/quality/RESULTS_E1_ml1m.md``).
    float64; serial NumPy/SciPy arithmetic, so
    the same result for any thread count. User biases are not returned: they are re-derived from each
    history by :func:`row_biases`, so a new user folds in.

    ``reduce`` (data-parallel fits): sums an item-length float64 vector over the workers, each of
    which holds a block of the users; every sum over users goes through it, so every worker runs the
    same conjugate-gradient iterations on the same numbers."""
    from scipy.sparse.linalg import LinearOperator, cg

    n_users, n_items = X.shape
    rows = np.repeat(np.arange(n_users), np.diff(X.indptr))
    r = X.data.astype(np.float64) - mu
    A = sp.csr_array((np.ones(X.nnz), X.indices, X.indptr), shape=X.shape)
    At = A.T.tocsr()
    total = reduce or (lambda v: v)  # Σ over users: this worker's users, or every worker's
    n_u = np.diff(X.indptr).astype(np.float64)
    n_i = total(np.bincount(X.indices, minlength=n_items).astype(np.float64))
    w_u = _shrunk_mean(np.ones(n_users), n_u, lam)  # 1 / (n_u + λ), 0 for an empty row
    rhs = total(_row_sums(X.indices, r, n_items) - At @ (w_u * _row_sums(rows, r, n_users)))
    rated = n_i > 0  # unrated items have no equation: their bias is 0
    if not rated.any():
        return np.zeros(n_items)
    # Jacobi preconditioner: diag(S)_i = n_i + λ − Σ_u A_ui / (n_u + λ)
    diag = n_i + lam - total(At @ w_u)
    idx = np.flatnonzero(rated)

    def matvec(v):
        full = np.zeros(n_items)
        full[idx] = v
        out = (n_i + lam) * full - total(At @ (w_u * (A @ full)))
        return out[idx]

    S = LinearOperator((idx.size, idx.size), matvec=matvec, dtype=np.float64)
    d = np.where(diag[idx] > 0, diag[idx], 1.0)
    M = LinearOperator((idx.size, idx.size), matvec=lambda v: v / d, dtype=np.float64)
    sol, info = cg(S, rhs[idx], rtol=rtol, atol=0.0, maxiter=maxiter, M=M)
    if info < 0:  # pragma: no cover - cg reports breakdown only for invalid input
        raise FloatingPointError("the bias baseline's linear solve broke down")
    out = np.zeros(n_items)
    out[idx] = sol
    return out


def row_biases(X, mu, item_bias, lam):
    """User biases of the rows of the users × items CSR X given the item biases: the shrunk mean of
    ``r − μ − b_i`` over each row's ratings (0 for an empty row)."""
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    r = X.data.astype(np.float64) - mu - item_bias[X.indices]
    return _shrunk_mean(_row_sums(rows, r, X.shape[0]), np.diff(X.indptr).astype(np.float64), lam)


def transpose_csr(X):
    """Xᵀ as canonical CSR with X's value dtype and a common index dtype."""
    T = sp.csr_array(X.T)
    T.sort_indices()
    if T.indptr.dtype != T.indices.dtype:
        T.indptr = T.indptr.astype(T.indices.dtype)
    return T


class _RatingAutoencoder(TransformerMixin, RecommenderBase):
    """Base of the rating autoencoders. Subclasses provide:

    * ``_item_based`` (bool): whether samples are items (Xᵀ) rather than users;
    * ``_hidden(S)``: the input of the output layer for sample rows S (CSR), inference mode;
    * ``_output_layer()``: ``(V, c, activation)`` with V item-major (n_outputs, h): ``out = f(H·Vᵀ + c)``;
    * ``_codes(S)``: the code (bottleneck) of sample rows S.

    Fitted state this base reads: ``output_seen_`` (bool, outputs with a training rating),
    ``rating_min_``, ``rating_max_``, ``rating_mean_``.
    """

    _implicit = False
    _item_based = False
    _sample_batch = 2048  # samples per block when encoding for prediction
    _blas_threads_for_inference = 1  # products run on the backend's pool (engine/backend.py)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # transform's output is in the estimator's dtype, whatever the input's
        tags.transformer_tags.preserves_dtype = [np.dtype(self.dtype).name]
        return tags

    # ---- parameters and fitted statistics -----------------------------------------------------

    def _check_explicit_params(self):
        if self.unseen not in UNSEEN_POLICIES:
            raise ValueError(f"unseen must be one of {UNSEEN_POLICIES}, got {self.unseen!r}")
        check_scalar(self.default_rating, "default_rating")
        check_bool(self.clip, "clip")
        check_scalar(self.validation_fraction, "validation_fraction", low=0.0, high=1.0, low_inclusive=False,
                     high_inclusive=False)
        check_bool(self.early_stopping, "early_stopping")
        if self.patience is not None:
            check_scalar(self.patience, "patience", kind=numbers.Integral, low=1)
        if not (self.baseline is None or (isinstance(self.baseline, str) and self.baseline == "biases")):
            raise ValueError(f"baseline must be one of {BASELINES}, got {self.baseline!r}")
        check_scalar(self.baseline_l2, "baseline_l2", low=0.0)

    def _fit_rating_stats(self, S, par=None):
        """Rating range and mean of the training samples S, and which outputs were ever rated (over
        every worker's samples, with ``par``)."""
        if par is None:
            if S.nnz == 0:
                raise ValueError("X has no ratings to learn from")
            self.rating_min_ = float(S.data.min())
            self.rating_max_ = float(S.data.max())
            self.rating_mean_ = float(np.mean(S.data, dtype=np.float64))
            self.output_seen_ = np.bincount(S.indices, minlength=S.shape[1]) > 0
            return
        total, count = par.sum(float(S.data.sum(dtype=np.float64)), float(S.nnz))
        if count == 0:
            raise ValueError("X has no ratings to learn from (on any rank)")
        self.rating_min_ = -par.max(-float(S.data.min()) if S.nnz else -np.inf)
        self.rating_max_ = par.max(float(S.data.max()) if S.nnz else -np.inf)
        self.rating_mean_ = total / count
        self.output_seen_ = par.sum_array(np.bincount(S.indices, minlength=S.shape[1]).astype(np.float64)) > 0

    def _fit_baseline(self, X, par=None):
        """With ``baseline='biases'``: the item biases of the training ratings X (users × items)
        around ``rating_mean_``; ``item_bias_`` is None without a baseline."""
        self.item_bias_ = None
        if self.baseline == "biases":
            self.item_bias_ = rating_biases(X, self.rating_mean_, float(self.baseline_l2),
                                            reduce=None if par is None else par.sum_array)

    def _user_biases(self, X):
        """The user biases of the rows of the history X (users × items CSR), derived from X itself
        (``row_biases``), so the training rows and a new user's are treated alike; None without a
        baseline. The network itself always reads the raw ratings: which items a row rated is
        information that centred inputs blur (residual inputs were worse on both E2 data sets:
        ``benchmarks/quality/RESULTS_E2.md``)."""
        item_bias = getattr(self, "item_bias_", None)
        if item_bias is None:
            return None
        return row_biases(X, self.rating_mean_, item_bias, float(self.baseline_l2))

    def _residuals(self, X):
        """``(targets, bu)`` for the training ratings X: with a baseline the residuals
        ``r − μ − b_u − b_i`` at X's entries (same structure) and the rows' user biases; without,
        ``(X, None)``."""
        bu = self._user_biases(X)
        if bu is None:
            return X, None
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        res = X.data.astype(np.float64) - self.rating_mean_ - bu[rows] - self.item_bias_[X.indices]
        return type(X)((res.astype(X.dtype), X.indices, X.indptr), shape=X.shape), bu

    def _offsets(self, bu):
        """The baseline added back to the network's output, as ``(per sample, per output)`` arrays
        in the sample orientation (μ folded into the first), or None without a baseline."""
        if bu is None:
            return None
        if self._item_based:
            return self.item_bias_ + self.rating_mean_, bu
        return bu + self.rating_mean_, self.item_bias_

    def _history(self, X, what="X"):
        """The network's sample matrix for the history X (the raw ratings) and the baseline offsets to
        add back to its outputs (None without a baseline)."""
        return self._samples(X, what), self._offsets(self._user_biases(X))

    def _fill_value(self):
        return float(self.default_rating) if self.unseen == "default" else self.rating_mean_

    def _samples(self, X, what="X"):
        """The sample matrix of a validated users × items CSR X (X itself, or Xᵀ for item-based)."""
        if not self._item_based:
            return X
        if X.shape[0] != self.n_users_:
            raise ValueError(
                f"{type(self).__name__}(item_based=True) encodes item columns over the {self.n_users_} users it was "
                f"fitted on, so {what} must have those same {self.n_users_} users as rows (in the same order); got "
                f"{X.shape[0]} rows. Pass the training matrix (or the same users' ratings), or use "
                "item_based=False to fold in new users.")
        return transpose_csr(X)

    # ---- predictions -------------------------------------------------------------------------------

    def _output(self, out, act):
        if act != "identity":
            out = self._cpu().activation_forward(act, out)
        return out

    def _finish(self, values, sample_unseen, output_unseen, clip):
        """Unseen defaults and clipping, in place. ``*_unseen``: boolean masks broadcast to values."""
        fill = values.dtype.type(self._fill_value())
        if sample_unseen is not None:
            np.copyto(values, fill, where=sample_unseen)
        if output_unseen is not None:
            np.copyto(values, fill, where=output_unseen)
        if clip and self.clip:
            np.clip(values, self.rating_min_, self.rating_max_, out=values)
        return values

    def _predict_entries(self, S, T, offsets=None):
        """Predicted ratings at the entries of T (samples × outputs CSR, same shape as the history S),
        in T's CSR order. Only these entries are computed (masked decoder). ``offsets``: the
        baseline of ``_history``, added before the unseen defaults and clipping."""
        V, c, act = self._output_layer()
        be = self._cpu()
        out = np.empty(T.nnz, dtype=self.dtype_)
        for s in self._batches(S.shape[0], self._sample_batch):
            lo, hi = T.indptr[s.start], T.indptr[s.stop]
            if lo == hi:
                continue
            H = self._hidden(S[s])
            out[lo:hi] = self._output(be.masked_decoder_forward(T[s], H, V, c), act)
        sample_empty = np.diff(S.indptr) == 0
        rows = np.repeat(np.arange(T.shape[0]), np.diff(T.indptr))
        if offsets is not None:
            out += (offsets[0][rows] + offsets[1][T.indices]).astype(out.dtype)
        return self._finish(out, sample_empty[rows], ~self.output_seen_[T.indices], clip=True)

    def _rmse(self, X, y):
        """RMSE of the predictions from history X at y's stored ratings (RecommenderBase.score)."""
        if y.nnz == 0:
            raise ValueError("y has no ratings to score")
        err = self._errors(X, y)
        return float(np.sqrt(np.mean(err * err)))

    def _errors(self, X, y):
        """float64 prediction − rating at y's stored entries (CSR order of the samples) from history X;
        what ``_rmse`` averages, and what ``aerec.distributed`` sums partition by partition."""
        X = self._validate(X, reset=False)
        T = self._samples(y, "y")
        S, offsets = self._history(X)
        with blas_threads(self._blas_threads()):
            pred = self._predict_entries(S, T, offsets)
        return pred.astype(np.float64) - T.data

    def _score_blocks(self, X, batch_size=None, clip=True):
        """Yield ``(row slice, dense predictions)`` over X's user rows, a block at a time."""
        V, c, act = self._output_layer()
        be = self._cpu()
        bu = self._user_biases(X)
        if self._item_based:
            S = self._samples(X)
            H = np.empty((S.shape[0], V.shape[1]), dtype=self.dtype_)
            for s in self._batches(S.shape[0], self._sample_batch):
                H[s] = self._hidden(S[s])
            item_empty = (np.diff(S.indptr) == 0)[np.newaxis, :]
            for s in self._batches(X.shape[0], batch_size):
                # pred[u, i] = f(V[u]·H[i] + c[u]): users are the decoder's outputs
                P = be.matmul(V[s], H.T)
                P += c[s, np.newaxis]
                P = self._output(P, act)
                self._add_baseline(P, None if bu is None else bu[s])
                yield s, self._finish(P, item_empty, ~self.output_seen_[s, np.newaxis], clip)
        else:
            for s in self._batches(X.shape[0], batch_size):
                yield s, self._dense_user_block(be, X[s], None if bu is None else bu[s], V, c, act, clip)

    def _add_baseline(self, P, bu):
        """P (users × items block) += μ + b_u + b_i, in place; nothing without a baseline."""
        if bu is not None:
            P += (bu + self.rating_mean_).astype(P.dtype)[:, np.newaxis]
            P += self.item_bias_.astype(P.dtype)[np.newaxis, :]

    def _dense_user_block(self, be, Xb, bu, V, c, act, clip):
        """Dense predictions for a block of user rows from their ratings Xb (and user biases bu)."""
        P = be.matmul(self._hidden(Xb), V.T)
        P += c
        P = self._output(P, act)
        self._add_baseline(P, bu)
        return self._finish(P, (np.diff(Xb.indptr) == 0)[:, np.newaxis], ~self.output_seen_[np.newaxis, :], clip)

    def _score_batch(self, X):
        if self._item_based:  # pragma: no cover - predict/recommend below never call it for item-based
            raise NotImplementedError("item-based AutoRec scores whole matrices, not row batches")
        V, c, act = self._output_layer()
        return self._dense_user_block(self._cpu(), X, self._user_biases(X), V, c, act, clip=True)

    def predict(self, X):
        """Predicted ratings for every (row, item) pair, dense (n_rows, n_items).

        Each row of X is a user's ratings (the history the model reads). Unseen users/items get the
        ``unseen`` default; predictions are clipped to the training rating range when ``clip``. For
        top-k lists of many users prefer ``recommend`` (batched, never the full array).
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        check_dense_size((X.shape[0], self.n_features_in_), self.dtype_, "predict",
                         "Use recommend(X, k) for top-k lists, or score(X, y) for the RMSE at y's entries.")
        out = np.empty((X.shape[0], self.n_features_in_), dtype=self.dtype_)
        with blas_threads(self._blas_threads()):
            for s, block in self._score_blocks(X):
                out[s] = block
        return out

    def recommend(self, X, k=10, exclude_seen=True, items=None, batch_size=None, precision=None):
        """Top-``k`` items per row of X by predicted rating, best first: ``(indices, scores)``.

        Computed in batches of rows (never the full n_rows × n_items array). Items are ranked by the
        unclipped reconstruction (clipping at the top of the scale would only create ties); unseen
        items get the ``unseen`` default. ``exclude_seen`` drops the row's own rated items; ``items``
        restricts the candidates; rows with fewer than k eligible items are padded with index −1 and
        score −inf. ``precision``: None only (a rating model scores in its own dtype); 'bfloat16' is
        refused with the models that support it named.
        """
        X, items = self._recommend_args(X, k, items, precision)
        if precision is not None:
            self._bf16_scorer()  # raises: the rating models have no bfloat16 output layer
        idx = np.empty((X.shape[0], k), dtype=np.int64)
        val = np.empty((X.shape[0], k), dtype=self.dtype_)
        be = self._cpu()
        with blas_threads(self._blas_threads()):
            for s, scores in self._score_blocks(X, batch_size, clip=False):
                idx[s], val[s] = be.topk(np.ascontiguousarray(scores), k, exclude=X[s] if exclude_seen else None,
                                         candidates=items)
        return idx, val

    # ---- fit helpers ------------------------------------------------------------------------------

    def _check_parallel(self, y_val):
        """What data-parallel training (``fit(…, comm=…)``) needs of a rating model's settings."""
        if self._item_based:
            raise ValueError("item-based AutoRec encodes each item's column over all users, so its samples cannot "
                             "be split by user across MPI ranks: use item_based=False")
        if self.device == "cuda":
            raise ValueError("training over MPI runs on the CPU: pass device='cpu' (or 'auto')")
        if self.early_stopping and y_val is None:
            raise ValueError("with comm, early stopping validates on y_val (and X_val) of each rank's own users: "
                             "pass them, or early_stopping=False")

    def _validation_split(self, X, X_val, y_val, rng):
        """Training ratings and the (history, target) validation pair as users × items CSR, or None.

        X_val defaults to the training ratings when only y_val is given; with ``early_stopping`` and
        no y_val, a seeded ``validation_fraction`` of X's ratings is held out.
        """
        if X_val is not None and y_val is None:
            raise ValueError("X_val needs y_val (the validation ratings to predict)")
        if y_val is not None:
            y_val = to_csr(y_val, self.dtype_, what="y_val", implicit=False)
            if y_val.shape[1] != X.shape[1]:
                raise ValueError(f"y_val has {y_val.shape[1]} items; expected {X.shape[1]}")
            if X_val is None:
                if y_val.shape != X.shape:
                    raise ValueError(f"y_val has shape {y_val.shape}; without X_val it must match X {X.shape}")
                return X, (X, y_val)
            X_val = to_csr(X_val, self.dtype_, what="X_val", implicit=False)
            if X_val.shape != y_val.shape:
                raise ValueError(f"X_val {X_val.shape} and y_val {y_val.shape} must have the same shape")
            if self._item_based and X_val.shape[0] != X.shape[0]:
                raise ValueError(f"item-based AutoRec validates on the training users: X_val/y_val need "
                                 f"{X.shape[0]} rows, got {X_val.shape[0]}")
            return X, (X_val, y_val)
        if self.early_stopping:
            n, n_val = X.nnz, int(round(float(self.validation_fraction) * X.nnz))
            if not 1 <= n_val < n:
                raise ValueError(f"validation_fraction={self.validation_fraction} of {n} ratings leaves no training "
                                 "or no validation ratings")
            X_tr, held = holdout_ratings(X, n_val, rng)  # a count: the same draws as a fraction would need
            return X_tr, (X_tr, held)
        return X, None

    def _warn_or_raise_divergence(self, stopper, epoch, advice):
        name = type(self).__name__
        if stopper is None or stopper.best_epoch < 0:
            raise FloatingPointError(f"{name}: the training loss became NaN/inf in epoch {epoch + 1}; {advice}")
        warnings.warn(f"{name}: training diverged (NaN/inf loss) in epoch {epoch + 1}; restored the best epoch "
                      f"({stopper.best_epoch}). {advice}", RuntimeWarning, stacklevel=3)

    def _warn_interrupted(self):
        warnings.warn(f"{type(self).__name__}: training interrupted (Ctrl-C) after {self.n_iter_} epochs; the model "
                      "holds the best (or last completed) state", RuntimeWarning, stacklevel=3)

    # ---- persistence helpers ----------------------------------------------------------------------

    def _baseline_arrays(self, n_items=None):
        """The baseline's fitted arrays for a model file (``{}`` without a baseline). With
        ``n_items`` (loading): placeholders naming the arrays the parameters require."""
        if self.baseline is None:
            return {}
        return {"item_bias": self.item_bias_ if n_items is None else None}

    def _set_baseline_arrays(self, arrays, n_items):
        self.item_bias_ = (check_weights(arrays, "item_bias", (n_items,), np.float64)
                           if self.baseline is not None else None)

    def _explicit_scalars(self):
        return dict(n_features_in_=self.n_features_in_, dtype_=self.dtype_.name, n_iter_=self.n_iter_,
                    best_epoch_=self.best_epoch_, n_threads_=self.n_threads_, device_=self.device_,
                    rating_min_=self.rating_min_, rating_max_=self.rating_max_, rating_mean_=self.rating_mean_,
                    n_updates_=self.n_updates_)

    def _set_explicit_scalars(self, arrays, scalars, n_outputs):
        seen = arrays["output_seen"]
        if seen.dtype != np.bool_ or seen.shape != (n_outputs,):
            raise ValueError(f"output_seen is {seen.dtype}{seen.shape}, expected bool ({n_outputs},)")
        self.output_seen_ = np.array(seen)
        self.loss_curve_ = [float(v) for v in arrays["loss_curve"]]
        self.validation_scores_ = [float(v) for v in arrays["validation_scores"]]
        self.n_iter_ = int(scalars["n_iter_"])
        best = scalars["best_epoch_"]
        self.best_epoch_ = None if best is None else int(best)
        self.rating_min_, self.rating_max_ = float(scalars["rating_min_"]), float(scalars["rating_max_"])
        self.rating_mean_ = float(scalars["rating_mean_"])
        if not (np.isfinite([self.rating_min_, self.rating_max_, self.rating_mean_]).all()
                and self.rating_min_ <= self.rating_mean_ <= self.rating_max_):
            raise ValueError("inconsistent rating range/mean in the file")
        self.n_updates_ = int(scalars["n_updates_"])
        self.n_threads_ = effective_n_threads(self.n_threads)  # this machine's, not the saver's
        self.device_ = "cpu"


def check_weights(arrays, name, shape, dtype):
    """A fitted array from a model file with the expected shape and dtype, finite, copied."""
    a = arrays[name]
    if a.shape != tuple(shape) or a.dtype != dtype:
        raise ValueError(f"{name} is {a.dtype}{a.shape}; the architecture needs {np.dtype(dtype)}{tuple(shape)}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return np.array(a)
