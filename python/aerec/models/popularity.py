"""The most-popular baseline: every user is recommended the items with the most training interactions."""

from __future__ import annotations

from typing import Optional

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._threads import effective_n_threads
from .._typing import DTypeLike, MatrixLike, RandomStateLike
from ._base import RecommenderBase


class Popularity(RecommenderBase):
    """Most-popular baseline: every user gets the items with the most training interactions.

    Scores are the items' summed training values, the same for every user; a reference point for
    the other models.

    Parameters
    ----------
    dtype : {'float32', 'float64'}, default='float32'
        Precision of the item counts and the scores.
    n_threads : int or None, default=None
        Threads for ``recommend`` (None: all usable cores); results are identical for any value.
    random_state : None, int or RandomState, default=None
        Accepted, as by every aerec estimator, and unused: the fit is deterministic.

    Attributes
    ----------
    item_counts_ : ndarray of shape (n_items,)
        Sum of each item's training values (the number of interactions for 0/1 data).
    n_features_in_ : int
        Number of items.

    See Also
    --------
    EASE : A closed-form item–item model.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from aerec import Popularity
    >>> X = sp.random(100, 30, density=0.2, format="csr", random_state=0)
    >>> idx, scores = Popularity().fit(X).recommend(X[:2], k=3)
    >>> idx.shape
    (2, 3)
    """

    def __init__(self, *, dtype: DTypeLike = "float32", n_threads: Optional[int] = None,
                 random_state: RandomStateLike = None) -> None:
        self.dtype = dtype
        self.n_threads = n_threads
        self.random_state = random_state

    def fit(self, X: MatrixLike, y: Optional[MatrixLike] = None) -> Popularity:
        self.dtype_ = self._dtype()
        X = self._validate(X, reset=True)
        X = self._with_y(X, y)
        _, n_threads, _ = self._resolve_common()  # checks random_state as every estimator does
        self.n_threads_, self.device_ = n_threads, "cpu"
        self.item_counts_ = np.asarray(X.sum(axis=0)).ravel().astype(self.dtype_)
        return self

    def _score_batch(self, X):
        return np.broadcast_to(self.item_counts_, (X.shape[0], self.n_features_in_)).copy()

    def _get_fitted_state(self):
        check_is_fitted(self)
        return {"arrays": {"item_counts": self.item_counts_},
                "scalars": {"n_features_in_": self.n_features_in_, "dtype_": self.dtype_.name}}

    def _set_fitted_state(self, arrays, scalars):
        c = arrays["item_counts"]
        if c.shape != (int(scalars["n_features_in_"]),) or c.dtype != np.dtype(scalars["dtype_"]):
            raise ValueError("item_counts does not match n_features_in_/dtype_")
        self.item_counts_, self.n_features_in_, self.dtype_ = np.array(c), c.shape[0], c.dtype
        self.n_threads_, self.device_ = effective_n_threads(self.n_threads), "cpu"
