"""Seeded synthetic interaction data with the statistics of real recommendation data: Zipf-like
item popularity, heavy-tailed user activity, and planted taste clusters that a model can learn
(so that a good model beats popularity, as on real data)."""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from .._validation import check_float_dtype, check_scalar

#: (n_users, n_items, n_interactions) of the shapes the protocols and benchmarks use.
SHAPES = {
    "small": (2000, 1000, 60_000),
    "ml-1m": (6040, 3706, 1_000_209),
    "ml-20m": (116_677, 20_108, 8_500_000),  # as Mult-VAE preprocesses ML-20M (training users)
    "netflix": (463_435, 17_769, 56_900_000),  # as Mult-VAE preprocesses Netflix
}


def make_synthetic(shape="small", *, n_clusters=20, cluster_affinity=0.75, popularity_exponent=0.8,
                   explicit=False, dtype=np.float32, random_state=0):
    """Generate a users × items CSR matrix.

    Parameters
    ----------
    shape : str or (n_users, n_items, n_interactions)
        A named shape from ``SHAPES`` ('small', 'ml-1m', 'ml-20m', 'netflix') or explicit sizes. The
        number of stored interactions comes out slightly below the target (duplicates are merged).
    n_clusters : int
        Planted taste groups: each user and item belongs to one.
    cluster_affinity : float
        Share of a user's interactions drawn from their own cluster's items (the rest follow
        global popularity).
    popularity_exponent : float
        Item popularity ∝ rank^(−exponent).
    explicit : bool
        False: binary interactions (1.0). True: ratings 1–5 that are higher inside the user's
        cluster, with user and item biases.
    random_state : int
        Seed; the same seed and shape give the same matrix.

    Examples
    --------
    >>> from aerec.datasets import make_synthetic
    >>> X = make_synthetic("small", random_state=0)
    >>> X.shape
    (2000, 1000)
    """
    if isinstance(shape, str):
        if shape not in SHAPES:
            raise ValueError(f"unknown shape {shape!r}; "
                             f"expected one of {sorted(SHAPES)} or (users, items, interactions)")
        n_users, n_items, n_inter = SHAPES[shape]
    else:
        if isinstance(shape, (bytes, bytearray)) or not hasattr(shape, "__len__") or len(shape) != 3:
            raise ValueError(f"shape must be a name from SHAPES or (n_users, n_items, n_interactions), got {shape!r}")
        for v, what in zip(shape, ("n_users", "n_items", "n_interactions")):
            check_scalar(v, f"shape's {what}", kind=numbers.Integral)
        n_users, n_items, n_inter = (int(v) for v in shape)
    if n_users < 1 or n_items < 2 or n_inter < n_users:
        raise ValueError(f"need n_users >= 1, n_items >= 2 and n_interactions >= n_users, got {shape}")
    check_scalar(n_clusters, "n_clusters", kind=numbers.Integral, low=1, high=n_items)
    check_scalar(cluster_affinity, "cluster_affinity", low=0.0, high=1.0)
    check_scalar(popularity_exponent, "popularity_exponent", low=0.0)
    dtype = check_float_dtype(dtype)
    rng = np.random.default_rng(random_state)
    # Items: popularity by a random rank, a cluster each.
    pop = 1.0 / (rng.permutation(n_items) + 1.0) ** popularity_exponent
    item_cluster = rng.integers(0, n_clusters, size=n_items)
    # Users: a cluster each, heavy-tailed activity (log-normal) scaled to the interaction budget.
    user_cluster = rng.integers(0, n_clusters, size=n_users)
    act = rng.lognormal(mean=0.0, sigma=1.0, size=n_users)
    cap = max(5, n_items // 2)
    counts = np.clip(np.round(act / act.sum() * n_inter), 5, cap).astype(np.int64)

    def draw(k_user):
        """k_user[u] draws for each user: a cluster_affinity share inside the user's cluster
        (weighted by popularity, one vectorised choice per cluster), the rest by global popularity."""
        rows, cols = [], []
        n_in = rng.binomial(k_user, cluster_affinity)
        for c in range(n_clusters):
            users = np.flatnonzero((user_cluster == c) & (n_in > 0))
            members = np.flatnonzero(item_cluster == c)
            if users.size == 0 or members.size == 0:
                continue
            p = pop[members] / pop[members].sum()
            rows.append(np.repeat(users, n_in[users]))
            cols.append(members[rng.choice(members.size, size=int(n_in[users].sum()), p=p)])
        k_out = k_user - n_in
        rows.append(np.repeat(np.arange(n_users), k_out))
        cols.append(rng.choice(n_items, size=int(k_out.sum()), p=pop / pop.sum()))
        return np.concatenate(rows), np.concatenate(cols)

    # Repeated draws of popular items merge, so top each user up to their count in a few rounds.
    rows, cols = draw(counts)
    for _ in range(6):
        X = sp.csr_array((np.ones(rows.size, dtype=dtype), (rows, cols)), shape=(n_users, n_items))
        X.sum_duplicates()
        deficit = np.maximum(counts - np.diff(X.indptr), 0)
        if deficit.sum() <= 0.005 * n_inter:
            break
        r2, c2 = draw(np.ceil(deficit * 1.3).astype(np.int64))
        rows, cols = np.concatenate([rows, r2]), np.concatenate([cols, c2])
    X = sp.csr_array((np.ones(rows.size, dtype=dtype), (rows, cols)), shape=(n_users, n_items))
    X.sum_duplicates()
    X.data[:] = 1
    if explicit:
        r = np.repeat(np.arange(n_users), np.diff(X.indptr))
        same = user_cluster[r] == item_cluster[X.indices]
        user_bias = rng.normal(0.0, 0.4, size=n_users)
        item_bias = rng.normal(0.0, 0.4, size=n_items)
        score = 3.2 + user_bias[r] + item_bias[X.indices] + 0.9 * same - 0.3 * ~same + rng.normal(0, 0.6, X.nnz)
        X.data[:] = np.clip(np.round(score), 1, 5).astype(dtype)
    X.sort_indices()
    return X
