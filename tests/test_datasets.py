"""aerec.datasets: triples_to_csr, the file readers (on small files written here and on the real
data in ../shared/data, checked against the counts its SOURCE.md files state)."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from aerec import datasets as D


@pytest.fixture(scope="module")
def data_dir():
    d = D.shared_data_dir()
    if d is None:
        pytest.skip("shared data folder not found (../shared/data relative to the working directory, or "
                    "$AEREC_DATA_DIR)")
    return d


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# ---- triples_to_csr --------------------------------------------------------------------------------


def test_triples_to_csr_basic():
    A = D.triples_to_csr([2, 0, 0], [1, 3, 0], [5.0, 4.0, 3.0])
    assert isinstance(A, sp.csr_array) and A.shape == (3, 4) and A.dtype == np.float32
    assert A.has_canonical_format and A.indices.dtype == np.int32
    np.testing.assert_array_equal(A.toarray(), [[3, 0, 0, 4], [0, 0, 0, 0], [0, 5, 0, 0]])
    B = D.triples_to_csr(np.array([1]), np.array([1]), None, shape=(4, 5), dtype=np.float64)
    assert B.shape == (4, 5) and B.dtype == np.float64 and B[1, 1] == 1.0
    E = D.triples_to_csr(np.array([], dtype=int), np.array([], dtype=int), [], shape=(2, 3))
    assert E.shape == (2, 3) and E.nnz == 0
    assert D.triples_to_csr(np.array([], dtype=int), np.array([], dtype=int), []).shape == (0, 0)


def test_triples_to_csr_duplicates():
    u, i, v = [0, 1, 0, 0, 1], [2, 0, 2, 2, 0], [1.0, 2.0, 3.0, 5.0, 4.0]
    with pytest.raises(ValueError, match="3 duplicate"):
        D.triples_to_csr(u, i, v)
    np.testing.assert_array_equal(D.triples_to_csr(u, i, v, duplicates="last").toarray(), [[0, 0, 5], [4, 0, 0]])
    np.testing.assert_array_equal(D.triples_to_csr(u, i, v, duplicates="sum").toarray(), [[0, 0, 9], [6, 0, 0]])
    np.testing.assert_array_equal(D.triples_to_csr(u, i, v, duplicates="mean").toarray(), [[0, 0, 3], [3, 0, 0]])
    with pytest.raises(ValueError, match="duplicates must be"):
        D.triples_to_csr(u, i, v, duplicates="first")


def test_triples_to_csr_validation():
    with pytest.raises(ValueError, match="negative id"):
        D.triples_to_csr([-1], [0], [1.0])
    with pytest.raises(TypeError, match="integer ids"):
        D.triples_to_csr([0.5], [0], [1.0])
    with pytest.raises(ValueError, match="item id 3 does not fit"):
        D.triples_to_csr([0], [3], [1.0], shape=(1, 3))
    with pytest.raises(ValueError, match="user id 1 does not fit"):
        D.triples_to_csr([1], [0], [1.0], shape=(1, 3))
    with pytest.raises(ValueError, match="NaN"):
        D.triples_to_csr([0], [0], [np.nan])
    with pytest.raises(ValueError, match="values has shape"):
        D.triples_to_csr([0, 1], [0, 1], [1.0])
    with pytest.raises(ValueError, match="users has 2 entries but items has 1"):
        D.triples_to_csr([0, 1], [0], [1.0, 1.0])
    with pytest.raises(TypeError, match="float32 or float64"):
        D.triples_to_csr([0], [0], [1.0], dtype=np.int32)


# ---- readers on small files ------------------------------------------------------------------------


def test_read_rating_triples_formats(tmp_path):
    plain = write(tmp_path / "r.tsv", "1\t10\t4\n\n2\t20\t3.5\n")
    u, i, r, extra = D.read_rating_triples(plain, id_base=1)
    np.testing.assert_array_equal(u, [1, 2])
    np.testing.assert_array_equal(i, [10, 20])
    np.testing.assert_array_equal(r, [4.0, 3.5])
    assert u.dtype == np.int64 and extra.shape == (2, 0)
    xz = tmp_path / "r.tsv.xz"
    with lzma.open(xz, "wt") as fh:
        fh.write("1\t10\t4\n2\t20\t3\n")
    assert D.read_rating_triples(xz)[0].tolist() == [1, 2]
    gz = tmp_path / "r.tsv.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("1\t10\t4\n")
    assert D.read_rating_triples(gz)[1].tolist() == [10]
    dat = write(tmp_path / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n")
    u, i, r = D.load_ml1m(dat)
    assert u.tolist() == [1, 1] and i.tolist() == [1193, 661] and r.tolist() == [5.0, 3.0]
    empty = write(tmp_path / "empty.tsv", "")
    assert D.read_rating_triples(empty)[0].shape == (0,)


@pytest.mark.parametrize("text, match", [
    ("1\t2\t3\n4\t5\n", "malformed line"),            # missing field
    ("1\t2\t3\n4\t5\t6\t7\n", "malformed line"),      # extra field
    ("1\t2\t3\n4\tx\t5\n", "malformed line"),         # not a number
    ("1\t2\t3\n4\t2.5\t5\n", "data line 2 has an invalid id"),
    ("1\t2\t3\n0\t2\t5\n", "data line 2 has an invalid id"),  # below id_base=1
    ("1\t2\tnan\n", "non-finite rating"),
])
def test_read_rating_triples_malformed(tmp_path, text, match):
    f = write(tmp_path / "bad.tsv", text)
    with pytest.raises(ValueError, match=match) as info:
        D.read_rating_triples(f, id_base=1)
    assert "bad.tsv" in str(info.value)


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        D.load_ml1m(tmp_path)
    with pytest.raises(FileNotFoundError):
        D.load_ml1m(tmp_path / "nope")
    with pytest.raises(FileNotFoundError):
        D.load_gowalla(tmp_path)
    with pytest.raises(FileNotFoundError):
        D.load_monti(tmp_path)
    with pytest.raises(ValueError, match="fold must be one of"):
        D.load_ml100k_split(tmp_path, fold="u9")


def test_load_ml100k_split_small(tmp_path):
    write(tmp_path / "u1.base", "1\t1\t5\t874965758\n943\t1682\t3\t875\n")
    write(tmp_path / "u1.test", "2\t3\t4\t874965758\n")
    tr, te = D.load_ml100k_split(tmp_path)
    assert tr.shape == te.shape == (943, 1682)
    assert tr[0, 0] == 5 and tr[942, 1681] == 3 and te[1, 2] == 4
    write(tmp_path / "u.data", "1\t1\t5\t874965758\n")
    u, i, r, ts = D.load_movielens_100k(tmp_path, return_timestamps=True)
    assert ts.tolist() == [874965758] and ts.dtype == np.int64


def test_load_monti_small(tmp_path):
    write(tmp_path / "ratings_train.tsv", "0\t0\t4\n5\t7\t0.5\n")
    write(tmp_path / "ratings_test.tsv", "2\t9\t1\n")
    tr, te = D.load_monti(tmp_path)
    assert tr.shape == te.shape == (3000, 3000)
    tr, te = D.load_monti(tmp_path, shape=None)
    assert tr.shape == (6, 10) and tr[5, 7] == 0.5 and te[2, 9] == 1
    write(tmp_path / "ratings_test.tsv", "2\t9\t1\n2\t9\t3\n")
    with pytest.raises(ValueError, match="1 duplicate"):
        D.load_monti(tmp_path)


def test_load_gowalla_small(tmp_path):
    write(tmp_path / "train.txt", "0 1 2 5\n1 0\n2\n")
    write(tmp_path / "test.txt", "0 3\n1 4 6\n")
    tr, te = D.load_gowalla(tmp_path)
    assert tr.shape == te.shape == (3, 7) and tr.dtype == np.float32
    np.testing.assert_array_equal(tr.toarray()[0], [0, 1, 1, 0, 0, 1, 0])
    assert te.nnz == 3 and te[1, 6] == 1
    write(tmp_path / "test.txt", "0 3\n1 4 x\n")
    with pytest.raises(ValueError, match=r"test.txt: line 2 has a non-integer field"):
        D.load_gowalla(tmp_path)
    write(tmp_path / "test.txt", "0 3 3\n")
    with pytest.raises(ValueError, match=r"test.txt: 1 duplicate"):
        D.load_gowalla(tmp_path)
    write(tmp_path / "test.txt", "0 -3\n")
    with pytest.raises(ValueError, match="negative id"):
        D.load_gowalla(tmp_path)


def test_shared_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("AEREC_DATA_DIR", str(tmp_path))
    assert D.shared_data_dir() == tmp_path.resolve()
    monkeypatch.setenv("AEREC_DATA_DIR", str(tmp_path / "missing"))
    assert D.shared_data_dir() is None
    monkeypatch.delenv("AEREC_DATA_DIR")
    (tmp_path / "shared" / "data").mkdir(parents=True)
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert D.shared_data_dir() == (tmp_path / "shared" / "data").resolve()
    monkeypatch.chdir(tmp_path)
    assert D.shared_data_dir() is None


# ---- the real data ---------------------------------------------------------------------------------


def counts(values):
    v, c = np.unique(values, return_counts=True)
    return dict(zip(v.tolist(), c.tolist()))


@pytest.mark.data
def test_ml1m(data_dir):
    u, i, r = D.load_ml1m(data_dir / "ml-1m")
    assert u.size == 1_000_209
    assert np.unique(u).size == 6040 and u.min() == 1 and u.max() == 6040
    assert np.unique(i).size == 3706 and i.min() == 1 and i.max() == 3952
    assert counts(r) == {1.0: 56174, 2.0: 107557, 3.0: 261197, 4.0: 348971, 5.0: 226310}
    assert np.all(np.diff(u * 10_000 + i) > 0)  # sorted by user then movie, no duplicates (SOURCE.md)
    X, user_ids, item_ids = D.load_ml1m_matrix(data_dir / "ml-1m")
    assert X.shape == (6040, 3706) and X.nnz == 1_000_209 and X.dtype == np.float32
    assert X.sum() == r.sum() and item_ids[-1] == 3952 and user_ids[0] == 1


@pytest.mark.data
def test_ml100k(data_dir):
    u, i, r = D.load_movielens_100k(data_dir / "ml-100k")
    assert u.size == 100_000 and np.unique(u).size == 943 and np.unique(i).size == 1682
    assert counts(r) == {1.0: 6110, 2.0: 11370, 3.0: 27145, 4.0: 34174, 5.0: 21201}
    full = D.triples_to_csr(u - 1, i - 1, r, shape=(943, 1682))  # no duplicate pairs (would raise)
    tests = []
    for fold in ("u1", "u2", "u3", "u4", "u5"):
        tr, te = D.load_ml100k_split(data_dir / "ml-100k", fold)
        assert tr.shape == (943, 1682) and tr.nnz == 80_000 and te.nnz == 20_000
        assert abs(tr + te - full).max() == 0
        tests.append(te)
    assert abs(sum(tests[1:], tests[0]) - full).max() == 0  # the five test sets partition u.data
    tr, te = D.load_ml100k_split(data_dir / "ml-100k", "ua")
    assert tr.nnz == 90_570 and te.nnz == 9_430 and np.all(np.diff(te.indptr) == 10)


@pytest.mark.data
@pytest.mark.parametrize("name, n_train, n_test, values", [
    ("douban_monti", 123_202, 13_689, np.arange(1.0, 6.0)),
    ("flixster_monti", 23_556, 2_617, np.arange(0.5, 5.5, 0.5)),
    ("yahoo_music_monti", 4_802, 533, None),
])
def test_monti(data_dir, name, n_train, n_test, values):
    tr, te = D.load_monti(data_dir / name)
    assert tr.shape == te.shape == (3000, 3000)
    assert tr.nnz == n_train and te.nnz == n_test and tr.multiply(te).nnz == 0
    both = np.r_[tr.data, te.data]
    if values is None:  # Yahoo Music: integers 1..100
        assert both.min() >= 1 and both.max() <= 100 and np.all(both == np.round(both))
    else:
        assert set(np.unique(both).tolist()) == set(values.tolist())


@pytest.mark.data
def test_gowalla(data_dir):
    tr, te = D.load_gowalla(data_dir / "gowalla_lightgcn")
    assert tr.shape == te.shape == (29_858, 40_981)
    assert tr.nnz == 810_128 and te.nnz == 217_242 and tr.nnz + te.nnz == 1_027_370
    assert tr.multiply(te).nnz == 0
    assert np.all(np.diff(tr.indptr) > 0) and np.all(np.diff(te.indptr) > 0)  # every user in both
    n_items = sum(1 for _ in open(data_dir / "gowalla_lightgcn" / "item_list.txt")) - 1  # header line
    assert n_items == 40_981
