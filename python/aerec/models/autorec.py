"""AutoRec, item-based (I-AutoRec, the paper's best) and user-based (U-AutoRec), on aerec's kernels.

Sedhain, Menon, Sanner & Xie, "AutoRec: Autoencoders Meet Collaborative Filtering", WWW 2015.

One sample is one item's column of ratings over users (item-based) or one user's row of ratings
over items (user-based): ``r̂ = f(g(r·W + b)·Vᵀ + c)``, trained on the observed entries only. The
encoder is the sparse encoder (it reads only the sample's ratings), the decoder is the masked
decoder (it evaluates the reconstruction only where a rating exists), so an epoch costs
O(nnz·h), never O(n_users·n_items·h).
"""

from __future__ import annotations

import contextlib
import numbers
from typing import Any, Optional

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._threads import blas_threads
from .._typing import DTypeLike, MatrixLike, RandomStateLike
from .._validation import check_bool, check_scalar
from ..distributed.mpi import DataParallel, data_parallel_fit
from ..engine import Adam, RProp, Trainer, Update, Validation, minibatches
from ..engine.backend import get_backend
from ..engine.params import Parameter, xavier_uniform
from ._base import available_memory_bytes, check_activation
from ._rating import _RatingAutoencoder, check_weights, transpose_csr

_LEARNING_RATES = {"adam": 1e-3, "rprop": 0.01}  # learning_rate=None
_INPUT_DROPOUT_KEY = 0x5EED_1D0F  # separates the input-dropout draws from the hidden-dropout draws


class AutoRec(_RatingAutoencoder):
    """AutoRec: a one-hidden-layer autoencoder on explicit ratings (Sedhain et al. 2015).

    ``item_based=True`` (I-AutoRec, the default and the paper's best) encodes each item's column of
    ratings over the users; ``item_based=False`` (U-AutoRec) encodes each user's row over the items.
    The reconstruction of a sample r is ``f(g(r·W + b)·Vᵀ + c)`` with hidden activation g and
    output activation f, and the loss counts only observed ratings.

    **Item-based rows.** I-AutoRec's outputs are the users it was fitted on: ``predict``,
    ``recommend``, ``score`` and ``transform`` need a matrix with exactly those users as rows (in the
    same order; normally the training matrix), and raise ``ValueError`` otherwise. Items, on the
    other hand, are folded in from their columns. U-AutoRec folds in any user's row.

    Parameters
    ----------
    item_based : bool, default=True
        I-AutoRec (samples = items) or U-AutoRec (samples = users).
    n_components : int, default=500
        Hidden units h.
    activation : str, default='sigmoid'
        Hidden activation g, among 'sigmoid', 'identity', 'tanh', 'relu', 'elu', 'selu',
        'leaky_relu', 'swish'.
    output_activation : str, default='identity'
        Output activation f, among the same names.
    l2 : float, default=200.0
        The paper's λ: the penalty ``λ/2 · (‖W‖² + ‖V‖²)`` against the *sum* of squared errors
        (biases are not penalised), so smaller data sets want a smaller value.
    dropout : float, default=0.2
        Dropout rate on the hidden code during training (not in the paper).
    input_dropout : float, default=0.25
        Denoising: during training, each observed input rating is dropped (zeroed in the encoder's
        input, the kept ones scaled by 1/(1 − rate)) with this probability, while every observed
        rating stays a target — so the model learns to predict ratings it was not shown, which is
        the prediction task. Not in the paper.
    optimizer : {'adam', 'rprop'}, default='adam'
        Adam on minibatches of ``batch_size`` samples, or the paper's RProp (iRprop−, full batch,
        ``batch_size`` ignored).
    n_epochs : int, default=100
        Epochs (passes over the samples).
    batch_size : int, default=256
        Samples per Adam minibatch.
    learning_rate : float or None, default=None
        Adam's step size (None: 1e-3) or RProp's initial per-weight step (None: 0.01).
    lr_decay : float, default=0.95
        Adam only: epoch e uses ``learning_rate · lr_decay**e`` (RProp adapts its own steps).
    early_stopping : bool, default=False
        Hold out a seeded ``validation_fraction`` of the training *ratings* (when no ``y_val`` is
        given to ``fit``), record the validation RMSE after every epoch and keep the best epoch.
    validation_fraction : float, default=0.05
        Fraction of the ratings held out by ``early_stopping``.
    patience : int or None, default=10
        With validation data: stop after this many epochs without a better validation RMSE (None:
        run all epochs, still keeping the best).
    unseen : {'default', 'mean'}, default='default'
        Prediction for a user or item with no training ratings (an empty sample, or an output the
        model never saw rated): ``default_rating`` (the AutoRec/LLORMA protocol's 3) or the training
        mean rating.
    default_rating : float, default=3.0
        The value ``unseen='default'`` predicts.
    clip : bool, default=True
        Clip predictions to the training rating range (``rating_min_``, ``rating_max_``).
    baseline : {'biases', None}, default='biases'
        Add a ridge bias baseline ``μ + b_u + b_i`` and train the network on the residuals (see
        Notes); None: the paper's model.
    baseline_l2 : float, default=5.0
        The baseline's ridge penalty on every bias (in rating-count units: a bias is the mean offset
        of an item's / a user's ratings shrunk by n / (n + baseline_l2)).
    random_state : int, RandomState instance or None, default=None
        Seed for the initialisation, minibatch order, validation split and dropout.
    n_threads : int or None, default=None
        OpenMP threads (None: all usable cores); results are identical for any value.
    device : {'auto', 'cpu', 'cuda'}, default='auto'
        Where to train, as for every aerec estimator (see the README).
    dtype : {'float32', 'float64'}, default='float32'
        Precision of the weights and of training.
    verbose : bool, default=False
        Show a progress bar.

    Attributes
    ----------
    W_ : ndarray of shape (n_inputs, n_components)
        Encoder weights (item-major for the sparse encoder; the paper's V). n_inputs = n_users for
        item-based, n_items for user-based.
    b_ : ndarray of shape (n_components,)
        Encoder bias (the paper's μ).
    V_ : ndarray of shape (n_outputs, n_components)
        Decoder weights, item-major as the masked decoder reads them (the paper's W); n_outputs =
        n_inputs.
    c_ : ndarray of shape (n_outputs,)
        Decoder bias (the paper's b), initialised at the mean training rating.
    n_features_in_ : int
        Number of items.
    n_users_ : int
        Number of users (rows) at fit time; item-based models need exactly these rows.
    rating_min_, rating_max_, rating_mean_ : float
        Training rating range (for clipping) and mean (the baseline's μ).
    item_bias_ : ndarray of float64, shape (n_items,), or None
        The baseline's item biases b_i (None without a baseline).
    output_seen_ : ndarray of bool, shape (n_outputs,)
        Which outputs (users for item-based, items for user-based) had training ratings.
    loss_curve_ : list of float
        Training objective / N per epoch.
    validation_scores_ : list of float
        Validation RMSE per epoch (empty without validation data).
    best_epoch_ : int or None
        Epoch (0-based) whose weights were kept, with validation data.
    n_iter_, n_updates_ : int
        Epochs run and optimiser steps taken.

    See Also
    --------
    DeepAutoencoder : Deeper user-based rating autoencoder with dense re-feeding.

    Notes
    -----
    **Objective.** The paper's [1]_: the sum of squared errors over the observed training ratings
    plus ``l2/2 · (‖W‖² + ‖V‖²)``, minimised divided by the number of training ratings N (same
    minimiser). Full-batch RProp uses exactly this; Adam uses each minibatch's mean squared error
    plus ``l2/(2N)·(‖W‖²+‖V‖²)``. ``loss_curve_`` records the objective / N per epoch.

    **Baseline.** With ``baseline='biases'`` the prediction is ``μ + b_u + b_i + f(g(r·W + b)·Vᵀ +
    c)``: a ridge-regularised bias baseline [2]_ (item biases fitted at ``fit``; a user's bias
    re-derived from the history it is given, so U-AutoRec still folds in new users) plus the
    network, trained on the residuals. Without it the network spends its capacity — and its weight
    penalty — on the per-user and per-item offsets. The network reads the *raw* ratings, not the
    residuals: a residual near 0 looks like a missing rating, so which items were rated would blur.

    **Defaults.** Adam, not the paper's RProp, because it reached a better validation RMSE within
    every time budget compared. ``l2``, ``dropout``, ``lr_decay``, ``input_dropout`` and the
    baseline were chosen by short comparisons on ML-1M (protocol E1); the baseline and the decay
    each helped on every split tried. ``baseline_l2`` was chosen on the validation RMSE of Douban
    and ML-100K. Smaller data want less penalty (``l2`` is against the sum of squared errors) and
    more denoising, e.g. ``n_components=300, l2=50, dropout=0.5, input_dropout=0.5, lr_decay=0.99,
    patience=30``, with the epoch count chosen by early stopping and a refit on all training
    ratings (``benchmarks/quality/e2_fixed.py --refit``).

    Measured (aerec's source repository): ``benchmarks/quality/RESULTS_E1_ml1m.md`` (ML-1M),
    ``benchmarks/quality/RESULTS_E2.md``.

    References
    ----------
    .. [1] S. Sedhain, A. K. Menon, S. Sanner and L. Xie, "AutoRec: Autoencoders Meet
       Collaborative Filtering", WWW 2015.
    .. [2] Y. Koren, "Factorization Meets the Neighborhood: a Multifaceted Collaborative Filtering
       Model", KDD 2008.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from aerec import AutoRec
    >>> rng = np.random.default_rng(0)
    >>> X = sp.random(60, 40, density=0.2, format="csr", random_state=0, data_rvs=lambda n: rng.integers(1, 6, n))
    >>> model = AutoRec(n_components=16, n_epochs=5, random_state=0).fit(X)
    >>> model.predict(X).shape  # item-based: the same 60 users as rows
    (60, 40)
    >>> round(-model.score(X, X), 2) < 2
    True
    """

    def __init__(self, *, item_based: bool = True, n_components: int = 500, activation: str = "sigmoid",
                 output_activation: str = "identity", l2: float = 200.0, dropout: float = 0.2,
                 input_dropout: float = 0.25, optimizer: str = "adam", n_epochs: int = 100, batch_size: int = 256,
                 learning_rate: Optional[float] = None, lr_decay: float = 0.95, early_stopping: bool = False,
                 validation_fraction: float = 0.05, patience: Optional[int] = 10, unseen: str = "default",
                 default_rating: float = 3.0, clip: bool = True, baseline: Optional[str] = "biases",
                 baseline_l2: float = 5.0, random_state: RandomStateLike = None, n_threads: Optional[int] = None,
                 device: str = "auto", dtype: DTypeLike = "float32", verbose: bool = False) -> None:
        self.item_based = item_based
        self.n_components = n_components
        self.activation = activation
        self.output_activation = output_activation
        self.l2 = l2
        self.dropout = dropout
        self.input_dropout = input_dropout
        self.optimizer = optimizer
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lr_decay = lr_decay
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.unseen = unseen
        self.default_rating = default_rating
        self.clip = clip
        self.baseline = baseline
        self.baseline_l2 = baseline_l2
        self.random_state = random_state
        self.n_threads = n_threads
        self.device = device
        self.dtype = dtype
        self.verbose = verbose

    #: model files written before these parameters existed hold models without them (persistence.load)
    _params_before_they_existed = {"baseline": None, "input_dropout": 0.0}

    @property
    def _item_based(self):
        return bool(self.item_based)

    # ---- parameters ----------------------------------------------------------------------------

    def _check_params(self):
        check_bool(self.item_based, "item_based")
        check_scalar(self.n_components, "n_components", kind=numbers.Integral, low=1)
        for name in ("activation", "output_activation"):
            check_activation(getattr(self, name), name)
        check_scalar(self.l2, "l2", low=0.0)
        check_scalar(self.dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        check_scalar(self.input_dropout, "input_dropout", low=0.0, high=1.0, high_inclusive=False)
        if self.optimizer not in _LEARNING_RATES:
            raise ValueError(f"optimizer must be 'adam' or 'rprop', got {self.optimizer!r}")
        check_scalar(self.n_epochs, "n_epochs", kind=numbers.Integral, low=1)
        check_scalar(self.batch_size, "batch_size", kind=numbers.Integral, low=1)
        if self.learning_rate is not None:
            check_scalar(self.learning_rate, "learning_rate", low=0.0, low_inclusive=False)
        check_scalar(self.lr_decay, "lr_decay", low=0.0, high=1.0, low_inclusive=False)
        self._check_explicit_params()

    # ---- the network (inference) -----------------------------------------------------------------

    def _hidden(self, S):
        be = self._cpu()
        Z = be.sparse_encoder_forward(S, self.W_, self.b_)
        return be.activation_forward(self.activation, Z, out=Z)

    _codes = _hidden

    def _output_layer(self):
        return self.V_, self.c_, self.output_activation

    # ---- one gradient evaluation ----------------------------------------------------------------

    def _accumulate(self, be, Sb, params, scale, seed, step, row_offset, entry_offset=0, compact=False,
                    inputs=None):
        """Add the gradient of ``scale·Σ(r̂ − r)²`` over Sb's ratings to the parameters' grads;
        returns the unscaled sum of squared errors. ``row_offset``/``entry_offset``: Sb's first row
        and first stored entry within the epoch's batch (they key the dropout draws). ``compact``:
        W's and V's gradients are *set* as row-compact (rows, values) — what the kernels return —
        instead of added into zero-filled dense arrays (one minibatch = one call). ``inputs``: the
        encoder's values at Sb's entries when they differ from the targets Sb.data (a baseline)."""
        W, b, V, c = params
        act, out_act, rate = self.activation, self.output_activation, float(self.dropout)
        S_in = Sb if inputs is None else type(Sb)((inputs, Sb.indices, Sb.indptr), shape=Sb.shape)
        if self.input_dropout:
            # the same sparsity structure, dropped ratings stored as zeros: they add nothing to the
            # encoder's sums nor to its weight gradient; every rating stays a decoder target
            kept = be.dropout(S_in.data.reshape(-1, 1), float(self.input_dropout), seed=seed ^ _INPUT_DROPOUT_KEY,
                              step=step, row_offset=entry_offset)
            # Sb is a host CSR (the device backends copy it per call), so the kept values come back to
            # the host: SciPy cannot hold a device array
            S_in = type(Sb)((be.to_host(kept).reshape(-1), Sb.indices, Sb.indptr), shape=Sb.shape)
        Z = be.sparse_encoder_forward(S_in, W.value, b.value)  # (n, h) = S_in·W + b, nnz·h work
        H = be.activation_forward(act, Z)
        Hd = be.dropout(H, rate, seed=seed, step=step, row_offset=row_offset) if rate else H
        out = be.masked_decoder_forward(Sb, Hd, V.value, c.value)  # (nnz,) Hd[r]·V[j] + c[j] at Sb's entries
        pred = be.activation_forward(out_act, out) if out_act != "identity" else out
        loss, g = be.masked_mse(pred, Sb.data, scale=scale)
        if out_act != "identity":
            g = be.activation_backward(out_act, out, pred, g)
        dH, items, dV, dc = be.masked_decoder_backward(Sb, Hd, V.value, g)
        if compact:
            V.set_row_grad(items, dV)
        else:
            V.grad[items] += dV
        c.grad[items] += dc
        if rate:
            dH = be.dropout(dH, rate, seed=seed, step=step, row_offset=row_offset)
        dZ = be.activation_backward(act, Z, H, dH)
        items, dW, db = be.sparse_encoder_backward(S_in, dZ)
        if compact:
            W.set_row_grad(items, dW)
        else:
            W.grad[items] += dW
        b.grad += db
        return loss / scale if scale else 0.0

    # ---- fit ----------------------------------------------------------------------------------------

    @data_parallel_fit
    def fit(self, X: MatrixLike, y: Optional[MatrixLike] = None, *, X_val: Optional[MatrixLike] = None,
            y_val: Optional[MatrixLike] = None, comm: Any = None) -> AutoRec:
        """Fit on the users × items ratings X (stored values are ratings; 0/absent = unobserved).

        y : optional further ratings of the same users (the held-out part, as in ``score(X, y)``);
            training then uses X ∪ y (they must not overlap).
        X_val, y_val : validation history and ratings (users × items). When ``y_val`` is given (or
            ``early_stopping`` holds out ``validation_fraction`` of the ratings), the RMSE of the
            predictions from X_val at y_val's entries is recorded after every epoch and the best
            epoch's weights are kept. X_val defaults to the training ratings; item-based models
            need X_val's rows to be the training users.
        comm : mpi4py communicator, optional
            Data-parallel training over MPI (user-based AutoRec; see ``MultVAE.fit``): each rank
            passes its block of users, and its validation pair (early stopping needs ``y_val``).
        """
        par = None if comm is None else DataParallel(comm, self.random_state)
        with contextlib.nullcontext() if par is None else par.together("checking the fit's input"):
            self._check_params()
            if par is not None:
                self._check_parallel(y_val)
            self.dtype_ = self._dtype()
            X = self._validate(X, reset=True)
            X = self._with_y(X, y)
            rng, n_threads, device = self._resolve_common(par)
            self.n_threads_, self.device_ = n_threads, device
            self.n_users_ = X.shape[0]
            X_tr, val = self._validation_split(X, X_val, y_val, rng)
            self._check_weight_memory(X.shape[1] if not self._item_based else X.shape[0], int(self.n_components),
                                      self.dtype_)  # here, so that a rank short of memory fails with the others
        if par is not None:
            par.setup(self, X_tr, validation=val is not None)
            self.n_users_ = par.n_global
        self._fit_rating_stats(transpose_csr(X_tr) if self._item_based else X_tr, par)
        self._fit_baseline(X_tr, par)
        # S: the samples' reconstruction targets (residuals from the baseline, if any); S_in: what the
        # encoder reads at the same entries (always the raw ratings)
        S_in = self._samples(X_tr)
        R_tr, _ = self._residuals(X_tr)
        S = S_in if R_tr is X_tr else self._samples(R_tr)
        if val is not None:
            (S_hist, val_offsets), T_val = self._history(val[0], "X_val"), self._samples(val[1], "y_val")
            if (T_val.nnz if par is None else par.sum(T_val.nnz)[0]) == 0:
                raise ValueError("the validation ratings are empty")
        n_samples, n_in = S.shape
        h, dt = int(self.n_components), self.dtype_
        # per-sample rating counts of every sample (every rank's, in global order): a global batch's
        # entry count and where this rank's entries start in it (they key the input-dropout draws)
        counts = np.diff(S.indptr) if par is None else par.gather_row_counts(np.diff(S.indptr))
        starts = np.concatenate([[0], np.cumsum(counts)])
        lo = 0 if par is None else par.lo
        N = int(starts[-1])

        be = get_backend(device, n_threads)
        on_gpu = be.name == "cuda"
        dev = be.asarray if on_gpu else (lambda a: a)  # GPU: train on device copies, return host arrays
        W = Parameter("W", dev(xavier_uniform(rng, n_in, h, dt)))
        b = Parameter("b", dev(np.zeros(h, dtype=dt)), decay=False)
        V = Parameter("V", dev(xavier_uniform(rng, n_in, h, dt)))
        c0 = (float(np.mean(S.data, dtype=np.float64)) if par is None  # the mean (residual) rating
              else par.mean(float(S.data.sum(dtype=np.float64)), float(S.nnz)))
        c = Parameter("c", dev(np.full(n_in, c0, dtype=dt)), decay=False)
        params = [W, b, V, c]
        xp = be.xp

        def publish():  # the fitted attributes: live views on the CPU, host copies of the GPU's
            self.W_, self.b_, self.V_, self.c_ = (be.to_host(p.value) for p in params) if on_gpu else (
                p.value for p in params)

        publish()
        lr = self.learning_rate if self.learning_rate is not None else _LEARNING_RATES[self.optimizer]
        full_batch = self.optimizer == "rprop"
        decay = float(self.l2) / N  # ∂/∂W of l2/(2N)·‖W‖²
        if full_batch:
            opt = RProp(be, params, lr=lr)
        else:
            opt = Adam(be, params, lr=lr, weight_decay=decay)
        seed = int(rng.randint(0, 2**62, dtype=np.int64))
        # Full batch: the gradient is accumulated over chunks of samples so the dense (samples × h)
        # activations stay bounded in memory; minibatches are one chunk each.
        chunk = max(1, (64 * 2**20) // (4 * h * np.dtype(dt).itemsize))

        def batches(epoch):
            return [None] if full_batch else minibatches(counts.size, int(self.batch_size), rng)

        def step(idx):
            # minibatches: W's and V's gradients arrive row-compact (only the rows the batch touches)
            # and go to Adam as they are — no zero-fill, scatter or dense read of n_inputs × h arrays
            # per step; bit-identical to the dense form
            for p in ((b, c) if not full_batch else params):
                p.set_dense_grad().fill(0)
            if idx is None:  # full batch, scale 1/N
                sse = 0.0
                for start in range(0, n_samples, chunk):
                    stop = min(n_samples, start + chunk)
                    whole = (start, stop) == (0, n_samples)
                    Sb = S if whole else S[start:stop]
                    inputs = None if S_in is S else (S_in if whole else S_in[start:stop]).data
                    sse += self._accumulate(be, Sb, params, 1.0 / N, seed, self.n_updates_, lo + start,
                                            int(starts[lo] + S.indptr[start]), inputs=inputs)
                if par is None or par.rank == 0:  # the penalty's gradient once, not once per rank
                    W.grad += decay * W.value
                    V.grad += decay * V.value
                yield Update(sse, S.nnz)
                return
            batch = np.sort(idx)  # minibatch mean squared error (Adam adds the decay)
            rows, offset, _ = (batch, 0, batch.size) if par is None else par.local_share(batch)
            Sb = S[rows]
            n_ratings = int(counts[batch].sum())
            if not Sb.nnz:  # no ratings here: zero gradients (Adam's moments still decay)
                for p in (W, V):
                    p.set_row_grad(xp.zeros(0, dtype=np.int64), xp.zeros((0, h), dtype=dt))
                yield Update(0.0, 0)
                return
            inputs = None if S_in is S else S_in[rows].data
            entry_offset = int(counts[batch[:offset]].sum())
            yield Update(self._accumulate(be, Sb, params, 1.0 / n_ratings, seed, self.n_updates_, offset,
                                          entry_offset, compact=True, inputs=inputs), Sb.nnz)

        def penalty(mse):  # the objective / N: training MSE plus the scaled weight penalty
            return mse + 0.5 * decay * (float(xp.vdot(W.value, W.value)) + float(xp.vdot(V.value, V.value)))

        validation = None
        if val is not None:
            def rmse():
                if on_gpu:
                    publish()  # validation predicts on the host from copies of this epoch's weights
                err = self._predict_entries(S_hist, T_val, val_offsets).astype(np.float64) - T_val.data
                if par is not None:
                    return float(np.sqrt(par.mean(float(np.sum(err * err)), float(err.size))))
                return float(np.sqrt(np.mean(err * err)))
            validation = Validation(rmse, "min", "val_rmse")
        trainer = Trainer(self, params, opt, n_epochs=self.n_epochs, validation=validation, patience=self.patience,
                          learning_rate=None if full_batch else (lambda epoch: lr * float(self.lr_decay) ** epoch),
                          epoch_loss=penalty, publish=publish if on_gpu else None,
                          advice="lower learning_rate (or raise l2)", parallel=par)
        trainer.fit(batches, step)
        return self

    def _check_weight_memory(self, n_in, h, dt):
        """W and V are n_in × h (n_in = users for item-based): with their gradients and the
        optimiser's two moment arrays, 8 such arrays. Refuse up front if they cannot fit."""
        need = 8 * n_in * h * np.dtype(dt).itemsize
        avail = available_memory_bytes()
        if avail is not None and need > 0.8 * avail:
            side = "users" if self._item_based else "items"
            raise MemoryError(
                f"AutoRec with {n_in:,} {side} as inputs and n_components={h} needs about {need / 2**30:.2f} GiB for "
                f"its weights, gradients and optimiser state, more than 80 % of the {avail / 2**30:.2f} GiB "
                "available. Lower n_components, use dtype='float32'"
                + (", or item_based=False (its weights scale with the items)" if self._item_based else "") + ".")

    # ---- inference --------------------------------------------------------------------------------

    def transform(self, X: MatrixLike) -> np.ndarray:
        """Codes of each row of X (n_rows, n_components).

        User-based: the hidden code of each user's row. Item-based: a user is an output of the
        decoder, so its representation is its decoder weight row ``V_[u]``; X must hold the
        training users (checked), and its values are not used.
        """
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        if self._item_based:
            self._samples(X)  # checks the rows
            return self.V_.copy()
        out = np.empty((X.shape[0], int(self.n_components)), dtype=self.dtype_)
        with blas_threads(self.n_threads_):
            for s in self._batches(X.shape[0], self._sample_batch):
                out[s] = self._hidden(X[s])
        return out

    # ---- persistence --------------------------------------------------------------------------------

    def _get_fitted_state(self):
        check_is_fitted(self)
        arrays = {"W": self.W_, "b": self.b_, "V": self.V_, "c": self.c_, "output_seen": self.output_seen_,
                  "loss_curve": np.asarray(self.loss_curve_, dtype=np.float64),
                  "validation_scores": np.asarray(self.validation_scores_, dtype=np.float64),
                  **self._baseline_arrays()}
        scalars = self._explicit_scalars()
        scalars["n_users_"] = self.n_users_
        return {"arrays": arrays, "scalars": scalars}

    def _set_fitted_state(self, arrays, scalars):
        self._check_params()
        n_items, n_users = int(scalars["n_features_in_"]), int(scalars["n_users_"])
        dtype = np.dtype(scalars["dtype_"])
        n_in, h = (n_users if self._item_based else n_items), int(self.n_components)
        expected = {"W", "b", "V", "c", "output_seen", "loss_curve", "validation_scores"}
        if set(arrays) != expected | set(self._baseline_arrays(n_items)):
            raise ValueError("unexpected arrays in the file")
        self.W_ = check_weights(arrays, "W", (n_in, h), dtype)
        self.b_ = check_weights(arrays, "b", (h,), dtype)
        self.V_ = check_weights(arrays, "V", (n_in, h), dtype)
        self.c_ = check_weights(arrays, "c", (n_in,), dtype)
        self.n_features_in_, self.n_users_, self.dtype_ = n_items, n_users, dtype
        self._set_explicit_scalars(arrays, scalars, n_in)
        self._set_baseline_arrays(arrays, n_items)

