"""From a MovieLens-style ratings.csv to top-k recommendations in your own ids, saved and reloaded.

    python examples/ratings_to_recommendations.py                       # a small synthetic ratings.csv
    python examples/ratings_to_recommendations.py path/to/ratings.csv   # yours
    python examples/ratings_to_recommendations.py ratings.csv --model MultVAE --k 10

The file has the columns of MovieLens' ``ratings.csv``: ``userId,movieId,rating,timestamp``.
Ratings above 3.5 count as interactions (the Mult-VAE protocol's rule); ``aerec.data.IdMapper``
turns them into the users × items matrix the models take, and turns the recommended columns back
into movie ids. Without a path the script writes a synthetic file of that form into a temporary
folder, so it runs with no data.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import aerec
from aerec.data import IdMapper


def write_synthetic_ratings(path: Path, n_users: int = 400, n_movies: int = 300, seed: int = 0) -> Path:
    """A ratings.csv of MovieLens' form: users like the movies of their taste group more."""
    rng = np.random.default_rng(seed)
    n_groups = 8
    user_group = rng.integers(n_groups, size=n_users)
    movie_group = rng.integers(n_groups, size=n_movies)
    movie_ids = np.sort(rng.choice(np.arange(1, 10 * n_movies), size=n_movies, replace=False))
    rows = []
    for user in range(n_users):
        n_rated = rng.integers(15, 60)
        # Movies of the user's own group are four times as likely to be watched, and rated higher.
        weight = np.where(movie_group == user_group[user], 4.0, 1.0)
        movies = rng.choice(n_movies, size=n_rated, replace=False, p=weight / weight.sum())
        liked = movie_group[movies] == user_group[user]
        stars = np.clip(np.round(2 * rng.normal(np.where(liked, 4.2, 2.8), 0.8)) / 2, 0.5, 5.0)
        times = 964_982_703 + np.sort(rng.integers(0, 10**7, size=n_rated))
        rows += zip([user + 1] * n_rated, movie_ids[movies], stars, times)
    pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"]).to_csv(path, index=False)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ratings", nargs="?", help="ratings.csv (userId,movieId,rating,timestamp); "
                        "default: a synthetic one written to a temporary folder")
    parser.add_argument("--model", choices=["EASE", "MultVAE"], default="EASE")
    parser.add_argument("--k", type=int, default=5, help="recommendations per user (default 5)")
    parser.add_argument("--users", type=int, default=3, help="how many users to show (default 3)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        path = Path(args.ratings) if args.ratings else write_synthetic_ratings(tmp / "ratings.csv")

        # 1. The file, read with pandas; ratings above 3.5 are the interactions.
        ratings = pd.read_csv(path)
        liked = ratings[ratings["rating"] > 3.5]
        print(f"{path.name}: {len(ratings):,} ratings, {len(liked):,} above 3.5")

        # 2. Your ids → a users × items CSR matrix (rows in mapper.user_ids_ order, columns in
        #    mapper.item_ids_ order). Every kept record is one interaction of value 1.
        mapper = IdMapper(user_col="userId", item_col="movieId")
        X = mapper.fit_transform(liked)
        print(f"matrix: {X.shape[0]:,} users × {X.shape[1]:,} movies, {X.nnz:,} interactions")

        # 3. Fit. EASE is one closed-form solve; MultVAE trains a network (a few epochs here).
        if args.model == "EASE":
            model = aerec.EASE(l2=200.0)
        else:
            model = aerec.MultVAE(n_epochs=20, batch_size=100, random_state=0)
        model.fit(X)

        # 4. Recommend for a few users, in their original ids. Row i of X is mapper.user_ids_[i];
        #    what they already liked is excluded.
        n_show = min(args.users, X.shape[0])
        idx, scores = model.recommend(X[:n_show], k=args.k)
        movies = mapper.item_ids(idx)  # column indices → movieId (padding −1 → None)
        for user, row, row_scores in zip(mapper.user_ids_[:n_show], movies, scores):
            pairs = ", ".join(f"{m} ({s:.3f})" for m, s in zip(row, row_scores) if m is not None)
            print(f"user {user}: {pairs}")

        # A user the model has never seen: their history on the same movie columns, no refitting.
        newcomer = pd.DataFrame({"userId": ["newcomer"] * 3, "movieId": mapper.item_ids_[:3]})
        rows, _ = mapper.transform(newcomer)
        new_idx, _ = model.recommend(rows, k=args.k)
        print(f"a new user who liked movies {mapper.item_ids_[:3].tolist()}: {mapper.item_ids(new_idx)[0].tolist()}")

        # 5. Save to one file, load it back (no pickle inside), and check the answers are the same.
        model_path = tmp / f"{args.model.lower()}.npz"
        model.save(model_path)
        loaded = aerec.load(model_path)
        idx2, scores2 = loaded.recommend(X[:n_show], k=args.k)
        if not (np.array_equal(idx, idx2) and np.array_equal(scores, scores2)):
            raise SystemExit("the loaded model recommends differently")
        print(f"saved to {model_path.name} ({model_path.stat().st_size:,} bytes), loaded: same recommendations")


if __name__ == "__main__":
    main()
