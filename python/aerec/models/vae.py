"""Mult-VAE and Mult-DAE, trained with aerec's native kernels.

Liang, Krishnan, Hoffman & Jebara, "Variational Autoencoders for Collaborative Filtering", WWW 2018.

Defaults are the reference recipe (protocol I1 of the user guide's protocols page): Mult-VAE
[I-600-200-600-I] and Mult-DAE [I-200-I], tanh, L2-normalised input with dropout 0.5 on it,
Xavier-uniform weights, Adam 1e-3, batch 500, multinomial likelihood, KL weight
β = min(β_cap, updates / anneal_steps) with β_cap 0.2 and anneal_steps 200,000; the DAE adds the
reference's L2 penalty (λ = 0.01 / batch).

One training step: the first layer is the sparse encoder (the batch is never densified, dropout is
fused into it), the logits are one GEMM, the bias + log-softmax + loss + gradient is one fused
native pass over the logits, and the remaining products go to BLAS.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Sequence
from typing import Any, Optional

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .. import kernels
from .._threads import blas_threads, effective_n_threads
from .._typing import DTypeLike, MatrixLike, RandomStateLike
from .._validation import check_bool, check_layer_widths, check_scalar
from ..distributed.mpi import DataParallel, data_parallel_fit
from ..engine import Adam, Trainer, Update, Validation, minibatches
from ..engine.backend import array_namespace, backend_for, get_backend
from ..engine.params import Parameter, xavier_uniform
from ..metrics import ndcg_at_k
from ..model_selection import holdout_users
from ._base import RecommenderBase, check_activation, to_csr

#: recommend screens in bfloat16 (``_screened_ranker``) when the catalogue has at least this many items
#: per recommended item (the candidates rescored in float64 grow with k, so the screen gains only while k
#: is a small share of the items) and for at least SCREEN_MIN_ROWS rows: preparing the weights (bfloat16
#: tiles, Wᵀ, norms) must be paid back by the time saved per row.
#: Measured (aerec's source repository): ``benchmarks/RESULTS_SPEED_NOTES.md`` (fifth session, and
#: "Figures moved out of the code").
SCREEN_ITEMS_PER_K = 100
SCREEN_MIN_ROWS = 2000
#: ... and while the prepared copies (bfloat16 tiles + Wᵀ in float32: 1.5× the output weights) fit in this.
SCREEN_MAX_BYTES = 1 << 30


def _fingerprint(a):
    """Changes whenever any element of ``a`` does: the xor of its bit patterns and its float64 sum."""
    flat = np.ascontiguousarray(a).reshape(-1)
    return int(np.bitwise_xor.reduce(flat.view(np.uint32))), float(flat.sum(dtype=np.float64))


def _row_scale(X, dtype):
    """1/‖x_r‖₂ per row (TensorFlow's l2_normalize: norms floored at 1e-6)."""
    sq = np.asarray(X.multiply(X).sum(axis=1)).ravel()
    return (1.0 / np.sqrt(np.maximum(sq, 1e-12))).astype(dtype)


class _MultAutoencoder(TransformerMixin, RecommenderBase):
    """Shared body of MultVAE and MultDAE (the only difference is the variational bottleneck)."""

    _variational = True
    _implicit = True

    _blas_threads_for_inference = 1  # products run on the backend's pool (engine/backend.py)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # transform's output is in the estimator's dtype, whatever the input's
        tags.transformer_tags.preserves_dtype = [np.dtype(self.dtype).name]
        return tags

    # ---- network ----------------------------------------------------------------------------

    def _dims(self, n_items):
        hidden = [int(h) for h in self.hidden_dims]
        enc = [n_items] + hidden + [int(self.n_components)]
        return enc, enc[::-1]

    def _check_params(self):
        check_layer_widths(self.hidden_dims, "hidden_dims", allow_empty=True)
        check_bool(self.early_stopping, "early_stopping")
        if self.patience is not None:
            check_scalar(self.patience, "patience", kind=numbers.Integral, low=1)
        check_scalar(self.n_components, "n_components", kind=numbers.Integral, low=1)
        check_scalar(self.dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
        check_scalar(self.l2, "l2", low=0.0)
        check_scalar(self.learning_rate, "learning_rate", low=0.0, low_inclusive=False)
        check_scalar(self.n_epochs, "n_epochs", kind=numbers.Integral, low=1)
        check_scalar(self.validation_fraction, "validation_fraction", low=0.0, high=1.0, low_inclusive=False,
                     high_inclusive=False)
        check_scalar(self.batch_size, "batch_size", kind=numbers.Integral, low=1)
        check_scalar(self.beta_cap, "beta_cap", low=0.0)
        check_scalar(self.anneal_steps, "anneal_steps", kind=numbers.Integral, low=0)
        if self.beta is not None:
            check_scalar(self.beta, "beta", low=0.0)
        check_activation(self.activation)

    def _init_params(self, n_items, rng):
        dt = self.dtype_
        enc, dec = self._dims(n_items)
        coefs, intercepts = [], []
        for i, (a, b) in enumerate(zip(enc[:-1], enc[1:])):
            if self._variational and i == len(enc) - 2:
                b *= 2  # mu and log-variance
            coefs.append(xavier_uniform(rng, a, b, dt))
            intercepts.append(np.clip(0.001 * rng.standard_normal(b), -0.002, 0.002).astype(dt))
        for a, b in zip(dec[:-1], dec[1:]):
            coefs.append(xavier_uniform(rng, a, b, dt))
            intercepts.append(np.clip(0.001 * rng.standard_normal(b), -0.002, 0.002).astype(dt))
        return coefs, intercepts

    def _n_enc(self):
        return len(self.hidden_dims) + 1

    def _encode(self, be, X, coefs, intercepts, *, train, seed=0, step=0, cache=None, row_scale=None, row_offset=0):
        """Encoder pass. Returns the code (DAE) or (mu, logvar) (VAE). ``row_scale``: the rows'
        1/‖x‖ when already known (the GPU loop gathers them from the whole matrix's)."""
        act, n_enc = self.activation, self._n_enc()
        rs = _row_scale(X, self.dtype_) if row_scale is None else row_scale
        h = be.sparse_encoder_forward(X, coefs[0], intercepts[0], row_scale=rs,
                                      dropout=self.dropout if train else 0.0, seed=seed, step=step,
                                      row_offset=row_offset)
        pre = [h]
        posts = [None]
        for i in range(n_enc):
            last = i == n_enc - 1
            if not (last and self._variational):
                h = be.activation_forward(act, pre[-1])
                posts[-1] = h
            if last:
                break
            z = be.matmul(h, coefs[i + 1])
            z += intercepts[i + 1]
            pre.append(z)
            posts.append(None)
        if cache is not None:
            cache.update(X=X, rs=rs, pre=pre, posts=posts)
        if self._variational:
            d = int(self.n_components)
            out = pre[-1]
            return be.xp.ascontiguousarray(out[:, :d]), be.xp.ascontiguousarray(out[:, d:])
        return h

    def _decode_hidden(self, be, z, coefs, intercepts, cache=None):
        """Decoder up to (not including) the output layer: returns its input H."""
        n_enc, act = self._n_enc(), self.activation
        h, ins, pres, posts = z, [], [], []
        for W, b in zip(coefs[n_enc:-1], intercepts[n_enc:-1]):
            ins.append(h)
            p = be.matmul(h, W)
            p += b
            pres.append(p)
            h = be.activation_forward(act, p)
            posts.append(h)
        if cache is not None:
            cache.update(dec_in=ins, dec_pre=pres, dec_post=posts, H=h)
        return h

    def _logits(self, be, H, coefs, intercepts):
        out = be.matmul(H, coefs[-1])
        out += intercepts[-1]
        return out

    # ---- one training step -------------------------------------------------------------------

    def _train_step(self, be, X, params, beta, seed, step, row_scale=None, batch_rows=None, row_offset=0,
                    with_penalty=True):
        """One forward and backward pass on the CSR batch X; gradients into ``params``. Returns the
        batch's loss. Data-parallel: X is this worker's share of a batch of ``batch_rows`` rows,
        starting at ``row_offset`` (it keys the dropout and noise draws, so each row gets the draws
        it gets in one process), and only one worker adds the L2 penalty to the reported loss."""
        coefs = [p.value for p in params[0::2]]
        intercepts = [p.value for p in params[1::2]]
        W_grads = [p.grad for p in params[0::2]]
        b_grads = [p.grad for p in params[1::2]]
        n, n_enc, act = X.shape[0] if batch_rows is None else batch_rows, self._n_enc(), self.activation
        xp = be.xp  # every array operation goes through the backend's namespace (NumPy here)
        cache = {}
        enc = self._encode(be, X, coefs, intercepts, train=True, seed=seed, step=step, cache=cache,
                           row_scale=row_scale, row_offset=row_offset)
        kl = 0.0
        if self._variational:
            mu, logvar = enc
            std = xp.exp(0.5 * logvar)
            eps = be.random_normal(mu.shape, seed=seed + 1, step=step, row_offset=row_offset, dtype=self.dtype_)
            z = mu + eps * std
        else:
            z = enc
        H = self._decode_hidden(be, z, coefs, intercepts, cache=cache)
        G = be.matmul(H, coefs[-1])  # logits without the bias: the fused kernel adds it
        nll = be.multinomial_loss_grad(G, X, intercepts[-1], scale=1.0 / n)  # G becomes dL/dlogits
        # output layer
        be.matmul(H.T, G, out=W_grads[-1])
        b_grads[-1][...] = G.sum(axis=0)
        dh = be.matmul(G, coefs[-1].T)
        del G
        # decoder hidden layers, last to first
        n_dec_hidden = len(cache["dec_pre"])
        for j in range(n_dec_hidden - 1, -1, -1):
            li = n_enc + j
            dp = be.activation_backward(act, cache["dec_pre"][j], cache["dec_post"][j], dh)
            be.matmul(cache["dec_in"][j].T, dp, out=W_grads[li])
            b_grads[li][...] = dp.sum(axis=0)
            dh = be.matmul(dp, coefs[li].T)
        # bottleneck
        if self._variational:
            kl, dmu, dlogvar = be.gaussian_kl(mu, logvar, scale=beta / n)
            dmu += dh
            dlogvar += dh * eps * (0.5 * std)
            d_out = xp.concatenate([dmu, dlogvar], axis=1)
        else:
            d_out = dh
        # encoder layers, last to first
        pre, posts = cache["pre"], cache["posts"]
        for i in range(n_enc - 1, -1, -1):
            if posts[i] is not None:  # activated layer
                d_pre = be.activation_backward(act, pre[i], posts[i], d_out)
            else:
                d_pre = d_out
            if i == 0:
                items, dW, db = be.sparse_encoder_backward(X, d_pre, row_scale=cache["rs"], dropout=self.dropout,
                                                           seed=seed, step=step, row_offset=row_offset)
                params[0].set_row_grad(items, dW)  # only the batch's items: Adam takes it as it is
                b_grads[0][...] = db
            else:
                h_in = posts[i - 1]
                be.matmul(h_in.T, d_pre, out=W_grads[i])
                b_grads[i][...] = d_pre.sum(axis=0)
                d_out = be.matmul(d_pre, coefs[i].T)
        with np.errstate(over="ignore", invalid="ignore"):  # a diverging fit is reported by fit, not as a warning
            reg = self.l2 * sum(float(xp.sum(W * W)) for W in coefs) if self.l2 and with_penalty else 0.0
        return nll + kl + reg  # each term already per batch (nll, kl scaled by 1/n)

    # ---- fit ------------------------------------------------------------------------------------

    @data_parallel_fit
    def fit(self, X: MatrixLike, y: Optional[MatrixLike] = None, *, X_val: Optional[MatrixLike] = None,
            y_val: Optional[MatrixLike] = None, comm: Any = None) -> _MultAutoencoder:
        """Fit on users × items interactions X (positive values are interactions).

        y : optional held-out interactions of the same users (as in ``score(X, y)``); training
            then uses X ∪ y, all of the training users' items (strong generalisation).
        X_val, y_val : validation users' fold-in and target interactions. When given (or when
            ``early_stopping`` holds out ``validation_fraction`` of the users), NDCG@100 on them is
            computed after every epoch and the best epoch's weights are kept (the reference's model
            selection); ``patience`` epochs without improvement stop training early.
        comm : mpi4py communicator, optional
            Data-parallel training over MPI (``aerec.distributed.mpi``): every rank calls ``fit``
            with the same parameters and its own block of users — the ranks' X stacked in rank
            order are the whole training matrix — and, with validation, its own X_val/y_val. Every
            rank ends with the same model, that of one process fitting the stacked matrix up to the
            order of floating-point sums. CPU only.
        """
        par = None if comm is None else DataParallel(comm, self.random_state)
        with contextlib.nullcontext() if par is None else par.together("checking the fit's input"):
            self._check_params()
            self.__dict__.pop("_scoring_cache", None)  # prepared from the previous weights
            self.dtype_ = self._dtype()
            if par is not None and self.early_stopping and X_val is None:
                raise ValueError("with comm, early stopping validates on X_val/y_val (each rank's own validation "
                                 "users): pass them, or early_stopping=False")
            X, X_val, y_val, rng, device, n_threads = self._fit_inputs(X, y, X_val, y_val, par)
        if par is not None:
            par.setup(self, X, validation=X_val is not None)
        if not (X.nnz > 0 if par is None else par.any(X.nnz > 0)):
            raise ValueError("X has no interactions to learn from")
        be = get_backend(device, n_threads)
        coefs, intercepts = self._init_params(X.shape[1], rng)
        if be.name == "cuda":  # train on the device; the fitted attributes go back to the host below
            coefs, intercepts = [be.asarray(W) for W in coefs], [be.asarray(b) for b in intercepts]
        params = []
        for W, b in zip(coefs, intercepts):
            params += [Parameter("W", W, decay=True), Parameter("b", b, decay=False)]
        opt = Adam(be, params, lr=self.learning_rate, weight_decay=2.0 * self.l2)
        seed = int(rng.randint(0, 2**62, dtype=np.int64))
        self.coefs_, self.intercepts_ = coefs, intercepts  # live views of the parameters
        self.beta_ = 0.0
        batch_of = lambda rows: (X[rows], None)  # noqa: E731 - host CSR rows; row scales computed per batch
        if be.name == "cuda":
            # The training matrix is validated and uploaded once; each minibatch is gathered on the
            # device with its rows' 1/‖x‖ — no per-batch host slicing, checking or copying.
            X_dev, rs_all = be.csr(X), be.asarray(_row_scale(X, self.dtype_))

            def batch_of(rows):
                rows = be.asarray(rows.astype(np.int64))
                return X_dev.take_rows(be.xp, rows), rs_all[rows]

        def batches(epoch):  # one permutation of all users (of every rank's, with comm); rows in order
            return (np.sort(idx) for idx in minibatches(X.shape[0] if par is None else par.n_global,
                                                         int(self.batch_size), rng))

        def step(batch):
            rows, offset, n_batch = (batch, 0, batch.size) if par is None else par.local_share(batch)
            if self.beta is not None:
                beta = float(self.beta)
            elif self.anneal_steps > 0:
                beta = min(float(self.beta_cap), self.n_updates_ / float(self.anneal_steps))
            else:
                beta = float(self.beta_cap)
            self.beta_ = beta
            if rows.size == 0:  # none of this rank's users in the batch: its share of the gradient is 0
                for p in params:
                    p.set_dense_grad().fill(0)
                yield Update(0.0, 0)
                return
            Xb, rs_b = batch_of(rows)
            loss = self._train_step(be, Xb, params, beta if self._variational else 0.0, seed, self.n_updates_,
                                    row_scale=rs_b, batch_rows=n_batch, row_offset=offset,
                                    with_penalty=offset == 0)  # once: by the rank holding the batch's first row
            # the epoch's mean loss over batches weighted by their size: Σ ranks' shares = the batch
            yield Update(loss * n_batch, rows.size)

        def publish():  # fitted attributes are host NumPy arrays, whatever trained them
            self.coefs_ = [be.to_host(p.value) for p in params[0::2]]
            self.intercepts_ = [be.to_host(p.value) for p in params[1::2]]

        validation = None
        if X_val is not None:
            validation = Validation(lambda: self._validation_ndcg(X_val, y_val, par), "max", "val_ndcg@100",
                                    nan_diverges=False)
        trainer = Trainer(self, params, opt, n_epochs=self.n_epochs, validation=validation, patience=self.patience,
                          publish=publish if be.name == "cuda" else None, parallel=par)
        trainer.fit(batches, step)
        if not self.n_updates_:
            self.beta_ = 0.0
        return self

    def _fit_inputs(self, X, y, X_val, y_val, par=None):
        """fit's checked inputs: ``(X, X_val, y_val, rng, device, n_threads)`` — with early stopping and
        no X_val, the validation users held out of X."""
        X = self._validate(X, reset=True)
        X = self._with_y(X, y)
        rng, n_threads, device = self._resolve_common(par)
        self.n_threads_, self.device_ = n_threads, device
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val must be given together")
        if X_val is not None:
            X_val = to_csr(X_val, self.dtype_, what="X_val")
            y_val = to_csr(y_val, self.dtype_, what="y_val")
            if X_val.shape[1] != X.shape[1] or y_val.shape != X_val.shape:
                raise ValueError(f"X_val/y_val must have shape (n_val_users, {X.shape[1]}) each")
        elif self.early_stopping:
            X, X_val, y_val = holdout_users(X, float(self.validation_fraction), rng, _name="validation_fraction")
        return X, X_val, y_val, rng, device, n_threads

    def _validation_ndcg(self, X_val, y_val, par=None):
        """Mean NDCG@100 over the validation users with targets (over every rank's, with ``par``)."""
        idx = np.empty((X_val.shape[0], self._score_k), dtype=np.int64)
        for s in self._batches(X_val.shape[0]):
            scores = self._score_batch(X_val[s])
            idx[s] = self._topk(scores, X_val[s])
        ndcg = ndcg_at_k(idx, y_val, self._score_k) if X_val.shape[0] else np.zeros(0)
        if par is not None:
            return par.mean(float(np.nansum(ndcg)), float(np.count_nonzero(~np.isnan(ndcg))))
        return float(np.nanmean(ndcg))

    def _topk(self, scores, X):
        if array_namespace(scores) is not np:  # validation during a fit on the GPU
            be = backend_for([scores])
            return be.to_host(be.topk(scores, self._score_k, exclude=X)[0])
        return self._cpu().topk(np.ascontiguousarray(scores), self._score_k, exclude=X)[0]

    # ---- inference ------------------------------------------------------------------------------

    def _score_batch(self, X):
        # On the device that holds the weights: the host after fit, the GPU during a GPU fit.
        return self._scores_on(backend_for(self.coefs_, self.n_threads_), X, self.coefs_, self.intercepts_)

    def _scores_on(self, be, X, coefs, intercepts):
        enc = self._encode(be, X, coefs, intercepts, train=False)
        z = enc[0] if self._variational else enc
        H = self._decode_hidden(be, z, coefs, intercepts)
        return self._logits(be, H, coefs, intercepts)

    def _cpu_hidden(self):
        """(batch → the output layer's float32 input H, output weights, output bias) on the CPU, from
        host copies of the weights (a GPU fit publishes host arrays)."""
        be = self._cpu()
        coefs = [np.asarray(W) for W in self.coefs_]
        intercepts = [np.asarray(b) for b in self.intercepts_]

        def hidden(X):
            enc = self._encode(be, X, coefs, intercepts, train=False)
            H = self._decode_hidden(be, enc[0] if self._variational else enc, coefs, intercepts)
            return np.ascontiguousarray(H, dtype=np.float32)
        return hidden, np.ascontiguousarray(coefs[-1], dtype=np.float32), np.ascontiguousarray(
            intercepts[-1], dtype=np.float32)

    def _prepared_output(self, keep_exact):
        """``kernels.pack_bf16`` of the output weights, kept on the model for the next call: reused
        while those weights are unchanged — checked on every call by a fingerprint of their bits (an
        xor and a float64 sum, a fraction of the cost of preparing them), so a refit or an in-place
        edit prepares them again. Not pickled or saved."""
        hidden, W, c = self._cpu_hidden()
        key = (W.shape, _fingerprint(W), _fingerprint(c))
        cached = self.__dict__.get("_scoring_cache")
        if cached is not None and cached[0] == key and (cached[1].exact is not None or not keep_exact):
            return hidden, cached[1], c
        Wp = kernels.pack_bf16(W, keep_exact=keep_exact, n_threads=self.n_threads_)
        self._scoring_cache = (key, Wp)
        return hidden, Wp, c

    def _bf16_scorer(self):
        """Scores of a CSR batch with the output layer in bfloat16 (``kernels.gemm_bf16``), on the
        CPU, from the prepared output weights (``_prepared_output``)."""
        hidden, Wp, c = self._prepared_output(keep_exact=False)
        return lambda X: kernels.gemm_bf16(hidden(X), Wp, c, n_threads=self.n_threads_)

    def _screened_ranker(self, k, n_rows):
        """Exact float32 top-k without the float32 output product (``kernels.screened_topk``: a bfloat16
        screen on AMX, then the few candidates it leaves rescored in float64), or None where that is
        not faster or too big: no AMX here, a float64 model, k too large a share of the items, too few
        rows, or output weights whose prepared copies would exceed SCREEN_MAX_BYTES."""
        W = self.coefs_[-1]
        if (self.dtype_ != np.float32 or k > self.n_features_in_ // SCREEN_ITEMS_PER_K or n_rows < SCREEN_MIN_ROWS
                or W.nbytes * 3 // 2 > SCREEN_MAX_BYTES or not kernels.amx_bf16_available()):
            return None
        hidden, Wp, c = self._prepared_output(keep_exact=True)
        return lambda X, exclude, candidates: kernels.screened_topk(
            hidden(X), Wp, k, c, exclude=exclude, candidates=candidates, n_threads=self.n_threads_)

    def _device_scorer(self, be):
        """Scores of a CSR batch on ``be``'s device, the weights uploaded once (GPU recommend)."""
        coefs, intercepts = [be.asarray(W) for W in self.coefs_], [be.asarray(b) for b in self.intercepts_]
        return lambda X: self._scores_on(be, X, coefs, intercepts)

    def transform(self, X: MatrixLike) -> np.ndarray:
        """Codes of each row: the posterior mean (Mult-VAE) or the bottleneck (Mult-DAE)."""
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        be = self._cpu()
        with blas_threads(1):
            enc = self._encode(be, X, self.coefs_, self.intercepts_, train=False)
        return enc[0] if self._variational else enc

    # ---- persistence ----------------------------------------------------------------------------

    def _get_fitted_state(self):
        check_is_fitted(self)
        arrays = {f"coef_{i}": W for i, W in enumerate(self.coefs_)}
        arrays.update({f"intercept_{i}": b for i, b in enumerate(self.intercepts_)})
        arrays["loss_curve"] = np.asarray(self.loss_curve_, dtype=np.float64)
        arrays["validation_scores"] = np.asarray(self.validation_scores_, dtype=np.float64)
        scalars = dict(n_features_in_=self.n_features_in_, dtype_=self.dtype_.name, n_iter_=self.n_iter_,
                       best_epoch_=self.best_epoch_, n_threads_=self.n_threads_, device_=self.device_,
                       beta_=self.beta_, n_updates_=self.n_updates_)
        return {"arrays": arrays, "scalars": scalars}

    def _set_fitted_state(self, arrays, scalars):
        n_items = int(scalars["n_features_in_"])
        dtype = np.dtype(scalars["dtype_"])
        enc, dec = self._dims(n_items)
        shapes = []
        for i, (a, b) in enumerate(zip(enc[:-1], enc[1:])):
            shapes.append((a, 2 * b if (self._variational and i == len(enc) - 2) else b))
        shapes += list(zip(dec[:-1], dec[1:]))
        coefs, intercepts = [], []
        for i, shape in enumerate(shapes):
            W, b = arrays[f"coef_{i}"], arrays[f"intercept_{i}"]
            if W.shape != shape or b.shape != (shape[1],) or W.dtype != dtype or b.dtype != dtype:
                raise ValueError(f"layer {i}: weights {W.dtype}{W.shape} / bias {b.dtype}{b.shape} do not match "
                                 f"the architecture ({dtype}{shape})")
            if not (np.isfinite(W).all() and np.isfinite(b).all()):
                raise ValueError(f"layer {i} holds NaN or infinite weights")
            coefs.append(np.array(W))
            intercepts.append(np.array(b))
        if len(arrays) != 2 * len(shapes) + 2:
            raise ValueError("unexpected arrays in the file")
        self.coefs_, self.intercepts_ = coefs, intercepts
        self.loss_curve_ = list(arrays["loss_curve"])
        self.validation_scores_ = list(arrays["validation_scores"])
        self.n_features_in_, self.dtype_ = n_items, dtype
        self.n_iter_, self.best_epoch_ = int(scalars["n_iter_"]), scalars["best_epoch_"]
        self.n_threads_ = effective_n_threads(self.n_threads)  # this machine's, not the saver's
        self.device_ = "cpu"
        self.beta_, self.n_updates_ = float(scalars["beta_"]), int(scalars["n_updates_"])


_COMMON_DOC = """
    Parameters
    ----------
    hidden_dims : tuple of int, default={hidden_dims}
        Widths of the hidden layers between the items and the bottleneck (the decoder mirrors them).
    n_components : int, default=200
        Bottleneck (latent) size.
    activation : str, default='tanh'
        Hidden activation ('tanh' in the paper), among 'tanh', 'sigmoid', 'relu', 'elu', 'selu',
        'leaky_relu', 'swish', 'identity'.
    dropout : float, default=0.5
        Dropout rate on the (L2-normalised) input during training.
    l2 : float, default={l2}
        L2 penalty: ``l2 · Σ‖W‖²`` is added to the per-batch loss (biases excluded).
    beta_cap : float, default={beta_cap}
        Largest KL weight of the schedule β = min(beta_cap, updates / anneal_steps) (ignored by MultDAE).
    anneal_steps : int, default={anneal_steps}
        Updates over which β rises to ``beta_cap``; 0: β = ``beta_cap`` from the start (ignored by MultDAE).
    beta : float or None, default=None
        A fixed KL weight instead of the schedule (ignored by MultDAE).
    n_epochs : int, default=200
        Training length in epochs.
    batch_size : int, default=500
        Users per batch.
    learning_rate : float, default=1e-3
        Adam's step size.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the users (80/20 fold-in/target) when no X_val/y_val
        is given to ``fit``, track NDCG@100 each epoch and keep the best epoch.
    validation_fraction : float, default=0.1
        Fraction of users held out by ``early_stopping``.
    patience : int or None, default=None
        Stop after this many epochs without a better validation NDCG (None: run all epochs).
    random_state : int, RandomState instance or None, default=None
        Seed for the initialisation, batch order, validation split, dropout and the VAE's noise.
    n_threads : int or None, default=None
        OpenMP threads (None: all usable cores); results are identical for any value.
    device : {{'auto', 'cpu', 'cuda'}}, default='auto'
        Where to train, as for every aerec estimator (see the README).
    dtype : {{'float32', 'float64'}}, default='float32'
        Precision of the weights and of training.
    verbose : bool, default=False
        Show a progress bar.

    Attributes
    ----------
    coefs_, intercepts_ : list of ndarray
        Layer weights (n_in, n_out) and biases, encoder first.
    n_features_in_ : int
        Number of items.
    loss_curve_, validation_scores_ : list of float
        Mean training loss and validation NDCG@100 per epoch.
    best_epoch_ : int or None
        Epoch (0-based) whose weights were kept.
    n_iter_, n_updates_ : int
        Epochs run and optimiser steps taken.
    beta_ : float
        The KL weight of the schedule at the last update (MultDAE ignores it).
"""

_NOTES_DOC = """
    Notes
    -----
    Each user's row of interactions is L2-normalised, dropped out, encoded, and decoded to logits
    over all items; the loss is the multinomial log-likelihood of the row under their softmax [1]_.

{notes}

    The defaults are the reference recipe (the paper's ML-20M settings; protocol I1).

    Measured (aerec's source repository): ``benchmarks/quality/RESULTS_I1_ml1m.md`` (ML-1M),
    ``benchmarks/quality/RESULTS_I2_gowalla.md``.

    References
    ----------
    .. [1] D. Liang, R. G. Krishnan, M. D. Hoffman and T. Jebara, "Variational Autoencoders for
       Collaborative Filtering", WWW 2018.
"""


class MultVAE(_MultAutoencoder):
    __doc__ = ("Mult-VAE: a variational autoencoder with a multinomial likelihood (Liang et al. 2018).\n"
               + """
    Users × items interactions in, a score for every item out; any user's row is folded in at
    ``recommend`` time. Architecture [I-600-200-600-I] by default.
"""
               + _COMMON_DOC.format(hidden_dims="(600,)", l2="0.0", beta_cap="0.2", anneal_steps="200000")
               + """
    See Also
    --------
    MultDAE : The same network with a deterministic bottleneck.
    EASE : Closed-form linear item-item autoencoder.
"""
               + _NOTES_DOC.format(notes="""\
    The encoder gives a Gaussian posterior (mean and log-variance) over the code; training decodes
    a sample of it and adds β times the KL divergence from the standard normal prior, β rising
    linearly to ``beta_cap`` over ``anneal_steps`` updates (or fixed by ``beta``).""")
               + """
    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from aerec import MultVAE
    >>> X = sp.random(200, 50, density=0.1, format="csr", random_state=0)
    >>> model = MultVAE(hidden_dims=(32,), n_components=8, n_epochs=2, random_state=0).fit(X)
    >>> idx, scores = model.recommend(X[:3], k=5)
    >>> idx.shape
    (3, 5)
""")
    _variational = True

    def __init__(self, *, hidden_dims: Sequence[int] = (600,), n_components: int = 200, activation: str = "tanh",
                 dropout: float = 0.5, l2: float = 0.0, beta_cap: float = 0.2, anneal_steps: int = 200000,
                 beta: Optional[float] = None, n_epochs: int = 200, batch_size: int = 500,
                 learning_rate: float = 1e-3, early_stopping: bool = False, validation_fraction: float = 0.1,
                 patience: Optional[int] = None, random_state: RandomStateLike = None, n_threads: Optional[int] = None,
                 device: str = "auto", dtype: DTypeLike = "float32", verbose: bool = False) -> None:
        self.hidden_dims = hidden_dims
        self.n_components = n_components
        self.activation = activation
        self.dropout = dropout
        self.l2 = l2
        self.beta_cap = beta_cap
        self.anneal_steps = anneal_steps
        self.beta = beta
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


class MultDAE(_MultAutoencoder):
    __doc__ = ("Mult-DAE: a denoising autoencoder with a multinomial likelihood (Liang et al. 2018).\n"
               + """
    Users × items interactions in, a score for every item out; any user's row is folded in at
    ``recommend`` time. Architecture [I-200-I] by default.
"""
               + _COMMON_DOC.format(hidden_dims="()", l2="2e-05", beta_cap="0.0", anneal_steps="0")
               + """
    See Also
    --------
    MultVAE : The same network with a variational bottleneck.
    EASE : Closed-form linear item-item autoencoder.
"""
               + _NOTES_DOC.format(notes="""\
    The bottleneck is deterministic and the input dropout is the only noise; the default ``l2``
    is the reference's penalty of 0.01 per batch of 500 users.""")
               + """
    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from aerec import MultDAE
    >>> X = sp.random(200, 50, density=0.1, format="csr", random_state=0)
    >>> model = MultDAE(n_components=8, n_epochs=2, random_state=0).fit(X)
    >>> model.transform(X[:3]).shape
    (3, 8)
""")
    _variational = False

    def __init__(self, *, hidden_dims: Sequence[int] = (), n_components: int = 200, activation: str = "tanh",
                 dropout: float = 0.5, l2: float = 0.01 / 500, beta_cap: float = 0.0, anneal_steps: int = 0,
                 beta: Optional[float] = None, n_epochs: int = 200, batch_size: int = 500,
                 learning_rate: float = 1e-3, early_stopping: bool = False, validation_fraction: float = 0.1,
                 patience: Optional[int] = None, random_state: RandomStateLike = None, n_threads: Optional[int] = None,
                 device: str = "auto", dtype: DTypeLike = "float32", verbose: bool = False) -> None:
        self.hidden_dims = hidden_dims
        self.n_components = n_components
        self.activation = activation
        self.dropout = dropout
        self.l2 = l2
        self.beta_cap = beta_cap
        self.anneal_steps = anneal_steps
        self.beta = beta
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
