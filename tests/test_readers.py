"""Readers for the MovieLens release formats and the Netflix Prize files (small files written
here; the real ML-100K and the DeepRecommender Netflix fragments when ../shared/data is present)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from aerec.datasets import load_movielens, load_netflix_prize, shared_data_dir


def test_movielens_formats(tmp_path):
    (tmp_path / "u.data").write_text("1\t10\t4\t881250949\n2\t20\t5\t881250950\n")
    (tmp_path / "ml-1m").mkdir()
    (tmp_path / "ml-1m" / "ratings.dat").write_text("1::1193::5::978300760\n1::661::3::978302109\n")
    with gzip.open(tmp_path / "ratings.csv.gz", "wt") as fh:
        fh.write("userId,movieId,rating,timestamp\n1,296,5.0,1147880044\n1,306,3.5,1147868817\n")
    u, i, r = load_movielens(tmp_path / "u.data")
    assert u.tolist() == [1, 2] and i.tolist() == [10, 20] and r.tolist() == [4.0, 5.0]
    u, i, r = load_movielens(tmp_path / "ml-1m")
    assert i.tolist() == [1193, 661] and r.tolist() == [5.0, 3.0]
    u, i, r = load_movielens(tmp_path / "ratings.csv.gz")
    assert i.tolist() == [296, 306] and r.tolist() == [5.0, 3.5]


def test_movielens_errors(tmp_path):
    (tmp_path / "ratings.dat").write_text("1::2\n")
    with pytest.raises(ValueError, match="ratings.dat:1"):
        load_movielens(tmp_path / "ratings.dat")
    with pytest.raises(FileNotFoundError):
        load_movielens(tmp_path / "empty_dir_that_does_not_exist")
    (tmp_path / "other.txt").write_text("1\t2\t3\n")
    with pytest.raises(ValueError, match="not a MovieLens"):
        load_movielens(tmp_path / "other.txt")


def test_netflix_prize_per_movie_and_combined(tmp_path):
    (tmp_path / "mv_0000001.txt").write_text("1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n")
    (tmp_path / "mv_0000002.txt").write_text("2:\n2059652,4,2005-09-05\n")
    u, i, r = load_netflix_prize(tmp_path)
    assert u.tolist() == [1488844, 822109, 2059652] and i.tolist() == [1, 1, 2] and r.tolist() == [3, 5, 4]
    combined = tmp_path / "combined_data_1.txt"
    combined.write_text("1:\n10,1,2005-01-01\n7:\n11,2,2005-01-02\n12,3,2005-01-03\n")
    u, i, r = load_netflix_prize(combined)
    assert i.tolist() == [1, 7, 7]
    bad = tmp_path / "bad" / "mv_0000009.txt"
    bad.parent.mkdir()
    bad.write_text("12,3,2005-01-03\n")
    with pytest.raises(ValueError, match="before any"):
        load_netflix_prize(bad.parent)


@pytest.mark.data
def test_real_files():
    root = shared_data_dir()
    if root is None:
        pytest.skip("../shared/data is not present")
    u, i, r = load_movielens(root / "ml-100k")
    assert u.size == 100_000 and np.unique(u).size == 943 and np.unique(i).size == 1682
    u, i, r = load_netflix_prize(root / "netflix-deeprec-testdata" / "testData_uRec", layout="deeprec")
    assert u.size == 204_821 and np.unique(u).size == 97_618 and np.unique(i).size == 11_259
