"""Choose EASE's l2 with scikit-learn's GridSearchCV, splitting users (strong generalisation).

    python examples/grid_search_ease.py

Each user's interactions are split at random into a history (80 %) and a held-out part (20 %).
``GridSearchCV(..., cv=KFold(...)).fit(X_history, X_heldout)`` then splits the *users*: it fits on the
training users' rows (history and held-out part together) and scores the other users with
``score(X, y)`` — NDCG@100 of ranking their held-out items from their history.
"""

from __future__ import annotations

from sklearn.model_selection import GridSearchCV, KFold

import aerec
from aerec.datasets import make_synthetic
from aerec.model_selection import random_rating_split


def main() -> None:
    X = make_synthetic("small", random_state=0)  # 2,000 users × 1,000 items, CSR
    X_history, X_heldout = random_rating_split(X, test_size=0.2, random_state=0)

    search = GridSearchCV(aerec.EASE(), {"l2": [10.0, 100.0, 500.0, 2000.0]},
                          cv=KFold(3, shuffle=True, random_state=0))
    search.fit(X_history, X_heldout)
    for l2, mean, std in zip(search.cv_results_["param_l2"], search.cv_results_["mean_test_score"],
                             search.cv_results_["std_test_score"]):
        print(f"l2 = {l2:6g}: NDCG@100 {mean:.4f} ± {std:.4f}")
    print(f"best: l2 = {search.best_params_['l2']:g} (refitted on every user: search.best_estimator_)")


if __name__ == "__main__":
    main()
