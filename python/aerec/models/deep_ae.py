"""The deep autoencoder with dense re-feeding (NVIDIA DeepRecommender), on aerec's kernels.

Kuchaiev & Ginsburg, "Training Deep AutoEncoders for Collaborative Filtering" (2017).

A user's row of ratings x goes through an encoder (``hidden_dims``), dropout on the code, and a
mirrored decoder back to the items. One training step on a batch:

1. **Sparse step.** The first layer is the sparse encoder (reads only the batch's ratings), the
   output layer is the masked decoder: the mean squared error counts observed ratings only, as
   NVIDIA's ``MSEloss`` does (mask = target ≠ 0). One optimiser step.
2. **Dense re-feeding** (``refeed`` times). f(x), the dense output of the previous forward pass
   (taken before its optimiser step, as NVIDIA's code does), is fed back as both input and target;
   every entry of the dense target counts in the loss. Input and target are dense, so the first
   and last layers are BLAS GEMMs (``Z = X_dense·W + b``, ``out = H·Vᵀ + c``). One step each.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

from .._threads import blas_threads
from .._typing import DTypeLike, MatrixLike, RandomStateLike
from .._validation import check_bool, check_layer_widths, check_scalar
from ..distributed.mpi import DataParallel, data_parallel_fit
from ..engine import SGD, Adam, Trainer, Update, Validation, minibatches
from ..engine.backend import get_backend
from ..engine.params import Parameter, xavier_uniform
from ._base import check_activation
from ._rating import _RatingAutoencoder, check_weights

_ALIASES = {"lrelu": "leaky_relu", "none": "identity"}  # NVIDIA DeepRecommender's names
#: Output activations whose range covers ratings: the output bias starts where f(c) ≈ mean rating.
_UNBOUNDED = {"identity": 1.0, "selu": 1.0507009873554805, "relu": 1.0, "elu": 1.0, "leaky_relu": 1.0, "swish": 1.0}


class DeepAutoencoder(_RatingAutoencoder):
    """Deep autoencoder with dense re-feeding (Kuchaiev & Ginsburg 2017), user-based.

    Encoder ``n_items → hidden_dims[0] → … → hidden_dims[-1]`` (the code), dropout on the code,
    decoder mirrored back to ``n_items``. Every layer applies ``activation`` (the last one only
    when ``last_layer_activations``). Any user's row is folded in at predict time.

    Parameters
    ----------
    hidden_dims : tuple of int, default=(512, 256)
        Encoder layer widths; the last one is the code. The decoder mirrors them.
    activation : str, default='tanh'
        'selu', 'elu', 'lrelu' (= 'leaky_relu', slope 0.01), 'relu', 'sigmoid', 'tanh', 'swish',
        'identity' (= 'none').
    last_layer_activations : bool, default=False
        Apply the activation on the output layer too (NVIDIA's default); False: a linear output
        (needed for bounded activations such as sigmoid/tanh, whose range cannot reach ratings).
    dropout : float, default=0.5
        Dropout rate (probability of zeroing) on the code layer during training (NVIDIA's
        ``drop_prob``).
    constrained : bool, default=False
        Tie the decoder's weights to the encoder's (each decoder layer uses the transpose of its
        mirror encoder layer; biases stay separate).
    refeed : int, default=1
        Dense re-feeding steps after each sparse step (0 disables; the paper's best is 1). Each
        step is dense work over all items, so ``refeed=0`` trains much faster.
    optimizer : {'sgd', 'adam'}, default='sgd'
        SGD with momentum (the paper's) or Adam.
    momentum : float, default=0.9
        SGD momentum.
    n_epochs : int, default=50
        Epochs over the users.
    batch_size : int, default=128
        Users per batch (NVIDIA: 128).
    learning_rate : float, default=0.06
        Initial step size (NVIDIA: 0.005 on Netflix, whose epochs hold ~80× more batches).
    lr_decay : float, default=1.0
        Multiplicative learning-rate decay per epoch: epoch e uses ``learning_rate · lr_decay**e``.
    lr_milestones : tuple of int, default=()
        Step schedule: the learning rate is further multiplied by ``lr_gamma`` at each of these
        epochs (NVIDIA's MultiStepLR with milestones [24, 36, 48, 66, 72] and gamma 0.5).
    lr_gamma : float, default=0.5
        Factor applied at each milestone.
    l2 : float, default=3e-4
        Weight decay: ``l2·W`` is added to each weight's gradient of the per-batch mean squared error
        (``l2/2·‖W‖²`` in the loss; biases are not decayed), PyTorch's ``weight_decay``.
    early_stopping : bool, default=False
        Hold out a seeded ``validation_fraction`` of the training *ratings* (when no ``y_val`` is
        given), record the validation RMSE per epoch and keep the best epoch.
    validation_fraction : float, default=0.05
        Fraction of the ratings held out by ``early_stopping``.
    patience : int or None, default=10
        Stop after this many epochs without a better validation RMSE (None: run all epochs).
    unseen : {'default', 'mean'}, default='default'
        Prediction for users with no ratings in X and items without training ratings:
        ``default_rating`` or the training mean rating.
    default_rating : float, default=3.0
        The value ``unseen='default'`` predicts.
    clip : bool, default=True
        Clip predictions to the training rating range.
    baseline : {'biases', None}, default='biases'
        As for ``AutoRec``: predict ``μ + b_u + b_i`` plus the network, which reads the raw ratings
        and is trained on the residuals (re-feeding steps read the full dense prediction and target
        its residual part). It lowered the test RMSE on ML-1M. None: NVIDIA's model.
    baseline_l2 : float, default=5.0
        The baseline's ridge penalty on every bias.
    random_state : int, RandomState instance or None, default=None
        Seed for the initialisation, batch order, validation split and dropout.
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
    encoder_coefs_, encoder_intercepts_ : list of ndarray
        Encoder weights ``(n_in, n_out)`` and biases; ``encoder_coefs_[0]`` is (n_items, h1).
    decoder_coefs_, decoder_intercepts_ : list of ndarray
        The decoder's hidden layers (n_in, n_out) (transposed views of the encoder's when
        ``constrained``) and biases.
    output_coef_ : ndarray of shape (n_items, h1)
        Output layer weights, item-major (the masked decoder's layout; the same array as
        ``encoder_coefs_[0]`` when ``constrained``): ``out = f(H·output_coef_ᵀ + output_intercept_)``.
    output_intercept_ : ndarray of shape (n_items,)
        Output layer bias.
    n_features_in_ : int
        Number of items.
    rating_min_, rating_max_, rating_mean_ : float
        Training rating range and mean.
    output_seen_ : ndarray of bool, shape (n_items,)
        Items with training ratings.
    item_bias_ : ndarray of float64, shape (n_items,), or None
        The baseline's item biases (None without a baseline).
    loss_curve_ : list of float
        Mean squared error of the sparse steps (observed ratings) per epoch.
    refeed_loss_curve_ : list of float
        Mean squared error of the dense re-feeding steps per epoch (empty when ``refeed=0``).
    validation_scores_ : list of float
        Validation RMSE per epoch.
    best_epoch_ : int or None
        Epoch (0-based) whose weights were kept, with validation data.
    n_iter_, n_updates_ : int
        Epochs run and optimiser steps taken.

    See Also
    --------
    AutoRec : One-hidden-layer rating autoencoder, item- or user-based.

    Notes
    -----
    One training step on a batch [1]_: a *sparse step* (sparse encoder, masked decoder; the mean
    squared error counts observed ratings only, as NVIDIA's ``MSEloss``), then ``refeed`` *dense
    re-feeding* steps, each feeding the previous forward pass's dense output back as both input
    and target, every entry counting (see the module docstring).

    **Defaults.** The paper's Netflix recipe ([n, 512, 512, 1024], SELU, dropout 0.8, refeed 1)
    over-fits on MovieLens-sized data, so the defaults are a smaller tanh network ([n, 512, 256],
    linear output, dropout 0.5 on the code, ``l2=3e-4``, SGD with momentum 0.9 at 0.06, batches of
    128 users), the best of a short comparison on ML-1M. ``refeed=1`` is the paper's best; on ML-1M
    it did not improve the fit within the epochs tried, so set ``refeed=0`` for speed. The best
    epoch was near the last, so a larger ``n_epochs`` may help.

    Measured (aerec's source repository): ``benchmarks/quality/RESULTS_E1_ml1m.md``.

    References
    ----------
    .. [1] O. Kuchaiev and B. Ginsburg, "Training Deep AutoEncoders for Collaborative Filtering",
       arXiv:1708.01715, 2017.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> from aerec import DeepAutoencoder
    >>> rng = np.random.default_rng(0)
    >>> X = sp.random(80, 30, density=0.2, format="csr", random_state=0, data_rvs=lambda n: rng.integers(1, 6, n))
    >>> model = DeepAutoencoder(hidden_dims=(16, 8), n_epochs=3, random_state=0).fit(X)
    >>> model.predict(X[:2]).shape
    (2, 30)
    >>> model.transform(X[:2]).shape
    (2, 8)
    """

    _item_based = False
    #: model files written before ``baseline`` existed hold models without one (persistence.load)
    _params_before_they_existed = {"baseline": None}

    def __init__(self, *, hidden_dims: Sequence[int] = (512, 256), activation: str = "tanh",
                 last_layer_activations: bool = False, dropout: float = 0.5, constrained: bool = False, refeed: int = 1,
                 optimizer: str = "sgd", momentum: float = 0.9, n_epochs: int = 50, batch_size: int = 128,
                 learning_rate: float = 0.06, lr_decay: float = 1.0, lr_milestones: Sequence[int] = (),
                 lr_gamma: float = 0.5, l2: float = 3e-4, early_stopping: bool = False,
                 validation_fraction: float = 0.05, patience: Optional[int] = 10, unseen: str = "default",
                 default_rating: float = 3.0, clip: bool = True, baseline: Optional[str] = "biases",
                 baseline_l2: float = 5.0, random_state: RandomStateLike = None, n_threads: Optional[int] = None,
                 device: str = "auto", dtype: DTypeLike = "float32", verbose: bool = False) -> None:
        self.hidden_dims = hidden_dims
        self.activation = activation
        self.last_layer_activations = last_layer_activations
        self.dropout = dropout
        self.constrained = constrained
        self.refeed = refeed
        self.optimizer = optimizer
        self.momentum = momentum
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.lr_decay = lr_decay
        self.lr_milestones = lr_milestones
        self.lr_gamma = lr_gamma
        self.l2 = l2
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

    # ---- parameters ----------------------------------------------------------------------------

    def _check_params(self):
        dims = check_layer_widths(self.hidden_dims, "hidden_dims")
        check_activation(self.activation, "activation", _ALIASES)
        for name in ("last_layer_activations", "constrained"):
            check_bool(getattr(self, name), name)
        check_scalar(self.dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        check_scalar(self.refeed, "refeed", kind=numbers.Integral, low=0)
        if self.optimizer not in ("sgd", "adam"):
            raise ValueError(f"optimizer must be 'sgd' or 'adam', got {self.optimizer!r}")
        check_scalar(self.momentum, "momentum", low=0.0, high=1.0, high_inclusive=False)
        check_scalar(self.n_epochs, "n_epochs", kind=numbers.Integral, low=1)
        check_scalar(self.batch_size, "batch_size", kind=numbers.Integral, low=1)
        check_scalar(self.learning_rate, "learning_rate", low=0.0, low_inclusive=False)
        check_scalar(self.lr_decay, "lr_decay", low=0.0, high=1.0, low_inclusive=False)
        for m in self.lr_milestones:
            check_scalar(m, "lr_milestones entry", kind=numbers.Integral, low=1)
        check_scalar(self.lr_gamma, "lr_gamma", low=0.0, high=1.0, low_inclusive=False)
        check_scalar(self.l2, "l2", low=0.0)
        self._check_explicit_params()
        return dims

    @property
    def _act(self):
        return _ALIASES.get(self.activation, self.activation)

    @property
    def _out_act(self):
        return self._act if self.last_layer_activations else "identity"

    def _learning_rate(self, epoch):
        n_passed = sum(1 for m in self.lr_milestones if epoch >= int(m))
        return float(self.learning_rate) * float(self.lr_decay) ** epoch * float(self.lr_gamma) ** n_passed

    # ---- the network ------------------------------------------------------------------------------

    def _build(self, dims, n_items, rng, dev=lambda a: a, target_mean=None):
        """Parameters (xavier-uniform weights as NVIDIA's code, zero biases) and the live views.
        ``dev`` moves each initial value to the training device (identity on the CPU)."""
        dt, L = self.dtype_, len(dims)
        enc = [n_items] + dims
        self._enc_W = [Parameter(f"enc{k}.W", dev(xavier_uniform(rng, enc[k], enc[k + 1], dt))) for k in range(L)]
        self._enc_b = [Parameter(f"enc{k}.b", dev(np.zeros(enc[k + 1], dtype=dt)), decay=False) for k in range(L)]
        rev = enc[::-1]
        self._dec_W = [None if self.constrained else
                       Parameter(f"dec{j}.W", dev(xavier_uniform(rng, rev[j], rev[j + 1], dt))) for j in range(L - 1)]
        self._dec_b = [Parameter(f"dec{j}.b", dev(np.zeros(rev[j + 1], dtype=dt)), decay=False) for j in range(L - 1)]
        self._V = None if self.constrained else Parameter("out.V",
                                                          dev(xavier_uniform(rng, dims[0], n_items, dt).T.copy()))
        scale = _UNBOUNDED.get(self._out_act)
        mean = self.rating_mean_ if target_mean is None else target_mean  # the targets' mean (residuals: ~0)
        c0 = mean / scale if scale else 0.0
        self._c = Parameter("out.c", dev(np.full(n_items, c0, dtype=dt)), decay=False)
        params = [p for pair in zip(self._enc_W, self._enc_b) for p in pair]
        params += [p for p in self._dec_W if p is not None] + self._dec_b
        params += [p for p in (self._V, self._c) if p is not None]
        self._publish()
        return params

    def _publish(self, to_host=None):
        """Point the fitted attributes at the parameters: live views, or host copies (``to_host``)
        of parameters that live on the GPU."""
        f = to_host or (lambda a: a)
        self._set_views([f(p.value) for p in self._enc_W], [f(p.value) for p in self._enc_b],
                        [None if p is None else f(p.value) for p in self._dec_W], [f(p.value) for p in self._dec_b],
                        None if self._V is None else f(self._V.value), f(self._c.value))

    def _set_views(self, enc_W, enc_b, dec_W, dec_b, V, c):
        L = len(enc_W)
        self.encoder_coefs_, self.encoder_intercepts_ = list(enc_W), list(enc_b)
        self.decoder_coefs_ = [enc_W[L - 1 - j].T if self.constrained else dec_W[j] for j in range(L - 1)]
        self.decoder_intercepts_ = list(dec_b)
        self.output_coef_ = enc_W[0] if self.constrained else V
        self.output_intercept_ = c

    def _forward(self, be, X, *, train=False, seed=0, step=0, row_offset=0):
        """Up to the output layer's input H. X: CSR batch (sparse encoder) or dense (GEMM)."""
        act, Ws, bs = self._act, self.encoder_coefs_, self.encoder_intercepts_
        if not sp.issparse(X):  # dense re-feeding input (NumPy or CuPy)
            Z = be.matmul(X, Ws[0])
            Z += bs[0]
        else:
            Z = be.sparse_encoder_forward(X, Ws[0], bs[0])  # (n, h1), nnz·h1 work
        zs, hs = [Z], [be.activation_forward(act, Z)]
        for W, b in zip(Ws[1:], bs[1:]):
            Z = be.matmul(hs[-1], W)
            Z += b
            zs.append(Z)
            hs.append(be.activation_forward(act, Z))
        rate = float(self.dropout) if train else 0.0
        h = be.dropout(hs[-1], rate, seed=seed, step=step, row_offset=row_offset) if rate else hs[-1]
        dec_in, dec_z, dec_h = [], [], []
        for W, b in zip(self.decoder_coefs_, self.decoder_intercepts_):
            dec_in.append(h)
            Z = be.matmul(h, W)
            Z += b
            dec_z.append(Z)
            h = be.activation_forward(act, Z)
            dec_h.append(h)
        cache = dict(X=X, zs=zs, hs=hs, rate=rate, seed=seed, step=step, row_offset=row_offset, dec_in=dec_in,
                     dec_z=dec_z, dec_h=dec_h)
        return be.xp.ascontiguousarray(h), cache

    def _backward(self, be, dH, cache):
        """Gradients from dL/dH (H = the output layer's input), added into the parameters' grads."""
        act, L = self._act, len(self._enc_W)
        dh = dH
        for j in range(L - 2, -1, -1):
            dZ = be.activation_backward(act, cache["dec_z"][j], cache["dec_h"][j], dh)
            if self.constrained:  # decoder j uses enc_W[L-1-j]ᵀ: its gradient adds to the encoder's
                self._enc_W[L - 1 - j].grad += be.matmul(cache["dec_in"][j].T, dZ).T
            else:  # written straight into the gradient (see _zero_grads)
                be.matmul(cache["dec_in"][j].T, dZ, out=self._dec_W[j].grad)  # (rev[j], rev[j+1])
            self._dec_b[j].grad += dZ.sum(axis=0)
            dh = be.matmul(dZ, self.decoder_coefs_[j].T)
        if cache["rate"]:
            dh = be.dropout(be.xp.ascontiguousarray(dh), cache["rate"], seed=cache["seed"], step=cache["step"],
                            row_offset=cache["row_offset"])
        for k in range(L - 1, -1, -1):
            dZ = be.activation_backward(act, cache["zs"][k], cache["hs"][k], be.xp.ascontiguousarray(dh))
            self._enc_b[k].grad += dZ.sum(axis=0)
            if k > 0:
                self._add_grad(be, self._enc_W[k], cache["hs"][k - 1].T, dZ)
                dh = be.matmul(dZ, self.encoder_coefs_[k].T)
            elif not sp.issparse(cache["X"]):
                self._add_grad(be, self._enc_W[0], cache["X"].T, dZ)  # dense input: dW = Xᵀ·dZ, a GEMM
            else:
                items, dW, _ = be.sparse_encoder_backward(cache["X"], dZ)  # rows of the batch's items only
                if self.constrained:  # the output layer's gradient is already in these rows
                    self._enc_W[0].grad[items] += dW
                else:  # row-compact: the optimiser steps every row without a dense zero-filled copy
                    self._enc_W[0].set_row_grad(items, dW)

    def _add_grad(self, be, p, a, b):
        """p.grad += a·b — or, untied, p.grad = a·b straight from the GEMM: every untied weight gets
        exactly one dense product per step, so its gradient is not zero-filled first
        (``_zero_grads``) and no temporary is added in."""
        if self.constrained:
            p.grad += be.matmul(a, b)
        else:
            be.matmul(a, b, out=p.set_dense_grad())

    def _zero_grads(self, params):
        """Zero the gradients that a step accumulates into (scatters, biases, tied weights). Untied
        weights need none: ``_add_grad`` writes their dense gradients whole, and the sparse step gives
        the first layer and the output layer row-compact gradients (``Parameter.set_row_grad``), which
        SGD and Adam step without a dense copy."""
        for p in params if self.constrained else list(self._enc_b) + list(self._dec_b) + [self._c]:
            p.set_dense_grad().fill(0)

    @property
    def _out_grad(self):
        return self._enc_W[0] if self.constrained else self._V

    def _sparse_step(self, be, Xb, seed, step, want_dense, targets=None, n_ratings=None, row_offset=0):
        """Loss on Xb's observed ratings (or on ``targets`` at its entries: the residuals, with a
        baseline); grads accumulated. Returns (mse, dense output or None)."""
        V, c, out_act = self.output_coef_, self.output_intercept_, self._out_act
        H, cache = self._forward(be, Xb, train=True, seed=seed, step=step, row_offset=row_offset)
        dense = None
        if want_dense:  # f(x) before this step, for re-feeding: its GEMM also gives the observed entries
            Z = self._dense_logits(be, H)
            flat = np.repeat(np.arange(Xb.shape[0], dtype=np.int64) * Xb.shape[1], np.diff(Xb.indptr)) + Xb.indices
            out = Z.reshape(-1)[be.asarray(flat)]  # (nnz,) pre-activations, a copy
            dense = be.activation_forward(out_act, Z, out=Z) if out_act != "identity" else Z
        else:
            out = be.masked_decoder_forward(Xb, H, V, c)  # (nnz,) at the observed entries only
        pred = be.activation_forward(out_act, out) if out_act != "identity" else out
        loss, g = be.masked_mse(pred, Xb.data if targets is None else targets, scale=1.0 / (n_ratings or Xb.nnz))
        if out_act != "identity":
            g = be.activation_backward(out_act, out, pred, g)
        dH, items, dV, dc = be.masked_decoder_backward(Xb, H, V, g)
        if self.constrained:  # the first write into the zero-filled encoder W₀'s gradient, which _backward adds to
            self._out_grad.grad[items] = dV
        else:  # row-compact, as the first layer's (see _zero_grads)
            self._V.set_row_grad(items, dV)
        self._c.grad[items] = dc
        self._backward(be, dH, cache)
        return loss, dense

    def _dense_logits(self, be, H):
        """The output layer's pre-activations H·Vᵀ + c for every item (a new array)."""
        Z = be.matmul(H, self.output_coef_.T)
        Z += self.output_intercept_
        return Z

    def _dense_output(self, be, H):
        out = self._dense_logits(be, H)
        if self._out_act != "identity":
            out = be.activation_forward(self._out_act, out, out=out)
        return out

    def _dense_step(self, be, X, seed, step, want_dense, base=None, n_entries=None, row_offset=0):
        """Dense re-feeding: input = target = X (dense); every entry counts in the mean squared error.
        With a baseline X is the network's (residual) output and the input is ``X + base``."""
        out_act = self._out_act
        H, cache = self._forward(be, X if base is None else X + base, train=True, seed=seed, step=step,
                                 row_offset=row_offset)
        Z = self._dense_logits(be, H)
        out = be.activation_forward(out_act, Z) if out_act != "identity" else Z
        loss, g = be.masked_mse(out.reshape(-1), X.reshape(-1), scale=1.0 / (n_entries or X.size))
        g = g.reshape(out.shape)
        dense = out if want_dense else None  # neither out nor Z is written below
        if out_act != "identity":
            g = be.activation_backward(out_act, Z, out, g)
        self._add_grad(be, self._out_grad, g.T, H)  # dV = gᵀ·H, (n_items, h1)
        self._c.grad += g.sum(axis=0)
        dH = be.matmul(g, self.output_coef_)
        self._backward(be, dH, cache)
        return loss, dense

    # ---- fit ----------------------------------------------------------------------------------------

    @data_parallel_fit
    def fit(self, X: MatrixLike, y: Optional[MatrixLike] = None, *, X_val: Optional[MatrixLike] = None,
            y_val: Optional[MatrixLike] = None, comm: Any = None) -> DeepAutoencoder:
        """Fit on the users × items ratings X (stored values are ratings; 0/absent = unobserved).

        y : optional further ratings of the same users (the held-out part, as in ``score(X, y)``);
            training then uses X ∪ y (they must not overlap).
        X_val, y_val : validation history and ratings (users × items; X_val defaults to the training
            ratings). When ``y_val`` is given (or ``early_stopping`` holds out
            ``validation_fraction`` of the ratings), the validation RMSE is recorded after every
            epoch and the best epoch's weights are kept.
        comm : mpi4py communicator, optional
            Data-parallel training over MPI (see ``MultVAE.fit``): each rank passes its block of users,
            and its validation pair (early stopping needs ``y_val``).
        """
        par = None if comm is None else DataParallel(comm, self.random_state)
        with contextlib.nullcontext() if par is None else par.together("checking the fit's input"):
            dims = self._check_params()
            if par is not None:
                self._check_parallel(y_val)
            self.dtype_ = self._dtype()
            X = self._validate(X, reset=True)
            X = self._with_y(X, y)
            rng, n_threads, device = self._resolve_common(par)
            self.n_threads_, self.device_ = n_threads, device
            X_tr, val = self._validation_split(X, X_val, y_val, rng)
        if par is not None:
            par.setup(self, X_tr, validation=val is not None)
        self._fit_rating_stats(X_tr, par)
        self._fit_baseline(X_tr, par)
        R_tr, bu_tr = self._residuals(X_tr)  # the targets (X_tr itself without a baseline)
        # ratings per user of every user (every rank's, in global order): a global batch's count
        counts = np.diff(X_tr.indptr) if par is None else par.gather_row_counts(np.diff(X_tr.indptr))
        if val is not None:
            val = (*self._history(val[0], "X_val"), val[1])
        be = get_backend(device, n_threads)
        on_gpu = be.name == "cuda"  # GPU: train on device copies; fitted attributes are host copies
        target_mean = (float(np.mean(R_tr.data, dtype=np.float64)) if par is None
                       else par.mean(float(R_tr.data.sum(dtype=np.float64)), float(R_tr.nnz)))
        params = self._build(dims, X.shape[1], rng, be.asarray if on_gpu else (lambda a: a), target_mean=target_mean)
        if self.optimizer == "sgd":
            opt = SGD(be, params, lr=self._learning_rate(0), momentum=float(self.momentum), weight_decay=float(self.l2))
        else:
            opt = Adam(be, params, lr=self._learning_rate(0), weight_decay=float(self.l2))
        seed = int(rng.randint(0, 2**62, dtype=np.int64))
        refeed = int(self.refeed)
        self.refeed_loss_curve_ = []

        def batches(epoch):
            return minibatches(counts.size, int(self.batch_size), rng)

        def step(idx):
            batch = np.sort(idx)
            n_ratings = int(counts[batch].sum())
            if n_ratings == 0:  # no ratings in the whole batch: no step (on every rank alike)
                return
            rows, offset, n_rows = (batch, 0, batch.size) if par is None else par.local_share(batch)
            Xb = X_tr[rows]
            if rows.size == 0:  # none of the batch's rows is this rank's: a zero share of every gradient
                for k in range(1 + refeed):
                    for p in params:
                        p.set_dense_grad().fill(0)
                    yield Update(0.0, 0, curve=min(k, 1))
                return
            targets = None if R_tr is X_tr else R_tr[rows].data
            base = None
            if refeed and bu_tr is not None:  # the dense baseline of these rows, for re-feeding
                base = be.asarray(((bu_tr[rows] + self.rating_mean_)[:, np.newaxis]
                                   + self.item_bias_[np.newaxis, :]).astype(self.dtype_))
            self._zero_grads(params)
            loss, dense = self._sparse_step(be, Xb, seed, self.n_updates_, want_dense=refeed > 0, targets=targets,
                                            n_ratings=n_ratings, row_offset=offset)
            yield Update(loss * n_ratings, Xb.nnz)  # Σ ranks' weights = the batch's ratings
            for t in range(refeed):  # each re-feeding step reads the output of the pass before it
                self._zero_grads(params)
                loss, dense = self._dense_step(be, dense, seed, self.n_updates_, want_dense=t + 1 < refeed, base=base,
                                               n_entries=n_rows * X_tr.shape[1], row_offset=offset)
                yield Update(loss, rows.size / n_rows, curve=1)  # Σ ranks' weights = 1 per batch

        validation = None
        if val is not None:
            S_hist, val_offsets, T_val = val

            def rmse():
                if on_gpu:
                    self._publish(be.to_host)  # validation predicts on the host from this epoch's copies
                err = self._predict_entries(S_hist, T_val, val_offsets).astype(np.float64) - T_val.data
                if on_gpu:
                    self._publish()
                if par is not None:
                    return float(np.sqrt(par.mean(float(np.sum(err * err)), float(err.size))))
                return float(np.sqrt(np.mean(err * err)))
            validation = Validation(rmse, "min", "val_rmse")
        trainer = Trainer(self, params, opt, n_epochs=self.n_epochs,
                          curves=("loss_curve_", "refeed_loss_curve_")[:1 + (refeed > 0)],
                          validation=validation, patience=self.patience, learning_rate=self._learning_rate,
                          publish=(lambda: self._publish(be.to_host)) if on_gpu else None,
                          advice="lower learning_rate (dense re-feeding and deep SELU stacks are sensitive to it) or "
                                 "use optimizer='adam'", parallel=par)
        trainer.fit(batches, step)
        self._drop_training_state()
        return self

    def _drop_training_state(self):
        for name in ("_enc_W", "_enc_b", "_dec_W", "_dec_b", "_V", "_c"):
            self.__dict__.pop(name, None)

    # ---- inference --------------------------------------------------------------------------------

    def _hidden(self, S):
        return self._forward(self._cpu(), S)[0]

    def _codes(self, S):
        be = self._cpu()
        Z = be.sparse_encoder_forward(S, self.encoder_coefs_[0], self.encoder_intercepts_[0])
        h = be.activation_forward(self._act, Z, out=Z)
        for W, b in zip(self.encoder_coefs_[1:], self.encoder_intercepts_[1:]):
            Z = be.matmul(h, W)
            Z += b
            h = be.activation_forward(self._act, Z, out=Z)
        return h

    def _output_layer(self):
        return self.output_coef_, self.output_intercept_, self._out_act

    def transform(self, X: MatrixLike) -> np.ndarray:
        """The code (last encoder layer, no dropout) of each row of X: (n_rows, hidden_dims[-1])."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        out = np.empty((X.shape[0], int(self.hidden_dims[-1])), dtype=self.dtype_)
        with blas_threads(self._blas_threads()):
            for s in self._batches(X.shape[0], self._sample_batch):
                out[s] = self._codes(X[s])
        return out

    # ---- persistence --------------------------------------------------------------------------------

    def _get_fitted_state(self):
        check_is_fitted(self)
        L = len(self.encoder_coefs_)
        arrays = {}
        for k in range(L):
            arrays[f"enc_W{k}"], arrays[f"enc_b{k}"] = self.encoder_coefs_[k], self.encoder_intercepts_[k]
        for j in range(L - 1):
            if not self.constrained:
                arrays[f"dec_W{j}"] = self.decoder_coefs_[j]
            arrays[f"dec_b{j}"] = self.decoder_intercepts_[j]
        if not self.constrained:
            arrays["out_V"] = self.output_coef_
        arrays["out_c"] = self.output_intercept_
        arrays["output_seen"] = self.output_seen_
        arrays["loss_curve"] = np.asarray(self.loss_curve_, dtype=np.float64)
        arrays["refeed_loss_curve"] = np.asarray(self.refeed_loss_curve_, dtype=np.float64)
        arrays["validation_scores"] = np.asarray(self.validation_scores_, dtype=np.float64)
        arrays.update(self._baseline_arrays())
        return {"arrays": arrays, "scalars": self._explicit_scalars()}

    def _set_fitted_state(self, arrays, scalars):
        dims = self._check_params()
        n_items, dtype = int(scalars["n_features_in_"]), np.dtype(scalars["dtype_"])
        L, enc = len(dims), [n_items] + dims
        rev = enc[::-1]
        expected = {f"enc_W{k}" for k in range(L)} | {f"enc_b{k}" for k in range(L)}
        expected |= {f"dec_b{j}" for j in range(L - 1)}
        if not self.constrained:
            expected |= {f"dec_W{j}" for j in range(L - 1)} | {"out_V"}
        expected |= {"out_c", "output_seen", "loss_curve", "refeed_loss_curve", "validation_scores"}
        expected |= set(self._baseline_arrays(n_items))
        if set(arrays) != expected:
            raise ValueError("the arrays in the file do not match the architecture")
        enc_W = [check_weights(arrays, f"enc_W{k}", (enc[k], enc[k + 1]), dtype) for k in range(L)]
        enc_b = [check_weights(arrays, f"enc_b{k}", (enc[k + 1],), dtype) for k in range(L)]
        dec_W = [None if self.constrained else check_weights(arrays, f"dec_W{j}", (rev[j], rev[j + 1]), dtype)
                 for j in range(L - 1)]
        dec_b = [check_weights(arrays, f"dec_b{j}", (rev[j + 1],), dtype) for j in range(L - 1)]
        V = None if self.constrained else check_weights(arrays, "out_V", (n_items, dims[0]), dtype)
        c = check_weights(arrays, "out_c", (n_items,), dtype)
        self._set_views(enc_W, enc_b, dec_W, dec_b, V, c)
        self.n_features_in_, self.dtype_ = n_items, dtype
        self.refeed_loss_curve_ = [float(v) for v in arrays["refeed_loss_curve"]]
        self._set_explicit_scalars(arrays, scalars, n_items)
        self._set_baseline_arrays(arrays, n_items)
