"""Predict explicit ratings with I-AutoRec and measure the test RMSE against a simple baseline.

    python examples/explicit_ratings_autorec.py

Synthetic 1-5 star ratings are split at random into train (90 %) and test (10 %) entries (protocol
E1); AutoRec learns from the training ratings and predicts the held-out ones. ``score(train, test)``
is the negative RMSE at ``test``'s entries, so larger is better, as scikit-learn expects.
"""

from __future__ import annotations

import numpy as np

import aerec
from aerec.datasets import make_synthetic
from aerec.metrics import rmse
from aerec.model_selection import random_rating_split


def main() -> None:
    R = make_synthetic((600, 400, 24_000), explicit=True, random_state=0)  # users × items, ratings 1..5
    train, test = random_rating_split(R, test_size=0.1, random_state=0)
    print(f"{R.shape[0]} users × {R.shape[1]} items: {train.nnz:,} training and {test.nnz:,} test ratings")

    model = aerec.AutoRec(n_components=100, n_epochs=30, random_state=0)  # item-based: I-AutoRec
    model.fit(train)
    print(f"I-AutoRec      test RMSE {-model.score(train, test):.4f}")

    # The same number by hand: predict every (user, item) of the training users, read the test entries.
    test = test.tocoo()
    predicted = model.predict(train)[test.row, test.col]
    print(f"  (by hand:    {rmse(test.data, predicted):.4f})")

    # The simplest baseline: every rating predicted as the training mean.
    print(f"global mean    test RMSE {rmse(test.data, np.full(test.nnz, train.data.mean())):.4f}")


if __name__ == "__main__":
    main()
