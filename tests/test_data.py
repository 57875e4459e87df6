"""aerec.data.IdMapper: records ↔ CSR with documented rules for duplicates and unknown ids."""

from __future__ import annotations

import numpy as np
import pytest

from aerec.data import IdMapper


def test_roundtrip_string_ids_and_new_users():
    m = IdMapper(rating_col="rating")
    X = m.fit_transform({"user": ["u2", "u1", "u1"], "item": ["b", "a", "c"], "rating": [5.0, 3.0, 4.0]})
    assert m.user_ids_.tolist() == ["u1", "u2"] and m.item_ids_.tolist() == ["a", "b", "c"]
    np.testing.assert_array_equal(X.toarray(), [[3, 0, 4], [0, 5, 0]])
    rows, users = m.transform({"user": ["new", "new"], "item": ["c", "a"], "rating": [1.0, 2.0]})
    assert users.tolist() == ["new"]
    np.testing.assert_array_equal(rows.toarray(), [[2, 0, 1]])
    assert m.item_ids(np.array([[2, 0, -1]])).tolist() == [["c", "a", None]]


@pytest.mark.parametrize("rule, expected", [("last", 2.0), ("first", 4.0), ("sum", 6.0), ("mean", 3.0)])
def test_duplicate_rules(rule, expected):
    m = IdMapper(rating_col="r", duplicates=rule)
    X = m.fit_transform({"user": [7, 7, 8], "item": [1, 1, 1], "r": [4.0, 2.0, 1.0]})
    assert X[0, 0] == expected and X[1, 0] == 1.0


def test_duplicates_error_by_default():
    with pytest.raises(ValueError, match="1 duplicate"):
        IdMapper().fit_transform(([1, 1], [2, 2]))


def test_unknown_items_error_or_ignored_with_warning():
    m = IdMapper()
    m.fit_transform(([1, 2], [10, 20]))
    with pytest.raises(ValueError, match="never seen"):
        m.transform(([3, 3], [10, 99]))
    lenient = IdMapper(unknown="ignore")
    lenient.fit_transform(([1, 2], [10, 20]))
    with pytest.warns(UserWarning, match="dropped 1"):
        X, users = lenient.transform(([3, 3], [10, 99]))
    np.testing.assert_array_equal(X.toarray(), [[1, 0]])


def test_training_users_keep_their_rows():
    m = IdMapper()
    m.fit_transform((["a", "b", "c"], [1, 2, 3]))
    X = m.transform_users((["c", "a"], [1, 1]))
    np.testing.assert_array_equal(X.toarray(), [[1, 0, 0], [0, 0, 0], [1, 0, 0]])
    with pytest.raises(ValueError, match="users never seen"):
        m.transform_users((["zz"], [1]))


def test_bad_input_named():
    with pytest.raises(ValueError, match="columns"):
        IdMapper().fit({"u": [1]})
    with pytest.raises(ValueError, match="NaN"):
        IdMapper(rating_col="r").fit_transform({"user": [1], "item": [1], "r": [np.nan]})
    with pytest.raises(TypeError, match="real numbers"):
        IdMapper(rating_col="r").fit_transform({"user": [1], "item": [1], "r": np.array(["x"], dtype=object)})
    with pytest.raises(ValueError, match="not fitted"):
        IdMapper().transform(([1], [1]))
    with pytest.raises(ValueError, match="duplicates must be"):
        IdMapper(duplicates="max").fit_transform(([1], [1]))
