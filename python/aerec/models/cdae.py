"""CDAE: the collaborative denoising autoencoder with a per-user input vector, on aerec's kernels.

Wu, DuBois, Zheng & Ester, "Collaborative Denoising Auto-Encoders for Top-N Recommender Systems",
WSDM 2016.

One training step: the hidden pre-activation is the sparse encoder (dropout fused, the batch never
densified) plus the batch users' rows of V; the output is evaluated only at the observed items and
the sampled negatives (the masked decoder kernels), the elementwise loss is O(nnz) NumPy (logistic)
or ``masked_mse`` (squared); every weight gradient is row-compact except the two biases.
"""

from __future__ import annotations

import numbers
from typing import Optional

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._threads import blas_threads, effective_n_threads
from .._typing import DTypeLike, MatrixLike, RandomStateLike
from .._validation import check_bool, check_scalar
from ..engine import Adam, Trainer, Update, Validation, minibatches
from ..engine.backend import get_backend
from ..engine.params import Parameter
from ..metrics import ndcg_at_k
from ..model_selection import holdout_users
from ._base import RecommenderBase, check_activation, to_csr

LOSSES = ("logistic", "squared")


def sample_negatives(X, ratio, rng):
    """The training mask of a CSR batch: each row's observed items plus ``m_u = min(round(ratio·n_u),
    n_items − n_u)`` uniform draws (with replacement, duplicates merged) from the row's *unobserved*
    items, ``n_u`` being the row's observed count.

    X: canonical CSR (sorted indices); rng: a NumPy Generator (the caller keys it). Returns
    ``(indptr, indices, target)``: the mask in CSR form (sorted, unique per row) and the target per
    entry (1 observed, 0 negative), both in X's dtype for the target.
    """
    n_rows, n_items = X.shape
    indptr = np.asarray(X.indptr, dtype=np.int64)
    indices = np.asarray(X.indices, dtype=np.int64)
    n_obs = np.diff(indptr)
    m = np.minimum(np.rint(ratio * n_obs).astype(np.int64), n_items - n_obs)
    row_of = np.repeat(np.arange(n_rows, dtype=np.int64), m)
    free = (n_items - n_obs)[row_of]
    k = np.minimum((rng.random(row_of.size) * free).astype(np.int64), free - 1)  # k-th unobserved item
    # The k-th unobserved item of a row is k + #{observed i : indices[i] − (its position in the row) ≤ k}:
    # indices − position counts the unobserved items before each observed one (non-decreasing in a row).
    obs_row = np.repeat(np.arange(n_rows, dtype=np.int64), n_obs)
    big = n_items + 1  # rows laid end to end keep the keys sorted across rows
    adj = indices - (np.arange(indices.size, dtype=np.int64) - indptr[obs_row]) + obs_row * big
    neg = k + np.searchsorted(adj, k + row_of * big, side="right") - indptr[row_of]
    neg_keys = np.unique(row_of * n_items + neg)
    obs_keys = obs_row * n_items + indices
    keys = np.concatenate([obs_keys, neg_keys])
    target = np.concatenate([np.ones(obs_keys.size, X.dtype), np.zeros(neg_keys.size, X.dtype)])
    order = np.argsort(keys, kind="stable")
    keys, target = keys[order], target[order]
    rows = keys // n_items
    out_indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=out_indptr[1:])
    return out_indptr, keys - rows * n_items, target


def negative_probability(n_obs, n_items, ratio):
    """Probability that a given unobserved item of a row with ``n_obs`` items is in its sampled
    negatives (``sample_negatives``): 1 − (1 − 1/(n_items − n_u))^{m_u}; the weight of the unobserved
    items in fold-in's loss, which is thereby the training loss in expectation over the draws."""
    n_obs = np.asarray(n_obs, dtype=np.float64)
    free = n_items - n_obs
    m = np.minimum(np.rint(ratio * n_obs), free)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = -np.expm1(m * np.log1p(-1.0 / free))
    return np.where(free > 0, p, 0.0)


class CDAE(TransformerMixin, RecommenderBase):
    """CDAE: a denoising autoencoder with a per-user input vector (Wu et al. 2016).

    Users × items implicit interactions in, a score for every item out. One hidden layer:
    ``z_u = h(Wᵀ·drop(y_u) + V_u + b)``, scores ``W'ᵀ z_u + b'``, trained on the observed items and
    sampled negatives of each user.

    Parameters
    ----------
    n_components : int, default=50
        Hidden size (50 in the paper).
    activation : str, default='sigmoid'
        Hidden activation h ('sigmoid' in the paper's best setting), among 'sigmoid', 'tanh', 'relu',
        'elu', 'selu', 'leaky_relu', 'swish', 'identity'.
    loss : {'logistic', 'squared'}, default='logistic'
        'logistic': sigmoid output f with the logistic (cross-entropy) loss; 'squared': identity
        output with the squared error. Targets are 1 for observed items and 0 for negatives.
    negative_ratio : float, default=5.0
        Negatives sampled per observed item: each user of a batch gets ``round(negative_ratio · n_u)``
        uniform draws from its unobserved items (capped at their number; duplicates merged), new ones
        every epoch.
    dropout : float, default=0.2
        Corruption level q: each observed input entry is dropped with probability q and the others
        scaled by 1/(1−q) (the paper's unbiased dropout corruption).
    l2 : float, default=1e-3
        L2 penalty: ``l2 · (‖W‖² + ‖W'‖² + ‖V_B‖²)`` is added to the reported per-batch loss (V_B: the
        batch's user vectors; biases excluded). Adam applies it as weight decay 2·l2 on every step to
        *every* row of W, W' and V — user vectors outside the batch too, which Adam also moves by their
        momentum — so the user vectors are pulled to 0 about once per batch, not once per epoch; the
        measured defaults (``RESULTS_CDAE.md``) were chosen with this rule.
    fold_in_steps : int, default=20
        Adam steps that fit an unseen user's vector V_u at inference (0: V_u = 0). See Notes.
    fold_in_lr : float, default=0.05
        Adam's step size for those steps.
    n_epochs : int, default=100
        Training length in epochs.
    batch_size : int, default=64
        Users per batch.
    learning_rate : float, default=0.01
        Adam's step size.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the users (80/20 fold-in/target) when no X_val/y_val is
        given to ``fit``, track NDCG@100 each epoch and keep the best epoch.
    validation_fraction : float, default=0.1
        Fraction of users held out by ``early_stopping``.
    patience : int or None, default=None
        Stop after this many epochs without a better validation NDCG (None: run all epochs).
    random_state : int, RandomState instance or None, default=None
        Seed for the initialisation, batch order, validation split, dropout and negative draws.
    n_threads : int or None, default=None
        OpenMP threads (None: all usable cores); results are identical for any value.
    device : {'auto', 'cpu'}, default='auto'
        CDAE trains on the CPU ('auto' means the CPU); 'cuda' raises a ValueError.
    dtype : {'float32', 'float64'}, default='float32'
        Precision of the weights and of training.
    verbose : bool, default=False
        Show a progress bar.

    Attributes
    ----------
    encoder_weights_ : ndarray of shape (n_items, n_components)
        W, the input weights.
    encoder_bias_ : ndarray of shape (n_components,)
        b.
    user_factors_ : ndarray of shape (n_fit_users, n_components)
        V: one row per user trained on — the rows of X, less those that ``early_stopping`` holds out.
        Inference does not read it (see Notes).
    decoder_weights_ : ndarray of shape (n_items, n_components)
        W', item-major (row j gives item j's output weights).
    decoder_bias_ : ndarray of shape (n_items,)
        b'.
    n_features_in_ : int
        Number of items.
    loss_curve_, validation_scores_ : list of float
        Mean training loss per user (with the penalty) and validation NDCG@100 per epoch.
    best_epoch_ : int or None
        Epoch (0-based) whose weights were kept.
    n_iter_, n_updates_ : int
        Epochs run and optimiser steps taken.

    See Also
    --------
    MultDAE : Denoising autoencoder with a multinomial likelihood over all items.

    Notes
    -----
    Training minimises, per batch of users B, the mean over B of
    ``Σ_{j ∈ O_u ∪ S_u} ℓ(y_uj, ŷ_uj)`` plus the L2 penalty, where O_u are the user's observed
    items and S_u its sampled negatives (``negative_ratio``), drawn per batch from a NumPy generator
    keyed by (seed, update count) on the calling thread — so the draws, like every kernel, are the
    same for any ``n_threads``. Only the ``|O_u ∪ S_u|`` needed outputs are computed (masked
    decoder), as the paper does.

    **Fold-in.** The user vectors V belong to the training users; every row passed to ``predict``,
    ``recommend``, ``score`` or ``transform`` — a training user's row too — is folded in the same
    way, and so is fit's validation: starting from V_u = 0 (the penalty's minimum), ``fold_in_steps``
    Adam steps of size ``fold_in_lr`` on V_u alone, the weights frozen, no dropout, descend the
    training loss in expectation over the negative draws: the observed items with weight 1 and
    every unobserved item with the probability that sampling picks it (``negative_probability``),
    plus ``l2·‖V_u‖²``. Deterministic, and each row's result depends on that row only. Scores are
    the output pre-activation ``W'ᵀ z_u + b'`` (for the logistic loss, its sigmoid is the predicted
    probability; the ranking is the same).

    The defaults of ``batch_size``, ``learning_rate``, ``l2`` and ``negative_ratio`` are the setting
    chosen on the ML-1M validation users (protocol I1); measured there: NDCG@100 0.410 on the test
    users against MultDAE's 0.421, and folding in beats V_u = 0 (0.399):
    ``benchmarks/quality/RESULTS_CDAE.md``.

    References
    ----------
    .. [1] Y. Wu, C. DuBois, A. X. Zheng and M. Ester, "Collaborative Denoising Auto-Encoders for
       Top-N Recommender Systems", WSDM 2016.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from aerec import CDAE
    >>> X = sp.random(200, 50, density=0.1, format="csr", random_state=0)
    >>> model = CDAE(n_components=8, n_epochs=2, random_state=0).fit(X)
    >>> idx, scores = model.recommend(X[:3], k=5)
    >>> idx.shape
    (3, 5)
    >>> model.transform(X[:3]).shape
    (3, 8)
    """

    _implicit = True
    _blas_threads_for_inference = 1  # products run on the backend's pool (engine/backend.py)

    def __init__(self, *, n_components: int = 50, activation: str = "sigmoid", loss: str = "logistic",
                 negative_ratio: float = 5.0, dropout: float = 0.2, l2: float = 1e-3, fold_in_steps: int = 20,
                 fold_in_lr: float = 0.05, n_epochs: int = 100, batch_size: int = 64, learning_rate: float = 0.01,
                 early_stopping: bool = False, validation_fraction: float = 0.1, patience: Optional[int] = None,
                 random_state: RandomStateLike = None, n_threads: Optional[int] = None, device: str = "auto",
                 dtype: DTypeLike = "float32", verbose: bool = False) -> None:
        self.n_components = n_components
        self.activation = activation
        self.loss = loss
        self.negative_ratio = negative_ratio
        self.dropout = dropout
        self.l2 = l2
        self.fold_in_steps = fold_in_steps
        self.fold_in_lr = fold_in_lr
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.random_state = random_state
        self.n_threads = n_threads
        self.device = device
        self.dtype = dtype
        self.verbose = verbose

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = [np.dtype(self.dtype).name]
        return tags

    def _check_params(self):
        check_bool(self.early_stopping, "early_stopping")
        if self.patience is not None:
            check_scalar(self.patience, "patience", kind=numbers.Integral, low=1)
        check_scalar(self.n_components, "n_components", kind=numbers.Integral, low=1)
        check_activation(self.activation)
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        check_scalar(self.negative_ratio, "negative_ratio", low=0.0)
        check_scalar(self.dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        check_scalar(self.l2, "l2", low=0.0)
        check_scalar(self.fold_in_steps, "fold_in_steps", kind=numbers.Integral, low=0)
        check_scalar(self.fold_in_lr, "fold_in_lr", low=0.0, low_inclusive=False)
        check_scalar(self.learning_rate, "learning_rate", low=0.0, low_inclusive=False)
        check_scalar(self.n_epochs, "n_epochs", kind=numbers.Integral, low=1)
        check_scalar(self.validation_fraction, "validation_fraction", low=0.0, high=1.0, low_inclusive=False,
                     high_inclusive=False)
        check_scalar(self.batch_size, "batch_size", kind=numbers.Integral, low=1)

    # ---- one training step -------------------------------------------------------------------

    def _elementwise_loss(self, be, out, target, scale):
        """``scale·Σ ℓ(target, out)`` and its gradient w.r.t. ``out`` (the output pre-activation)."""
        if self.loss == "squared":
            return be.masked_mse(out, target, scale=scale)
        # logistic: ℓ = softplus(out) − t·out, ℓ' = σ(out) − t, computed without overflow
        loss = float(np.sum(np.logaddexp(0.0, out) - target * out, dtype=np.float64)) * scale
        grad = (expit(out) - target) * out.dtype.type(scale)
        return loss, grad.astype(out.dtype, copy=False)

    def _train_step(self, be, X, rows, params, mask, target, seed, step):
        """Forward and backward on the CSR batch X (users ``rows``, sorted) over the training ``mask``
        (indptr, indices) with ``target``; gradients into ``params`` = [W, b, V, W', b']. Returns the
        batch's mean loss per user, penalty included."""
        W, b, V, Wd, bd = (p.value for p in params)
        n = X.shape[0]
        pre = be.sparse_encoder_forward(X, W, b, dropout=self.dropout, seed=seed, step=step)
        pre += V[rows]
        Z = be.activation_forward(self.activation, pre)
        out = be.masked_decoder_forward(mask, Z, Wd, bd)
        loss, d_out = self._elementwise_loss(be, out, target, 1.0 / n)
        dZ, items, dWd, dbd = be.masked_decoder_backward(mask, Z, Wd, d_out)
        params[3].set_row_grad(items, dWd)
        g = params[4].set_dense_grad()
        g.fill(0)
        g[items] = dbd
        d_pre = be.activation_backward(self.activation, pre, Z, dZ)
        enc_items, dW, db = be.sparse_encoder_backward(X, d_pre, dropout=self.dropout, seed=seed, step=step)
        params[0].set_row_grad(enc_items, dW)
        params[1].set_dense_grad()[...] = db
        params[2].set_row_grad(rows, d_pre)  # ∂/∂V_u is the user's row of ∂/∂pre
        with np.errstate(over="ignore", invalid="ignore"):
            reg = self.l2 * (float(np.sum(W * W)) + float(np.sum(Wd * Wd)) + float(np.sum(V[rows] ** 2))) \
                if self.l2 else 0.0
        return loss + reg

    # ---- fit ------------------------------------------------------------------------------------

    def fit(self, X: MatrixLike, y: Optional[MatrixLike] = None, *, X_val: Optional[MatrixLike] = None,
            y_val: Optional[MatrixLike] = None) -> CDAE:
        """Fit on users × items interactions X (positive values are interactions).

        y : optional held-out interactions of the same users (as in ``score(X, y)``); training then
            uses X ∪ y.
        X_val, y_val : validation users' fold-in and target interactions. When given (or when
            ``early_stopping`` holds out ``validation_fraction`` of the users), NDCG@100 on them (the
            rows folded in, see Notes) is computed after every epoch and the best epoch's weights
            are kept; ``patience`` epochs without improvement stop training early.
        """
        self._check_params()
        if self.device == "cuda":
            raise ValueError("device='cuda': CDAE has no GPU path; pass device='cpu' (or 'auto', which trains "
                             "CDAE on the CPU)")
        self.dtype_ = self._dtype()
        X = self._validate(X, reset=True)
        X = self._with_y(X, y)
        rng, n_threads, _ = self._resolve_common()
        self.n_threads_, self.device_ = n_threads, "cpu"
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        if X_val is not None:
            X_val = to_csr(X_val, self.dtype_, what="X_val")
            y_val = to_csr(y_val, self.dtype_, what="y_val")
            if X_val.shape[1] != X.shape[1] or y_val.shape != X_val.shape:
                raise ValueError(f"X_val/y_val must have shape (n_val_users, {X.shape[1]}) each")
        elif self.early_stopping:
            X, X_val, y_val = holdout_users(X, float(self.validation_fraction), rng, _name="validation_fraction")
        if X.nnz == 0:
            raise ValueError("X has no interactions to learn from")
        be = get_backend("cpu", n_threads)
        dt, h = self.dtype_, int(self.n_components)
        n_users, n_items = X.shape
        limit = np.sqrt(6.0 / (n_items + h))
        W = rng.uniform(-limit, limit, size=(n_items, h)).astype(dt)
        Wd = rng.uniform(-limit, limit, size=(n_items, h)).astype(dt)
        params = [Parameter("W", W), Parameter("b", np.zeros(h, dt), decay=False),
                  Parameter("V", np.zeros((n_users, h), dt)), Parameter("W_out", Wd),
                  Parameter("b_out", np.zeros(n_items, dt), decay=False)]
        opt = Adam(be, params, lr=self.learning_rate, weight_decay=2.0 * self.l2)
        seed = int(rng.randint(0, 2**62, dtype=np.int64))
        self._publish(params)  # live views of the parameters (validation reads them)
        self.n_features_in_ = n_items

        def batches(epoch):
            return (np.sort(idx) for idx in minibatches(n_users, int(self.batch_size), rng))

        def step(rows):
            Xb = X[rows]
            draws = np.random.default_rng([seed, self.n_updates_])
            indptr, indices, target = sample_negatives(Xb, float(self.negative_ratio), draws)
            mask = sp.csr_array((target, indices, indptr), shape=Xb.shape)  # the pattern; data = target
            loss = self._train_step(be, Xb, rows, params, mask, target, seed, self.n_updates_)
            yield Update(loss * rows.size, rows.size)

        validation = None
        if X_val is not None:
            validation = Validation(lambda: self._validation_ndcg(X_val, y_val), "max", "val_ndcg@100",
                                    nan_diverges=False)
        Trainer(self, params, opt, n_epochs=self.n_epochs, validation=validation, patience=self.patience).fit(
            batches, step)
        return self

    def _publish(self, params):
        (self.encoder_weights_, self.encoder_bias_, self.user_factors_, self.decoder_weights_,
         self.decoder_bias_) = (p.value for p in params)

    def _validation_ndcg(self, X_val, y_val):
        """Mean NDCG@100 over the validation users with targets, their rows folded in."""
        idx = np.empty((X_val.shape[0], self._score_k), dtype=np.int64)
        with blas_threads(1):
            for s in self._batches(X_val.shape[0]):
                idx[s] = self._topk(self._score_batch(X_val[s]), X_val[s])
        return float(np.nanmean(ndcg_at_k(idx, y_val, self._score_k))) if X_val.shape[0] else float("nan")

    def _topk(self, scores, Xb):
        return self._cpu().topk(np.ascontiguousarray(scores, dtype=self.dtype_), self._score_k, exclude=Xb)[0]

    # ---- inference ------------------------------------------------------------------------------

    def _fold_in(self, be, X):
        """Hidden pre-activations (without V) and the folded-in user vectors of the CSR rows X."""
        W, b, Wd, bd = self.encoder_weights_, self.encoder_bias_, self.decoder_weights_, self.decoder_bias_
        dt = self.dtype_
        base = be.sparse_encoder_forward(X, W, b)
        U = np.zeros_like(base)
        steps = int(self.fold_in_steps)
        if steps == 0 or X.shape[0] == 0:
            return base, U
        n_items = X.shape[1]
        Y = X.toarray()  # 0/1 targets
        p = negative_probability(np.diff(X.indptr), n_items, float(self.negative_ratio)).astype(dt)
        C = np.where(Y > 0, dt.type(1), p[:, None])  # weight of each item in the user's loss
        WdT = Wd.T
        m, v = np.zeros_like(U), np.zeros_like(U)
        lr, b1, b2, eps, l2 = float(self.fold_in_lr), 0.9, 0.999, 1e-8, float(self.l2)
        for t in range(1, steps + 1):
            pre = base + U
            Z = be.activation_forward(self.activation, pre)
            out = be.matmul(Z, WdT)
            out += bd
            if self.loss == "squared":
                G = 2.0 * (out - Y)
            else:
                G = expit(out) - Y
            G *= C
            G = G.astype(dt, copy=False)
            dZ = be.matmul(G, Wd)
            g = be.activation_backward(self.activation, pre, Z, dZ)
            g += (2.0 * l2) * U
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            U -= (lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)) * m / (np.sqrt(v) + eps)
        return base, U.astype(dt, copy=False)

    def _hidden(self, be, X):
        base, U = self._fold_in(be, X)
        base += U
        return be.activation_forward(self.activation, base)

    def _score_batch(self, X):
        be = self._cpu()
        with blas_threads(1):
            Z = self._hidden(be, X)
            out = be.matmul(Z, self.decoder_weights_.T)
        out += self.decoder_bias_
        return out

    def transform(self, X: MatrixLike) -> np.ndarray:
        """The hidden code z_u of each row, its user vector folded in (see Notes)."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        with blas_threads(1):
            return self._hidden(self._cpu(), X)

    # ---- persistence ----------------------------------------------------------------------------

    _ARRAYS = ("encoder_weights_", "encoder_bias_", "user_factors_", "decoder_weights_", "decoder_bias_")

    def _get_fitted_state(self):
        check_is_fitted(self)
        arrays = {name.rstrip("_"): getattr(self, name) for name in self._ARRAYS}
        arrays["loss_curve"] = np.asarray(self.loss_curve_, dtype=np.float64)
        arrays["validation_scores"] = np.asarray(self.validation_scores_, dtype=np.float64)
        scalars = dict(n_features_in_=self.n_features_in_, dtype_=self.dtype_.name, n_iter_=self.n_iter_,
                       best_epoch_=self.best_epoch_, n_threads_=self.n_threads_, device_=self.device_,
                       n_updates_=self.n_updates_)
        return {"arrays": arrays, "scalars": scalars}

    def _set_fitted_state(self, arrays, scalars):
        n_items, h = int(scalars["n_features_in_"]), int(self.n_components)
        dtype = np.dtype(scalars["dtype_"])
        if set(arrays) != {name.rstrip("_") for name in self._ARRAYS} | {"loss_curve", "validation_scores"}:
            raise ValueError("unexpected arrays in the file")
        n_users = arrays["user_factors"].shape[0] if arrays["user_factors"].ndim == 2 else -1
        shapes = {"encoder_weights": (n_items, h), "encoder_bias": (h,), "user_factors": (n_users, h),
                  "decoder_weights": (n_items, h), "decoder_bias": (n_items,)}
        for name, shape in shapes.items():
            a = arrays[name]
            if a.shape != shape or a.dtype != dtype:
                raise ValueError(f"{name}: {a.dtype}{a.shape} does not match the model ({dtype}{shape})")
            if not np.isfinite(a).all():
                raise ValueError(f"{name} holds NaN or infinite values")
            setattr(self, name + "_", np.array(a))
        self.loss_curve_ = list(arrays["loss_curve"])
        self.validation_scores_ = list(arrays["validation_scores"])
        self.n_features_in_, self.dtype_ = n_items, dtype
        self.n_iter_, self.best_epoch_ = int(scalars["n_iter_"]), scalars["best_epoch_"]
        self.n_updates_ = int(scalars["n_updates_"])
        self.n_threads_ = effective_n_threads(self.n_threads)  # this machine's, not the saver's
        self.device_ = "cpu"

