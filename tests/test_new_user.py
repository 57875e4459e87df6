"""What a new user tripped over (issue 21), one regression test each: CLI paths that failed, records
passed where a matrix belongs, record files with headers and other separators, and messages that
did not name the problem."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import aerec
from aerec.cli import main, read_records
from aerec.persistence import ModelFileError

pd = pytest.importorskip("pandas")


def _ratings_rows(n_users=60, n_items=40, per_user=12, seed=0):
    rng = np.random.default_rng(seed)
    rows = {}
    for u in range(n_users):
        for i in rng.choice(n_items, per_user, replace=False):
            rows[(u + 1, i + 101)] = int(rng.integers(1, 6))
    return [(u, i, r) for (u, i), r in rows.items()]


@pytest.fixture()
def movielens_csv(tmp_path):
    """A MovieLens-style ratings.csv: header userId,movieId,rating,timestamp."""
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,rating,timestamp\n"
                    + "".join(f"{u},{i},{r}.0,{964982703 + k}\n" for k, (u, i, r) in enumerate(_ratings_rows())))
    return path


# ---- the command line ----------------------------------------------------------------------------


@pytest.mark.parametrize("model,param", [("AutoRec", "n_epochs=2"), ("DeepAutoencoder", "n_epochs=2")])
def test_recommend_from_a_rating_model_file(tmp_path, movielens_csv, capsys, model, param):
    """Used to fail: _ExplicitAutoencoder.recommend() got an unexpected keyword argument 'precision'."""
    path = tmp_path / "m.npz"
    extra = ["--param", "item_based=False"] if model == "AutoRec" else []
    assert main(["fit", str(movielens_csv), "--model", model, "--param", param, *extra, "--out", str(path)]) == 0
    history = tmp_path / "h.csv"
    history.write_text("user,item,rating\n7,101,5\n7,102,4\n7,103,1\n")
    capsys.readouterr()
    assert main(["recommend", str(path), str(history), "--k", "3", "--format", "json"]) == 0
    items = [r["item"] for r in json.loads(capsys.readouterr().out)["7"]]
    assert len(items) == 3 and not {101, 102, 103} & set(items)


def test_evaluate_refuses_rating_models_in_one_line(movielens_csv, capsys):
    """Used to print a traceback: item-based AutoRec cannot fold in I1's held-out users."""
    assert main(["evaluate", str(movielens_csv), "--models", "EASE,AutoRec", "--heldout", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("aerec: error: AutoRec predicts ratings")
    assert "Traceback" not in err


def test_evaluate_prints_each_model_as_it_finishes_and_takes_a_fraction(movielens_csv, capsys):
    assert main(["evaluate", str(movielens_csv), "--models", "Popularity,EASE", "--heldout", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "6 validation and 6 test users" in out  # 10 % of 60 users each
    assert out.index("Popularity ") < out.index("EASE ")


def test_evaluate_holds_out_a_share_of_the_users_by_default(movielens_csv, capsys):
    """The default was 600 users each (ML-1M's), more than a small file has."""
    assert main(["evaluate", str(movielens_csv), "--models", "Popularity"]) == 0
    assert "6 validation and 6 test users" in capsys.readouterr().out  # 10 % of 60


def test_recommend_into_a_closed_pipe_is_quiet(tmp_path, movielens_csv):
    """`aerec recommend … | head -1` used to end in a BrokenPipeError traceback."""
    path = tmp_path / "m.npz"
    assert main(["fit", str(movielens_csv), "--model", "EASE", "--param", "l2=10.0", "--out", str(path)]) == 0
    proc = subprocess.Popen([sys.executable, "-m", "aerec", "recommend", str(path), str(movielens_csv), "--k", "30"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b"user,rank,item,score")
    proc.stdout.close()  # the reader goes away after one line
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    err = err.decode()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_the_history_threshold_is_the_fit_threshold(tmp_path, movielens_csv, capsys):
    """A rating of 2 in a history used to count as a like although fit dropped ratings <= 3.5."""
    path = tmp_path / "m.npz"
    assert main(["fit", str(movielens_csv), "--model", "EASE", "--param", "l2=10.0", "--out", str(path)]) == 0
    history = tmp_path / "h.csv"
    history.write_text("user,item,rating\n7,101,5\n7,102,2\n")  # 102 is not a like: it may be recommended
    capsys.readouterr()
    assert main(["recommend", str(path), str(history), "--k", "40", "--format", "json"]) == 0
    items = [r["item"] for r in json.loads(capsys.readouterr().out)["7"]]
    assert 101 not in items and 102 in items
    assert main(["recommend", str(path), str(history), "--k", "40", "--format", "json", "--threshold", "1"]) == 0
    items = [r["item"] for r in json.loads(capsys.readouterr().out)["7"]]
    assert 101 not in items and 102 not in items


def test_demo_on_a_file_prints_its_item_ids_and_takes_a_user_count(movielens_csv, capsys):
    assert main(["--data", str(movielens_csv), "--heldout", "12"]) == 0
    out = capsys.readouterr().out
    assert "held out 12 users" in out and "(item ids)" in out
    listed = out.split("(item ids):")[1].split("(*")[0]
    ids = [int(t.strip(" *")) for line in listed.strip().splitlines() for t in line.split(":")[1].split(",")]
    assert all(101 <= i <= 140 for i in ids)  # the file's ids, not column indices 0-39
    assert "hits / min(k, #targets)" in out


def test_version_and_help_show_defaults(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"aerec {aerec.__version__}"
    with pytest.raises(SystemExit):
        main(["recommend", "--help"])
    assert "(default: 10)" in capsys.readouterr().out


# ---- record files --------------------------------------------------------------------------------


def test_a_header_of_names_is_detected(tmp_path):
    """`user,item` used to be read as a record (a user named "user")."""
    path = tmp_path / "r.csv"
    path.write_text("user,item\n1,10\n2,20\n")
    users, items, ratings = read_records(path)
    assert users.tolist() == [1, 2] and items.tolist() == [10, 20] and ratings is None
    path.write_text("alice,book\nbob,film\n")  # names only, no known header names: data
    assert read_records(path)[0].tolist() == ["alice", "bob"]
    assert read_records(path, header="yes")[0].tolist() == ["bob"]


def test_a_bad_first_record_is_not_taken_for_a_header(tmp_path, capsys):
    """`1,2,five` used to be dropped silently as a header."""
    path = tmp_path / "r.csv"
    path.write_text("1,2,five\n1,3,4\n2,3,5\n")
    assert main(["fit", str(path), "--model", "Popularity", "--out", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err
    assert "record 1 has 'five' as its rating" in err and err.count("\n") == 1


def test_other_separators_and_the_error_naming_those_tried(tmp_path, capsys):
    path = tmp_path / "r.csv"
    path.write_text("".join(f"{u};{i};{r}\n" for u, i, r in _ratings_rows()))
    users, items, ratings = read_records(path)
    assert users.size == len(_ratings_rows()) and ratings.max() == 5
    path.write_text("".join(f"{u}/{i}/{r}\n" for u, i, r in _ratings_rows()[:20]))
    assert main(["fit", str(path), "--model", "Popularity", "--out", str(tmp_path / "m.npz")]) == 2
    err = capsys.readouterr().err
    assert "tried '::', '\\t', ',', ';', '|' and whitespace" in err and "--sep" in err
    assert read_records(path, sep="/")[2].size == 20


# ---- the Python API ------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: aerec.EASE(l2=10.0), lambda: aerec.MultVAE(n_epochs=1)])
def test_records_passed_to_fit_are_refused_with_the_way_out(movielens_csv, make):
    """EASE().fit(df) used to fit a 4-item model whose recommend returned all -1."""
    df = pd.read_csv(movielens_csv)
    with pytest.raises(ValueError, match=r"looks like interaction records .*IdMapper"):
        make().fit(df)
    with pytest.raises(ValueError, match=r"looks like interaction records .*IdMapper"):
        make().fit(df.to_numpy())
    X = aerec.data.IdMapper(user_col="userId", item_col="movieId").fit_transform(df)
    assert make().fit(X).recommend(X[:2], k=3)[0].min() >= 0  # the documented way works


def test_a_one_dimensional_sparse_row_is_one_user():
    """model.recommend(X[0]) used to raise an unexplained IndexError."""
    X = sp.random(100, 40, density=0.2, format="csr", random_state=0)
    X = sp.csr_array(X)
    model = aerec.EASE(l2=10.0).fit(X)
    assert X[0].ndim == 1
    for a, b in zip(model.recommend(X[0], k=5), model.recommend(X[[0]], k=5)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"X\[\[i\]\]"):
        model.recommend(X.toarray()[0], k=5)


def test_estimators_take_random_state():
    """EASE(random_state=0) used to be a TypeError although every estimator takes it."""
    for name in aerec.models.__all__:
        assert "random_state" in getattr(aerec, name)().get_params()


def test_input_messages_are_aerec_s_own():
    X = sp.random(30, 20, density=0.3, format="csr", random_state=0)
    with pytest.raises(ValueError, match="holds strings"):  # used to be accepted
        aerec.EASE().fit(X.toarray().astype(str))
    bad = X.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="^X contains NaN or infinite values$"):  # not a HistGradientBoosting tip
        aerec.EASE().fit(bad)
    with pytest.raises(ValueError) as info:  # used to print the whole matrix
        aerec.EASE().fit(X.astype(complex))
    assert "Complex data not supported" in str(info.value) and len(str(info.value)) < 200


def test_loading_a_ratings_file_says_it_is_not_a_model(movielens_csv):
    with pytest.raises(ModelFileError, match="not an aerec model file") as info:
        aerec.load(movielens_csv)
    assert "pickle" not in str(info.value)


# ---- ids end to end ------------------------------------------------------------------------------


def test_ids_end_to_end_in_one_file(tmp_path, movielens_csv, capsys):
    """ratings.csv → IdMapper → fit → recommendations as a DataFrame in the file's ids, for known and
    brand-new users → one file with the model and its id maps → the same answers after loading, and
    the CLI reads that file too."""
    df = pd.read_csv(movielens_csv)
    liked = df[df.rating > 3.5]
    mapper = aerec.data.IdMapper(user_col="userId", item_col="movieId")
    X = mapper.fit_transform(liked)
    model = aerec.EASE(l2=10.0).fit(X)
    assert mapper.rows([3, 1]).tolist() == [2, 0]
    new = pd.DataFrame({"userId": [999, 999], "movieId": [101, 102]})
    history = pd.concat([liked[liked.userId == 3], new])
    frame = mapper.recommend_frame(model, history, k=5)
    assert list(frame.columns) == ["user", "rank", "item", "score"]
    assert set(frame.user) == {3, 999} and frame["item"].dtype == "Int64" and frame["rank"].max() == 5
    assert not set(frame[frame.user == 999]["item"]) & {101, 102}
    wide = mapper.recommend_frame(model, new, k=50)  # more than the 40 items: padded at the tail
    assert wide["item"].isna().sum() == 50 - (40 - 2) and np.isneginf(wide["score"][wide["item"].isna()]).all()

    path = tmp_path / "model.npz"
    model.save(path, mapper=mapper)
    loaded, loaded_mapper = aerec.load(path, return_mapper=True)
    assert loaded_mapper.user_col == "userId"
    pd.testing.assert_frame_equal(loaded_mapper.recommend_frame(loaded, history, k=5), frame)

    hist_file = tmp_path / "h.csv"
    hist_file.write_text("userId,movieId,rating\n999,101,5\n999,102,5\n")
    capsys.readouterr()
    assert main(["recommend", str(path), str(hist_file), "--k", "5"]) == 0
    cli_items = [int(line.split(",")[2]) for line in capsys.readouterr().out.splitlines()[1:]]
    assert cli_items == frame[frame.user == 999]["item"].tolist()


def test_cli_model_files_load_with_their_id_maps(tmp_path, movielens_csv):
    path = tmp_path / "m.npz"
    assert main(["fit", str(movielens_csv), "--model", "EASE", "--param", "l2=10.0", "--out", str(path)]) == 0
    model, mapper = aerec.load(path, return_mapper=True)
    assert mapper.item_ids_.size == model.n_features_in_ and mapper.user_ids_.dtype.kind == "i"
    with pytest.raises(ModelFileError, match="holds no id maps"):
        bare = tmp_path / "bare.npz"
        model.save(bare)
        aerec.load(bare, return_mapper=True)


def test_pandas_paths_say_how_to_get_pandas(monkeypatch):
    mapper = aerec.data.IdMapper().fit(([1, 2], [3, 4]))
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas → ImportError
    with pytest.raises(ImportError, match=r"aerec\[pandas\]"):
        mapper.to_frame(np.array([1]), np.array([[0]]), np.array([[1.0]]))


def test_grid_search_without_y_scores_each_fold_and_picks_the_best():
    """GridSearchCV(model, grid).fit(X) used to get NaN scores and keep the first parameter set."""
    from sklearn.model_selection import GridSearchCV

    X = aerec.datasets.make_synthetic("small", random_state=0)
    search = GridSearchCV(aerec.EASE(), {"l2": [0.01, 500.0]}, cv=3).fit(X)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and search.best_params_ == {"l2": 500.0} and scores[1] > scores[0]


# ---- found in review -----------------------------------------------------------------------------


def test_ids_that_do_not_round_trip_as_integers_stay_strings(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item\n007,0195153448\n7,18446744073709551615\n8,12\n")
    users, items, _ = read_records(path)
    assert users.tolist() == ["007", "7", "8"]  # '007' and '7' are two users
    assert items.tolist() == ["0195153448", "18446744073709551615", "12"]  # no rewritten id, no overflow


def test_semicolons_with_decimal_commas(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("u1;i1;4,0\nu1;i2;3,5\nu2;i1;2,0\n")
    users, items, ratings = read_records(path, header="no")
    assert users.tolist() == ["u1", "u1", "u2"] and items.tolist() == ["i1", "i2", "i1"]
    assert ratings.tolist() == [4.0, 3.5, 2.0]  # decimal commas read as decimal points


def test_a_python_model_without_a_threshold_reads_every_history_record(tmp_path, capsys):
    X = aerec.datasets.make_synthetic("small", random_state=0)
    mapper = aerec.data.IdMapper()
    mapper.user_ids_, mapper.item_ids_ = np.arange(X.shape[0]), np.arange(X.shape[1])
    aerec.EASE(l2=10.0).fit(X).save(tmp_path / "m.npz", mapper=mapper)
    history = tmp_path / "h.csv"
    history.write_text("user,item,count\n1,0,2\n1,1,3\n1,2,10\n")  # counts, not 1-5 ratings
    assert main(["recommend", str(tmp_path / "m.npz"), str(history), "--k", "20", "--format", "json"]) == 0
    items = {r["item"] for r in json.loads(capsys.readouterr().out)["1"]}
    assert not items & {0, 1, 2}  # all three are the user's: none recommended back


def test_rating_models_refuse_histories_without_ratings():
    X = aerec.datasets.make_synthetic((60, 30, 600), random_state=0, explicit=True)
    mapper = aerec.data.IdMapper(rating_col="rating")
    mapper.user_ids_, mapper.item_ids_ = np.arange(60), np.arange(30)
    model = aerec.AutoRec(item_based=False, n_components=4, n_epochs=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="no column 'rating'"):
        mapper.recommend_frame(model, pd.DataFrame({"user": [1], "item": [2]}), k=3)
