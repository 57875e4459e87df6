"""The batch loop's pieces: seeded minibatches and early stopping that keeps the best weights."""

from __future__ import annotations

import numpy as np


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
