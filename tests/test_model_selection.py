"""aerec.model_selection: the E1 random rating split and the I1 strong-generalisation split.

The I1 split is checked against a line-by-line, pure-Python transcription of the Mult-VAE reference
notebook (Liang et al. 2018, ``VAE_ML20M_WWW2018.ipynb``) with pandas' semantics spelled out, and on
ML-1M against counts that a literal pandas run of the notebook code produced (identical matrices).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.sparse as sp

from aerec import model_selection as MS
from aerec.datasets import load_ml1m, shared_data_dir


@pytest.fixture(scope="module")
def data_dir():
    d = shared_data_dir()
    if d is None:
        pytest.skip("shared data folder not found (../shared/data relative to the working directory, or "
                    "$AEREC_DATA_DIR)")
    return d


# ---- E1 --------------------------------------------------------------------------------------------


def ratings_matrix(seed=0, shape=(40, 30), density=0.3):
    rng = np.random.default_rng(seed)
    dense = np.where(rng.random(shape) < density, rng.integers(1, 6, shape), 0).astype(np.float32)
    return sp.csr_array(dense)


def test_random_rating_split_partitions_the_ratings():
    X = ratings_matrix()
    train, test = MS.random_rating_split(X, test_size=0.1, random_state=3)
    assert train.shape == test.shape == X.shape
    assert train.dtype == test.dtype == X.dtype
    assert train.has_canonical_format and test.has_canonical_format
    assert test.nnz == int(np.ceil(0.1 * X.nnz)) and train.nnz + test.nnz == X.nnz
    assert train.multiply(test).nnz == 0  # disjoint
    assert abs(train + test - X).max() == 0  # union is X, values kept
    again = MS.random_rating_split(X, test_size=0.1, random_state=3)
    assert (again.test != test).nnz == 0 and (again.train != train).nnz == 0
    other = MS.random_rating_split(X, test_size=0.1, random_state=4)
    assert (other.test != test).nnz > 0
    # the test part is RandomState(seed).permutation(nnz)[:n_test] of the entries in CSR order
    perm = np.random.RandomState(3).permutation(X.nnz)[: test.nnz]
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    want = sp.csr_array((X.data[perm], (rows[perm], X.indices[perm])), shape=X.shape)
    assert (want != test).nnz == 0


def test_random_rating_split_options():
    X = ratings_matrix(1)
    tr, te = MS.random_rating_split(X, test_size=25, random_state=0)
    assert te.nnz == 25 and tr.nnz == X.nnz - 25
    # dense input, generator, explicit zeros are not ratings
    tr, te = MS.random_rating_split(X.toarray(), 0.5, random_state=np.random.default_rng(0))
    assert tr.nnz + te.nnz == X.nnz
    Xz = X.copy()
    Xz.data[:5] = 0
    tr, te = MS.random_rating_split(Xz, 0.2)
    assert tr.nnz + te.nnz == X.nnz - 5 and Xz.nnz == X.nnz  # input untouched
    h = MS.holdout_ratings(X, 0.05, random_state=9)
    r = MS.random_rating_split(X, 0.05, random_state=9)
    assert isinstance(h, MS.RatingSplit) and (h.test != r.test).nnz == 0
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="test_size"):
            MS.random_rating_split(X, bad)
    with pytest.raises(ValueError, match="test_size"):
        MS.random_rating_split(X, X.nnz + 1)
    with pytest.raises(TypeError, match="random_state"):
        MS.random_rating_split(X, 0.1, random_state="seed")
    with pytest.raises(ValueError, match="2-D"):
        MS.random_rating_split(np.ones(4), 0.1)


# ---- I1: a literal transcription of the reference ------------------------------------------------


def reference_split(users, items, ratings, n_heldout_users, min_uc=5, min_sc=0, seed=98765, test_prop=0.2):
    """The notebook's preprocessing, statement by statement, with pandas replaced by plain Python.

    groupby/size -> counts keyed by id, iterated in sorted-id order; ``isin`` -> set membership;
    ``pd.unique`` -> first-appearance order; rows always stay in input order.
    """
    rows = [(u, i) for u, i, r in zip(users.tolist(), items.tolist(), ratings.tolist()) if r > 3.5]
    if min_sc > 0:
        ic = {}
        for _, i in rows:
            ic[i] = ic.get(i, 0) + 1
        rows = [(u, i) for u, i in rows if ic[i] >= min_sc]
    uc = {}
    for u, _ in rows:
        uc[u] = uc.get(u, 0) + 1
    rows = [(u, i) for u, i in rows if uc[u] >= min_uc]
    unique_uid = np.array(sorted({u for u, _ in rows}))  # user_activity.index
    np.random.seed(seed)
    unique_uid = unique_uid[np.random.permutation(unique_uid.size)]
    n_users = unique_uid.size
    tr_users = unique_uid[: n_users - n_heldout_users * 2]
    vd_users = unique_uid[n_users - n_heldout_users * 2: n_users - n_heldout_users]
    te_users = unique_uid[n_users - n_heldout_users:]
    tr_set = set(tr_users.tolist())
    train_plays = [(u, i) for u, i in rows if u in tr_set]
    unique_sid = list(dict.fromkeys(i for _, i in train_plays))  # pd.unique
    show2id = {sid: k for k, sid in enumerate(unique_sid)}
    profile2id = {pid: k for k, pid in enumerate(unique_uid.tolist())}

    def split_train_test_proportion(data):
        groups = {}
        for u, i in data:
            groups.setdefault(u, []).append((u, i))
        tr_list, te_list = [], []
        np.random.seed(seed)  # the reference re-seeds here, on every call
        for u in sorted(groups):
            group = groups[u]
            n_items_u = len(group)
            if n_items_u >= 5:
                idx = np.zeros(n_items_u, dtype="bool")
                idx[np.random.choice(n_items_u, size=int(test_prop * n_items_u), replace=False).astype("int64")] = True
                tr_list += [g for g, t in zip(group, idx) if not t]
                te_list += [g for g, t in zip(group, idx) if t]
            else:
                tr_list += group
        return tr_list, te_list

    def heldout(users_):
        s = set(users_.tolist())
        plays = [(u, i) for u, i in rows if u in s and i in show2id]
        return split_train_test_proportion(plays)

    def to_csr(pairs, offset, n_rows):
        r = [profile2id[u] - offset for u, _ in pairs]
        c = [show2id[i] for _, i in pairs]
        return sp.csr_array((np.ones(len(r)), (np.array(r, dtype=int), np.array(c, dtype=int))),
                            shape=(n_rows, len(unique_sid)))

    n_tr, h = tr_users.size, n_heldout_users
    vtr, vte = heldout(vd_users)
    ttr, tte = heldout(te_users)
    mats = dict(train=to_csr(train_plays, 0, n_tr), val_fold_in=to_csr(vtr, n_tr, h), val_target=to_csr(vte, n_tr, h),
                test_fold_in=to_csr(ttr, n_tr + h, h), test_target=to_csr(tte, n_tr + h, h))
    return mats, np.array(unique_sid), tr_users, vd_users, te_users


def synthetic_interactions(seed, n_users=150, n_items=80, n=3000):
    """Unsorted, non-contiguous ids, ratings 1..5, no duplicate pairs, skewed user activity and item
    popularity (so some held-out users lose items to the item set and drop below 5)."""
    rng = np.random.default_rng(seed)
    activity = rng.gamma(0.8, 1.0, n_users)
    popularity = rng.gamma(0.5, 1.0, n_items)
    u = rng.choice(n_users, 4 * n, p=activity / activity.sum()) * 3 + 100
    i = rng.choice(n_items, 4 * n, p=popularity / popularity.sum()) * 7 + 5
    _, first = np.unique(u * 10**6 + i, return_index=True)
    first = np.sort(first)[:n]
    u, i = u[first], i[first]
    r = rng.integers(1, 6, first.size).astype(np.float64)
    # every 4th user also likes 6 items nobody else has: held out, they lose them to the item set
    private_users = np.repeat(np.unique(u)[::4], 6)
    private_items = 10**5 + np.arange(private_users.size)
    u, i = np.r_[u, private_users], np.r_[i, private_items]
    r = np.r_[r, np.full(private_users.size, 5.0)]
    order = rng.permutation(u.size)
    return u[order], i[order], r[order]


def assert_same_split(got, ref):
    mats, sid, tru, vdu, teu = ref
    np.testing.assert_array_equal(got.item_ids, sid)
    np.testing.assert_array_equal(got.train_user_ids, tru)
    np.testing.assert_array_equal(got.val_user_ids, vdu)
    np.testing.assert_array_equal(got.test_user_ids, teu)
    for name, m in mats.items():
        g = getattr(got, name)
        assert g.shape == m.shape, name
        assert g.dtype == np.float32 and g.has_canonical_format, name
        assert (g != m).nnz == 0, name


@pytest.mark.parametrize("seed, h, min_sc", [(0, 20, 0), (1, 30, 3), (2, 5, 0), (3, 1, 10)])
def test_strong_generalization_matches_reference_transcription(seed, h, min_sc):
    u, i, r = synthetic_interactions(seed)
    got = MS.strong_generalization_split(u, i, r, n_heldout_users=h, min_item_count=min_sc)
    assert_same_split(got, reference_split(u, i, r, h, min_sc=min_sc))
    assert got.n_items == got.train.shape[1]


def test_strong_generalization_without_ratings_and_other_seed():
    u, i, r = synthetic_interactions(4)
    keep = r > 3.5
    got = MS.strong_generalization_split(u[keep], i[keep], n_heldout_users=15, seed=7, test_prop=0.3)
    assert_same_split(got, reference_split(u[keep], i[keep], np.full(keep.sum(), 5.0), 15, seed=7, test_prop=0.3))
    # string ids work too (np.unique order = sorted)
    got_s = MS.strong_generalization_split(u[keep].astype(str), i[keep], n_heldout_users=15, seed=7, test_prop=0.3)
    assert got_s.train.nnz + got_s.val_fold_in.nnz > 0


def test_strong_generalization_validation():
    u, i, r = synthetic_interactions(0)
    with pytest.raises(ValueError, match="same length"):
        MS.strong_generalization_split(u, i[:-1], n_heldout_users=5)
    with pytest.raises(ValueError, match="ratings has shape"):
        MS.strong_generalization_split(u, i, r[:-1], n_heldout_users=5)
    with pytest.raises(ValueError, match="need more than"):
        MS.strong_generalization_split(u, i, r, n_heldout_users=10_000)
    with pytest.raises(ValueError, match="2 duplicate"):
        MS.strong_generalization_split(np.r_[u, u[:2]], np.r_[i, i[:2]], n_heldout_users=5)
    with pytest.raises(TypeError):
        MS.strong_generalization_split(u, i, r, n_heldout_users=2.5)
    with pytest.raises(ValueError, match="test_prop"):
        MS.strong_generalization_split(u, i, r, n_heldout_users=5, test_prop=1.5)


# ---- I1 on ML-1M -----------------------------------------------------------------------------------


def check_heldout_invariants(split, users, items, ratings, test_prop=0.2):
    col = {int(x): c for c, x in enumerate(split.item_ids.tolist())}
    keep = ratings > 3.5
    by_user = {}
    for uu, ii in zip(users[keep].tolist(), items[keep].tolist()):
        by_user.setdefault(uu, []).append(ii)
    for ids, fold, target in ((split.val_user_ids, split.val_fold_in, split.val_target),
                              (split.test_user_ids, split.test_fold_in, split.test_target)):
        assert fold.multiply(target).nnz == 0
        for row, uid in enumerate(ids.tolist()):
            want = {col[x] for x in by_user[uid] if x in col}  # all their items in the item set
            f = set(fold.indices[fold.indptr[row]:fold.indptr[row + 1]].tolist())
            t = set(target.indices[target.indptr[row]:target.indptr[row + 1]].tolist())
            assert f | t == want
            assert len(t) == (int(test_prop * len(want)) if len(want) >= 5 else 0)


@pytest.mark.data
def test_strong_generalization_ml1m(data_dir):
    users, items, ratings = load_ml1m(data_dir / "ml-1m")
    t0 = time.perf_counter()
    s = MS.strong_generalization_split(users, items, ratings, n_heldout_users=600)
    elapsed = time.perf_counter() - t0
    assert elapsed < 5.0, f"split took {elapsed:.1f} s"
    # Pinned: a literal pandas run of the notebook code on this file gave identical matrices.
    # 575,281 ratings > 3.5 from 6,038 users; 6,034 have >= 5 -> 4,834 training users.
    assert s.train.shape == (4834, 3497) and s.train.nnz == 462_827
    assert [m.nnz for m in (s.val_fold_in, s.val_target, s.test_fold_in, s.test_target)] == [46_146, 11_228,
                                                                                              44_266, 10_761]
    assert s.val_fold_in.shape == s.test_target.shape == (600, 3497)
    assert len(set(s.train_user_ids) | set(s.val_user_ids) | set(s.test_user_ids)) == 6034
    assert set(s.item_ids.tolist()) == set(items[np.isin(users, s.train_user_ids) & (ratings > 3.5)].tolist())
    check_heldout_invariants(s, users, items, ratings)
    again = MS.strong_generalization_split(users, items, ratings, n_heldout_users=600)
    for name in ("train", "val_fold_in", "val_target", "test_fold_in", "test_target"):
        assert (getattr(again, name) != getattr(s, name)).nnz == 0
    other = MS.strong_generalization_split(users, items, ratings, n_heldout_users=600, seed=1)
    assert not np.array_equal(other.test_user_ids, s.test_user_ids)
