"""aerec.distributed on a real dask.distributed LocalCluster (two worker processes on 127.0.0.1): batch
recommendations, evaluation and EASE's Gram matrix equal the single-machine results exactly, and a
worker killed mid-job loses and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import aerec
from aerec.data import IdMapper
from aerec.metrics import evaluate_rankings

pd = pytest.importorskip("pandas")
dd = pytest.importorskip("dask.dataframe", reason='needs dask[dataframe]: pip install "aerec[dask]"')
distributed = pytest.importorskip("distributed", reason='needs distributed: pip install "aerec[dask]"')
pytest.importorskip("pyarrow", reason="dask's string columns need pyarrow")

from aerec.distributed import (  # noqa: E402
    evaluate_dask,
    gram_dask,
    output_meta,
    recommend_dask,
    score_partition,
)

N_USERS, N_ITEMS = 300, 60
RESULT_TIMEOUT = 120  # seconds: no test waits longer for a cluster result


def _records(seed=0, ratings=False):
    rng = np.random.RandomState(seed)
    users, items = [], []
    for u in range(N_USERS):
        chosen = rng.choice(N_ITEMS, size=rng.randint(4, 16), replace=False)
        users += [f"u{u:03d}"] * chosen.size
        items += (1000 + chosen).tolist()
    df = pd.DataFrame({"user": users, "item": np.asarray(items, dtype=np.int64)})
    if ratings:
        df["rating"] = rng.randint(1, 6, size=len(df)).astype(np.float64)
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # users scattered over partitions


@pytest.fixture(scope="module")
def records():
    return _records()


@pytest.fixture(scope="module")
def mapper(records):
    m = IdMapper()
    m.fit(records)
    return m


@pytest.fixture(scope="module")
def models(records, mapper):
    X = mapper.fit_transform(records)
    return {
        "EASE": aerec.EASE(l2=10.0).fit(X),
        "MultDAE": aerec.MultDAE(n_components=16, n_epochs=3, batch_size=64, random_state=0).fit(X),
    }


def _workers_import_this_aerec():
    """Spawned workers inherit the environment: when a fresh interpreter would not import this aerec
    (tests run on the source tree with PYTHONPATH set by hand, not the installed package), put its
    directory first on PYTHONPATH. Returns the previous value to restore."""
    here = os.path.dirname(os.path.abspath(aerec.__file__))
    code = "import aerec, os; print(os.path.dirname(os.path.abspath(aerec.__file__)))"
    probe = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd="/")
    previous = os.environ.get("PYTHONPATH")
    if probe.returncode != 0 or probe.stdout.strip() != here:
        root = os.path.dirname(here)
        os.environ["PYTHONPATH"] = root + (os.pathsep + previous if previous else "")
    return previous


@pytest.fixture(scope="module")
def client():
    previous = _workers_import_this_aerec()
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None, silence_logs=40) as cluster, \
                distributed.Client(cluster, timeout=60) as c:
            c.wait_for_workers(2, timeout=60)
            yield c
    finally:
        if previous is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = previous


def _canonical(frame):
    """Sorted by (user, rank), user ids as plain objects (Dask stores strings as Arrow strings)."""
    out = frame.astype({"user": object}).sort_values(["user", "rank"]).reset_index(drop=True)
    return out


def _result(client, collection):
    return client.compute(collection).result(timeout=RESULT_TIMEOUT)


# ---- the per-partition function, no cluster ---------------------------------------------------------


def test_score_partition_is_the_in_process_recommend(records, mapper, models):
    model = models["EASE"]
    got = score_partition(records, model, mapper, k=7)
    want = mapper.recommend_frame(model, records, k=7)
    pd.testing.assert_frame_equal(got, want)


def test_score_partition_of_an_empty_partition_has_the_meta(records, mapper, models):
    model = models["MultDAE"]
    empty = score_partition(records.iloc[:0], model, mapper, k=5)
    meta = output_meta(mapper, records["user"].dtype, model.dtype_)
    assert list(empty.columns) == ["user", "rank", "item", "score"] and len(empty) == 0
    pd.testing.assert_series_equal(empty.dtypes, meta.dtypes)
    full = score_partition(records, model, mapper, k=5)
    pd.testing.assert_series_equal(full.dtypes, meta.dtypes)


def test_item_based_autorec_is_refused(mapper):
    rated = _records(ratings=True)
    m = IdMapper(rating_col="rating")
    X = m.fit_transform(rated)
    model = aerec.AutoRec(item_based=True, n_components=4, n_epochs=1, random_state=0).fit(X)
    with pytest.raises(ValueError, match="item_based=True"):
        score_partition(rated, model, m, k=3)


def test_importing_aerec_distributed_imports_no_dask_or_spark():
    code = ("import sys, aerec.distributed; "
            "print(sorted(m for m in ('dask', 'distributed', 'pyspark') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(aerec.__file__))})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_missing_dask_names_the_extra(monkeypatch, records, mapper, models):
    from aerec.distributed import dask as adask

    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    with pytest.raises(ImportError, match=r'pip install "aerec\[dask\]"'):
        adask._dask()


# ---- on the cluster -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["EASE", "MultDAE"])
def test_recommend_dask_equals_in_process_recommend(client, records, mapper, models, name):
    model = models[name]
    ddf = dd.from_pandas(records, npartitions=5)
    result = recommend_dask(model, mapper, ddf, k=10)
    assert list(result.columns) == ["user", "rank", "item", "score"]
    got = _canonical(_result(client, result))
    want = _canonical(mapper.recommend_frame(model, records, k=10))
    assert got["user"].value_counts().eq(10).all() and got["user"].nunique() == N_USERS
    pd.testing.assert_frame_equal(got, want)  # same items, same order, same scores, original ids


def test_evaluate_dask_equals_evaluate_rankings(client, records, mapper, models):
    first = records.groupby("user").cumcount() < 3  # each user's first 3 records are the target
    history, target = records[~first], records[first]
    X, users_h = mapper.transform(history)
    Y, users_t = mapper.transform(target)
    assert np.array_equal(users_h, users_t)
    for model in models.values():
        got = evaluate_dask(model, mapper, dd.from_pandas(history, npartitions=4),
                            dd.from_pandas(target, npartitions=3), ks=(5, 20))
        want = evaluate_rankings(model.recommend(X, k=20)[0], Y, ks=(5, 20))
        assert got == want  # the same floats, not merely close
        assert got["n_users"] == N_USERS


def test_evaluate_dask_rmse_of_a_rating_model(client):
    rated = _records(seed=1, ratings=True)
    m = IdMapper(rating_col="rating")
    X = m.fit_transform(rated)
    model = aerec.AutoRec(item_based=False, n_components=8, n_epochs=3, random_state=0).fit(X)
    first = rated.groupby("user").cumcount() < 2
    history, target = rated[~first], rated[first]
    Xh, _ = m.transform(history)
    Yt, _ = m.transform(target)
    got = evaluate_dask(model, m, dd.from_pandas(history, npartitions=3), dd.from_pandas(target, npartitions=2))
    assert got["n_ratings"] == len(target)
    np.testing.assert_allclose(got["rmse"], -model.score(Xh, Yt), rtol=1e-12, atol=0)


def test_gram_dask_fits_ease_bit_identically(client, records, mapper, models):
    want = models["EASE"].B_
    G = gram_dask(dd.from_pandas(records, npartitions=5), mapper)
    assert G.shape == (N_ITEMS, N_ITEMS) and G.dtype == np.float64
    np.testing.assert_array_equal(aerec.EASE(l2=10.0).fit_gram(G).B_, want)
    # the same from blocks of CSR rows (a dask.bag of (user_ids, block) pairs)
    import dask.bag as db

    X = mapper.fit_transform(records)
    blocks = [(np.arange(s, min(s + 70, N_USERS)), X[s:s + 70]) for s in range(0, N_USERS, 70)]
    G2 = gram_dask(db.from_sequence(blocks, npartitions=3), n_items=N_ITEMS)
    np.testing.assert_array_equal(G2, G)
    refit = aerec.EASE(l2=10.0).fit_gram(G2)
    np.testing.assert_array_equal(refit.recommend(X[:20], k=5)[0], models["EASE"].recommend(X[:20], k=5)[0])


def _slow_once(df, marker_dir, slow_user):
    """Test hook run on the workers: the partition holding ``slow_user`` sleeps the first time it runs
    (after writing the worker's pid), so the test can kill that worker mid-task; a rerun notes its pid."""
    if (df["user"] == slow_user).any():
        try:
            fd = os.open(os.path.join(marker_dir, "first"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            with open(os.path.join(marker_dir, "rerun"), "w") as fh:
                fh.write(str(os.getpid()))
            return df
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        time.sleep(30)
    return df


def test_a_worker_killed_mid_job_loses_and_duplicates_nothing(client, records, mapper, models, tmp_path):
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module
    model = models["EASE"]
    # each user's records in one partition (a partition per user-number residue), so no shuffle is needed
    parts = records.assign(part=records["user"].str[1:].astype(int) % 4).set_index("part").sort_index()
    ddf = dd.from_pandas(parts, npartitions=4, sort=True)
    assert ddf.npartitions == 4
    slow = ddf.map_partitions(_slow_once, str(tmp_path), "u002", meta=ddf._meta)
    future = client.compute(recommend_dask(model, mapper, slow, k=10, shuffle=False))
    first = tmp_path / "first"
    deadline = time.monotonic() + 60
    while not (first.exists() and first.read_text()):
        assert time.monotonic() < deadline, "the slow partition never started"
        assert not future.done(), future.exception() if future.status == "error" else "finished before the kill"
        time.sleep(0.05)
    pid = int(first.read_text())
    os.kill(pid, signal.SIGKILL)  # the worker process running the slow partition (started by this cluster)
    got = _canonical(future.result(timeout=RESULT_TIMEOUT))
    rerun = tmp_path / "rerun"
    assert rerun.exists() and int(rerun.read_text()) != pid  # the lost task ran again, elsewhere
    counts = got.groupby("user").size()
    assert counts.size == N_USERS and (counts == 10).all()  # every user once: nothing lost or duplicated
    pd.testing.assert_frame_equal(got, _canonical(mapper.recommend_frame(model, records, k=10)))
