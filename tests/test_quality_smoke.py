"""Quality smoke tests on real data (protocol I1 on ML-1M), plus on-demand wrappers that run the full
reproduction scripts in benchmarks/quality.

* The fast test (normal suite, ~10-20 s) fits EASE and a short MultDAE on the I1 split of ML-1M and
  checks that both rank the test users' held-out items far better than Popularity: a loose bound
  that only a broken model (or a broken split/metric/ranking) fails.
* The ``slow`` tests run ``i1_ml1m.py`` (200 epochs: about half an hour) and ``i2_gowalla.py``; they are
  skipped unless selected with ``-m slow`` (or AEREC_RUN_SLOW=1).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

import pytest

from aerec.datasets import shared_data_dir

ROOT = Path(__file__).resolve().parents[1]
QUALITY = ROOT / "benchmarks" / "quality"


def _data(name):
    base = shared_data_dir()
    if base is None and (ROOT.parent / "shared" / "data").is_dir():
        base = ROOT.parent / "shared" / "data"
    path = base / name if base is not None else None
    if path is None or not path.is_dir():
        pytest.skip(f"the {name} data set is not available (expected ../shared/data/{name} or $AEREC_DATA_DIR)")
    return path


def _script(name):
    if str(QUALITY) not in sys.path:
        sys.path.insert(0, str(QUALITY))
    return importlib.import_module(name)


@pytest.fixture(scope="module")
def i1_split():
    path = _data("ml-1m")
    return _script("i1_ml1m").load_split(path)


def _ndcg100(model, split):
    i1 = _script("i1_ml1m")
    idx, _ = model.recommend(split.test_fold_in, k=100)
    return i1.evaluate(idx, split.test_target)


@pytest.mark.data
def test_i1_ml1m_models_beat_popularity(i1_split):
    from aerec import EASE, MultDAE, Popularity

    s = i1_split
    assert s.train.shape == (4834, 3497) and s.test_target.shape[0] == 600
    pop = _ndcg100(Popularity().fit(s.train), s)
    # Popularity on this split: NDCG@100 ≈ 0.216 (a sanity check of split + metric + ranking)
    assert 0.17 < pop["ndcg@100"] < 0.26, pop
    ease = _ndcg100(EASE(l2=500.0).fit(s.train), s)
    # a short, fast schedule (100 updates at lr 3e-3), not the reference recipe: ≈ 0.34 when healthy
    dae = _ndcg100(MultDAE(n_epochs=5, batch_size=250, learning_rate=3e-3, random_state=0).fit(s.train), s)
    assert ease["ndcg@100"] > 1.6 * pop["ndcg@100"], (ease["ndcg@100"], pop["ndcg@100"])  # ≈ 0.42 when healthy
    assert dae["ndcg@100"] > 1.3 * pop["ndcg@100"], (dae["ndcg@100"], pop["ndcg@100"])
    for m in (pop, ease, dae):
        assert m["n_users"] == 600
        assert m["truncated_recall@20"] >= m["recall@20"]


def _run_slow(request):
    expr = request.config.getoption("-m") or ""
    if os.environ.get("AEREC_RUN_SLOW") == "1":
        return
    if "slow" not in expr or "not slow" in expr:
        pytest.skip("full reproduction (long): run with `pytest -m slow` or AEREC_RUN_SLOW=1")


@pytest.mark.slow
@pytest.mark.data
def test_i1_ml1m_full_reproduction(request, tmp_path):
    """The I1 script with the reference's 200 epochs: aerec MultVAE within 1 s.e. of (or above) the
    torch re-implementation of the reference code on the same split."""
    _run_slow(request)
    path = _data("ml-1m")
    pytest.importorskip("torch", reason="the reference peer needs PyTorch: pip install torch==2.13.0")
    i1 = _script("i1_ml1m")
    out = tmp_path / "i1.md"
    results = i1.main(["--data-dir", str(path), "--out", str(out), "--quiet"])
    lines, ok = i1.compare_to_peer(results)
    assert ok, "\n".join(lines)
    by = {r["key"]: r["metrics"]["ndcg@100"] for r in results}
    assert by["vae"] > 1.3 * by["pop"] and by["dae"] > 1.3 * by["pop"] and by["ease"] > 1.3 * by["pop"], by
    assert out.is_file()


@pytest.mark.slow
@pytest.mark.data
def test_i2_gowalla_reproduction(request, tmp_path):
    """The I2 script for MultVAE (AEREC_I2_EPOCHS epochs, default 200: hours on 2 cores) and Popularity;
    EASE too when AEREC_I2_EASE=1 (each fit at 40,981 items is ~1.6e14 flops)."""
    _run_slow(request)
    path = _data("gowalla_lightgcn")
    i2 = _script("i2_gowalla")
    models = "vae,pop" + (",ease" if os.environ.get("AEREC_I2_EASE") == "1" else "")
    results = i2.main(["--data-dir", str(path), "--models", models, "--epochs",
                       os.environ.get("AEREC_I2_EPOCHS", "200"), "--out", str(tmp_path / "i2.md"), "--quiet"])
    by = {r["key"]: r for r in results}
    pop = by["pop"]["metrics"]["recall@20"]
    assert 0.03 < pop < 0.06, pop  # ≈ 0.0416 on this split
    assert by["vae"]["metrics"]["recall@20"] > 2 * pop
