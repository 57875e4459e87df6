"""Robustness of the public surface: bad input gets a clear exception naming the problem (checked
in a subprocess where a crash could hide), concurrent recommend/predict from several threads
equals sequential calls, and dense results too large for memory are refused with the size."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import scipy.sparse as sp

import aerec
from aerec.datasets import make_synthetic

X = make_synthetic((200, 60, 3000), random_state=0)

BAD_FIT = {
    "nan": (lambda: _with(X, np.nan), ValueError, "NaN"),
    "inf": (lambda: _with(X, np.inf), ValueError, "infinit"),
    "negative": (lambda: _with(X, -1.0), ValueError, "Negative"),
    "complex": (lambda: X.astype(np.complex64), (TypeError, ValueError), "omplex"),
    "object": (lambda: np.array([["a", "b"]], dtype=object), (TypeError, ValueError), "string|numeric|dtype"),
    "empty": (lambda: sp.csr_array((0, 60), dtype=np.float32), ValueError, "sample"),
    "one_dim": (lambda: np.ones(5), ValueError, "2D"),
}


def _with(A, value):
    B = A.copy()
    B.data[0] = value
    return B


@pytest.mark.parametrize("case", list(BAD_FIT))
@pytest.mark.parametrize("make", [lambda: aerec.EASE(l2=10.0),
                                  lambda: aerec.MultDAE(n_components=4, n_epochs=1, batch_size=32),
                                  lambda: aerec.MultVAE(hidden_dims=(8,), n_components=4, n_epochs=1, batch_size=32),
                                  aerec.Popularity], ids=["EASE", "MultDAE", "MultVAE", "Popularity"])
def test_bad_fit_input_is_named(make, case):
    data, exc, match = BAD_FIT[case]
    with pytest.raises(exc, match=match):
        make().fit(data())


def test_malformed_csr_in_a_subprocess():
    """Broken CSR structures reach fit/recommend: a clear ValueError in a child process, never a crash."""
    code = textwrap.dedent("""
        import numpy as np, scipy.sparse as sp, aerec
        from aerec.datasets import make_synthetic
        X = make_synthetic((50, 20, 400), random_state=0)
        model = aerec.EASE(l2=5.0).fit(X)
        for field, value in (("indices", 10**6), ("indices", -5), ("indptr", 10**6)):
            B = X.copy()
            arr = getattr(B, field).copy(); arr[1] = value; setattr(B, field, arr)
            for call in (lambda: aerec.EASE(l2=5.0).fit(B), lambda: model.recommend(B, k=3)):
                try:
                    call()
                except (ValueError, IndexError) as exc:
                    pass
                else:
                    raise SystemExit(f"no error for a broken {field}")
        print("ok")
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]


@pytest.mark.parametrize("make", [lambda: aerec.EASE(l2=10.0),
                                  lambda: aerec.MultVAE(hidden_dims=(16,), n_components=8, n_epochs=2, batch_size=32,
                                                        random_state=0)], ids=["EASE", "MultVAE"])
def test_concurrent_recommend_equals_sequential(make):
    model = make().fit(X)
    expected = [model.recommend(X[i::4], k=10) for i in range(4)]
    results = [None] * 8

    def work(slot):
        results[slot] = model.recommend(X[slot % 4::4], k=10)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for slot, (idx, val) in enumerate(results):
        np.testing.assert_array_equal(idx, expected[slot % 4][0])
        np.testing.assert_array_equal(val, expected[slot % 4][1])


def test_dense_results_too_large_are_refused(monkeypatch):
    import aerec.models._base as base

    monkeypatch.setattr(base, "DEFAULT_MAX_DENSE_BYTES", 1000)
    model = aerec.EASE(l2=10.0).fit(X)
    with pytest.raises(MemoryError, match="recommend"):
        model.predict(X)
    idx, _ = model.recommend(X, k=5)  # the batched path still works
    assert idx.shape == (200, 5)
