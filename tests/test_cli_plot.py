"""The command line (main job, fit → recommend in original ids, errors without tracebacks) and
the headless plots."""

from __future__ import annotations

import json

import numpy as np
import pytest

import aerec
from aerec.cli import main


def _records(path, rows):
    path.write_text("".join(f"{u}\t{i}\t{r}\n" for u, i, r in rows))
    return path


@pytest.fixture()
def ratings_file(tmp_path):
    rng = np.random.default_rng(0)
    rows = {(f"user{u}", f"item{i}"): int(rng.integers(1, 6)) for u in range(60) for i in rng.choice(40, 12)}
    return _records(tmp_path / "ratings.tsv", [(u, i, r) for (u, i), r in rows.items()])


def test_main_job_runs_on_the_embedded_default(capsys):
    assert main(["--heldout", "0.2"]) == 0
    out = capsys.readouterr().out
    for name in ("Popularity", "EASE", "MultDAE", "MultVAE", "NDCG@100"):
        assert name in out


def test_fit_then_recommend_in_original_ids(tmp_path, ratings_file, capsys):
    model_path = tmp_path / "m.npz"
    assert main(["fit", str(ratings_file), "--model", "EASE", "--param", "l2=10.0", "--threshold", "2",
                 "--out", str(model_path)]) == 0
    history = _records(tmp_path / "h.tsv", [("new_user", "item3", 5), ("new_user", "item7", 4)])
    capsys.readouterr()
    assert main(["recommend", str(model_path), str(history), "--k", "4", "--format", "json"]) == 0
    recs = json.loads(capsys.readouterr().out)
    items = [r["item"] for r in recs["new_user"]]
    assert len(items) == 4 and all(i.startswith("item") for i in items)
    assert not {"item3", "item7"} & set(items)  # seen items excluded


def test_recommend_in_bfloat16_and_refused_by_name(tmp_path, ratings_file, capsys):
    history = _records(tmp_path / "h.tsv", [("new_user", "item3", 5), ("new_user", "item7", 4)])
    for model, param, code in (("MultDAE", "n_epochs=2", 0), ("EASE", "l2=10.0", 2)):
        path = tmp_path / f"{model}.npz"
        assert main(["fit", str(ratings_file), "--model", model, "--param", param, "--threshold", "2",
                     "--out", str(path)]) == 0
        capsys.readouterr()
        assert main(["recommend", str(path), str(history), "--k", "3", "--format", "json",
                     "--precision", "bfloat16"]) == code
        out = capsys.readouterr()
        if code == 0:
            items = [r["item"] for r in json.loads(out.out)["new_user"]]
            assert len(items) == 3 and not {"item3", "item7"} & set(items)
        else:  # EASE has no bfloat16 path: a user error naming it, no traceback
            assert "does not support precision='bfloat16'" in out.err and "Traceback" not in out.err


def test_user_mistakes_exit_2_without_traceback(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "missing.tsv"), "--out", str(tmp_path / "x.npz")]) == 2
    assert main(["fit", "synthetic:small", "--model", "NoSuchModel", "--out", str(tmp_path / "x.npz")]) == 2
    assert main(["fit", "synthetic:small", "--model", "EASE", "--param", "bogus=1", "--out", "x.npz"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("aerec: error:") == 3


def test_plots_headless(tmp_path):
    pytest.importorskip("matplotlib")
    from aerec.datasets import make_synthetic
    from aerec.model_selection import holdout_users as split_users
    from aerec.plot import plot_learning_curve, plot_metric_at_k

    X = make_synthetic((400, 100, 8000), random_state=0)
    train, fold_in, target = split_users(X, 0.2, np.random.RandomState(0))
    model = aerec.MultDAE(n_components=16, n_epochs=4, batch_size=100, random_state=0)
    model.fit(train, X_val=fold_in, y_val=target)
    plot_learning_curve(model, path=tmp_path / "curve.png")
    from aerec.metrics import evaluate_rankings

    res = {"MultDAE": evaluate_rankings(model.recommend(fold_in, k=50)[0], target, ks=(10, 20, 50))}
    plot_metric_at_k(res, path=tmp_path / "k.png")
    for name in ("curve.png", "k.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_and_info(capsys):
    assert main(["bench"]) == 0
    out = capsys.readouterr().out
    assert "multinomial" in out and "speed-up" in out
    assert main(["info"]) == 0
    assert "CPU kernels" in capsys.readouterr().out


def test_movielens_spec_reads_the_cache(tmp_path, monkeypatch, capsys):
    """'movielens:<name>' uses fetch_movielens's cache (no network when the archive is cached)."""
    import io
    import zipfile

    monkeypatch.setenv("AEREC_DATA_HOME", str(tmp_path))
    rng = np.random.default_rng(0)
    lines = "".join(f"{u}\t{i}\t{int(rng.integers(1, 6))}\t0\n" for u in range(1, 40) for i in rng.choice(60, 8) + 1)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("ml-100k/u.data", lines)
    (tmp_path / "ml-100k.zip").write_bytes(buf.getvalue())
    assert main(["fit", "movielens:ml-100k", "--model", "Popularity", "--out", str(tmp_path / "p.npz")]) == 0
    assert "MovieLens ml-100k" in capsys.readouterr().out
    assert main(["fit", "movielens:ml-7m", "--out", str(tmp_path / "q.npz")]) == 2
