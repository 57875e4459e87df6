"""The one training loop: every trained estimator is a step function plugged into :class:`Trainer`.

The trainer owns what every fit shares — the epoch and minibatch loops, the Ctrl-C guard, the
progress bar, NaN/divergence handling, the loss curves, validation with early stopping and the
restore of the best epoch, the device-to-host copy of the weights, and the warnings — so a model
is its set-up, a batch order and a step function::

    def step(batch):                   # one minibatch
        ...forward, backward: gradients into the parameters' .grad...
        yield Update(loss_sum, weight)  # the trainer reduces the gradients, steps the optimiser
        ...a second update on the same batch (dense re-feeding) may follow...

Data-parallel training plugs in as ``parallel`` (``aerec.distributed.mpi.DataParallel``): before
every optimiser step the gradients are summed over the workers (with the step's loss and the
interrupt flag, so a NaN or a Ctrl-C on any worker stops all of them at the same step), and the loss
curves are summed per epoch; the model's validation function reduces its own metric.
"""

from __future__ import annotations

import signal
import sys
import threading
import warnings
from collections.abc import Iterable
from typing import Callable, NamedTuple

import numpy as np

from .._threads import blas_threads


def minibatches(n_rows, batch_size, rng=None):
    """Yield index arrays covering ``range(n_rows)`` in batches; shuffled when ``rng`` is given."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = rng.permutation(n_rows) if rng is not None else np.arange(n_rows)
    for start in range(0, n_rows, batch_size):
        yield order[start:start + batch_size]


class EarlyStopping:
    """Track a validation metric, keep a copy of the best parameters, say when to stop.

    mode: 'max' (e.g. NDCG) or 'min' (e.g. RMSE); patience: epochs without improvement before
    stopping (None: never stop, only remember the best).
    """

    def __init__(self, params, *, mode="max", patience=None, min_delta=0.0):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.params, self.mode, self.patience, self.min_delta = list(params), mode, patience, min_delta
        self.best, self.best_epoch, self._best_values, self._bad = None, -1, None, 0

    def _better(self, value):
        if self.best is None:
            return True
        return value > self.best + self.min_delta if self.mode == "max" else value < self.best - self.min_delta

    def update(self, epoch, value) -> bool:
        """Record ``value`` for ``epoch``; returns True when training should stop."""
        if np.isfinite(value) and self._better(value):
            self.best, self.best_epoch, self._bad = value, epoch, 0
            self._best_values = [p.value.copy() for p in self.params]
        else:
            self._bad += 1
        return self.patience is not None and self._bad > self.patience

    def restore(self):
        """Put the best parameters back (no-op when nothing was recorded)."""
        if self._best_values is not None:
            for p, v in zip(self.params, self._best_values):
                p.value[...] = v


class InterruptGuard:
    """Turns Ctrl-C during a fit into a flag checked between batches, so training stops at a batch
    boundary with the model consistent (scikit-learn's MLP also stops and warns rather than raise).
    Only the main thread can install signal handlers; elsewhere Ctrl-C behaves as usual."""

    def __init__(self):
        self.interrupted = False
        self._previous = None

    def _handler(self, signum, frame):
        if self.interrupted:  # a second Ctrl-C: give up immediately
            raise KeyboardInterrupt
        self.interrupted = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            try:
                self._previous = signal.signal(signal.SIGINT, self._handler)
            except ValueError:  # pragma: no cover - unusual embedding
                self._previous = None
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


class Progress:
    """A tqdm progress bar when verbose (or a plain line per epoch without tqdm)."""

    def __init__(self, total, verbose, desc, unit="epoch"):
        self.bar = None
        self.verbose = bool(verbose)
        if self.verbose:
            try:
                from tqdm.auto import tqdm

                self.bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, leave=True)
            except ImportError:  # pragma: no cover - tqdm is a dependency
                self.bar = None

    def update(self, **metrics):
        if not self.verbose:
            return
        text = {k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in metrics.items()}
        if self.bar is not None:
            self.bar.set_postfix(text, refresh=False)
            self.bar.update(1)
        else:  # pragma: no cover
            print(" ".join(f"{k}={v}" for k, v in text.items()), file=sys.stderr)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def progress_iter(iterable, total, verbose, desc, unit):
    """``iterable`` wrapped in a tqdm bar when verbose, unchanged otherwise."""
    if not verbose:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, file=sys.stderr, leave=False)


class Update(NamedTuple):
    """What a step function yields when the parameters' gradients are ready for one optimiser step.

    ``loss`` is summed into curve ``curve`` with ``weight`` (the epoch's value is Σ loss / Σ weight):
    a batch's mean loss times its size, and the size, give the epoch's mean. A non-finite ``loss``
    is divergence: the step is not taken.
    """

    loss: float
    weight: float = 1.0
    curve: int = 0


class Validation(NamedTuple):
    """Validation after every epoch: ``score()`` → float; ``mode`` 'min' (RMSE) or 'max' (NDCG);
    ``name`` labels it in the progress bar; with ``nan_diverges`` a non-finite score counts as
    divergence (a rating model's NaN RMSE means NaN predictions)."""

    score: Callable[[], float]
    mode: str
    name: str
    nan_diverges: bool = True


class Trainer:
    """Runs ``n_epochs`` of ``batches(epoch)`` through ``step(batch)`` for ``estimator``.

    Parameters
    ----------
    estimator : RecommenderBase
        Gets the fitted bookkeeping attributes: one list per name in ``curves`` (``loss_curve_``
        first), ``validation_scores_``, ``best_epoch_``, ``n_iter_`` and ``n_updates_`` (live during
        the fit: steps read it to key their random draws).
    params : list of Parameter
        Everything the optimiser steps; early stopping copies and restores them.
    optimizer : object with ``step()`` and a ``lr`` attribute
    n_epochs : int
    curves : sequence of str, default=('loss_curve_',)
        Attribute names of the per-epoch loss curves (``Update.curve`` indexes them).
    validation : Validation or None
    patience : int or None
        Epochs without a better validation score before stopping (None: run all, keep the best).
    learning_rate : callable epoch → float, optional
        Sets ``optimizer.lr`` at the start of each epoch.
    epoch_loss : callable float → float, optional
        Maps the first curve's epoch mean to the recorded value (e.g. adds a weight penalty).
    publish : callable, optional
        Called when the fit ends (and before nothing else): copies device weights to the host
        fitted attributes. Validation on a GPU publishes itself.
    advice : str
        The hint appended to a divergence error or warning.
    parallel : DataParallel, optional
        Data-parallel training: ``parallel.reduce_gradients(params, loss, interrupted)`` before every
        optimiser step (every worker's step function must yield the same number of updates per
        batch), ``parallel.sum(...)`` of the epoch's loss sums.
    """

    def __init__(self, estimator, params, optimizer, *, n_epochs, curves=("loss_curve_",), validation=None,
                 patience=None, learning_rate=None, epoch_loss=None, publish=None,
                 advice="lower learning_rate", parallel=None):
        self.estimator, self.params, self.optimizer = estimator, list(params), optimizer
        self.n_epochs, self.curves, self.validation = int(n_epochs), tuple(curves), validation
        self.patience, self.learning_rate, self.epoch_loss = patience, learning_rate, epoch_loss
        self.publish, self.advice, self.parallel = publish, advice, parallel

    def fit(self, batches: Callable[[int], Iterable], step: Callable[[object], Iterable[Update]]):
        """Train; returns the estimator. ``batches(epoch)`` yields the epoch's batches in order,
        ``step(batch)`` yields one :class:`Update` per optimiser step it wants on that batch."""
        est, opt, val, par = self.estimator, self.optimizer, self.validation, self.parallel
        name = type(est).__name__
        stopper = EarlyStopping(self.params, mode=val.mode, patience=self.patience) if val is not None else None
        for curve in self.curves:
            setattr(est, curve, [])
        est.validation_scores_ = []
        est.best_epoch_, est.n_iter_, est.n_updates_ = None, 0, 0
        diverged, epoch = False, 0
        progress = Progress(self.n_epochs, getattr(est, "verbose", False), name)
        # Products run as blocks of single-threaded BLAS on the backend's pool (engine/backend.py).
        # NaN/inf are detected per update and reported below: NumPy's own warnings would be noise.
        with InterruptGuard() as guard, blas_threads(1), np.errstate(over="ignore", invalid="ignore"):
            for epoch in range(self.n_epochs):
                if self.learning_rate is not None:
                    opt.lr = self.learning_rate(epoch)
                sums = [0.0] * len(self.curves)
                weights = [0] * len(self.curves)
                for batch in batches(epoch):
                    if par.interrupted if par is not None else guard.interrupted:
                        break
                    for update in step(batch):
                        loss = update.loss
                        if par is not None:  # the global gradient, loss and interrupt flag
                            loss = par.reduce_gradients(self.params, loss, guard.interrupted)
                        if not np.isfinite(loss):
                            diverged = True
                            break
                        opt.step()
                        est.n_updates_ += 1
                        sums[update.curve] += update.loss
                        weights[update.curve] += update.weight
                    if diverged:
                        break
                interrupted = par.interrupted if par is not None else guard.interrupted
                if diverged or interrupted:
                    break
                if par is not None:  # every worker records the curves of the whole batch
                    totals = par.sum(*sums, *weights)
                    sums, weights = totals[:len(sums)], totals[len(sums):]
                est.n_iter_ = epoch + 1
                loss = sums[0] / max(weights[0], 1)
                getattr(est, self.curves[0]).append(self.epoch_loss(loss) if self.epoch_loss else loss)
                for k in range(1, len(self.curves)):
                    getattr(est, self.curves[k]).append(sums[k] / max(weights[k], 1))
                metrics = {"loss": getattr(est, self.curves[0])[-1]}
                stop = False
                if val is not None:
                    score = val.score()
                    est.validation_scores_.append(score)
                    metrics[val.name] = score
                    stop = stopper.update(epoch, score)
                    diverged = val.nan_diverges and not np.isfinite(score)
                progress.update(**metrics)
                if stop or diverged:
                    break
        progress.close()
        if stopper is not None and stopper.best_epoch >= 0:
            stopper.restore()
            est.best_epoch_ = stopper.best_epoch
        if self.publish is not None:
            self.publish()
        if diverged:
            if stopper is None or stopper.best_epoch < 0:
                raise FloatingPointError(f"{name}: the training loss became NaN/inf in epoch {epoch + 1}; "
                                         f"{self.advice}")
            warnings.warn(f"{name}: training diverged (NaN/inf loss) in epoch {epoch + 1}; restored the best epoch "
                          f"({stopper.best_epoch}). {self.advice}", RuntimeWarning, stacklevel=3)
        if par.interrupted if par is not None else guard.interrupted:
            warnings.warn(f"{name}: training interrupted (Ctrl-C) after {est.n_iter_} epochs; the model holds the "
                          "best (or last completed) state", RuntimeWarning, stacklevel=3)
            if est.n_iter_ == 0 and est.n_updates_ == 0:
                unfit(est)
                raise KeyboardInterrupt
        return est


def unfit(estimator):
    """Remove every fitted (trailing-underscore) attribute: the estimator is unfitted again."""
    for name in [k for k in vars(estimator) if k.endswith("_") and not k.startswith("__")]:
        delattr(estimator, name)
