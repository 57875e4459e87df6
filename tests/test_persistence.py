"""Model files: exact round trips, and a clear ModelFileError — never code execution — for
truncated, corrupted, tampered, wrong-version and wrong-model files."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest

import aerec
from aerec.datasets import make_synthetic
from aerec.persistence import FORMAT_VERSION, ModelFileError


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X = make_synthetic((300, 80, 5000), random_state=0)
    model = aerec.MultDAE(n_components=8, n_epochs=2, batch_size=64, random_state=0).fit(X)
    path = tmp_path_factory.mktemp("m") / "dae.npz"
    model.save(path)
    return path, model, X


def _rewrite(src, dst, edit):
    """Copy the npz at src to dst, passing {name: bytes} through edit()."""
    with zipfile.ZipFile(src) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members = edit(members)
    with zipfile.ZipFile(dst, "w") as zf:
        for n, b in members.items():
            zf.writestr(n, b)
    return dst


def _header(members):
    return json.loads(np.load(io.BytesIO(members["__aerec__.npy"])).tobytes().decode())


def _with_header(members, header):
    buf = io.BytesIO()
    np.save(buf, np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    members["__aerec__.npy"] = buf.getvalue()
    return members


def test_roundtrip_with_extra_arrays(tmp_path, saved):
    path, model, X = saved
    from aerec.persistence import load, save

    save(model, tmp_path / "x.npz", extra={"item_ids": np.array(["a", "b"], dtype=object)})
    loaded, extra = load(tmp_path / "x.npz", return_extra=True)
    assert extra["item_ids"].tolist() == ["a", "b"]
    np.testing.assert_array_equal(loaded.predict(X[:10]), model.predict(X[:10]))


def test_truncated_file(tmp_path, saved):
    data = saved[0].read_bytes()
    bad = tmp_path / "t.npz"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        aerec.load(bad)


def test_not_a_model_file(tmp_path):
    p = tmp_path / "n.npz"
    np.savez(p, a=np.ones(3))
    with pytest.raises(ModelFileError, match="not an aerec model"):
        aerec.load(p)
    (tmp_path / "junk.npz").write_bytes(b"\x00" * 100)
    with pytest.raises(ModelFileError):
        aerec.load(tmp_path / "junk.npz")


def test_newer_format_version_is_refused(tmp_path, saved):
    def edit(m):
        h = _header(m)
        h["format_version"] = FORMAT_VERSION + 1
        return _with_header(m, h)

    with pytest.raises(ModelFileError, match="Upgrade aerec"):
        aerec.load(_rewrite(saved[0], tmp_path / "v.npz", edit))


def test_wrong_model_type_and_unknown_estimator(tmp_path, saved):
    def to_vae(m):
        h = _header(m)
        h["estimator"] = "MultVAE"
        return _with_header(m, h)

    with pytest.raises(ModelFileError, match="MultVAE"):
        aerec.load(_rewrite(saved[0], tmp_path / "w.npz", to_vae))

    def to_unknown(m):
        h = _header(m)
        h["estimator"] = "os.system"
        return _with_header(m, h)

    with pytest.raises(ModelFileError, match="unknown estimator"):
        aerec.load(_rewrite(saved[0], tmp_path / "u.npz", to_unknown))


def test_tampered_array_shape_and_dtype(tmp_path, saved):
    def shrink(m):
        buf = io.BytesIO()
        np.save(buf, np.ones((3, 3), dtype=np.float32))
        m["coef_0.npy"] = buf.getvalue()
        h = _header(m)
        h["arrays"]["coef_0"] = {"dtype": "<f4", "shape": [3, 3]}  # consistent header, wrong architecture
        return _with_header(m, h)

    with pytest.raises(ModelFileError, match="architecture"):
        aerec.load(_rewrite(saved[0], tmp_path / "s.npz", shrink))

    def lie(m):  # array and header disagree
        h = _header(m)
        h["arrays"]["coef_0"]["shape"] = [1, 1]
        return _with_header(m, h)

    with pytest.raises(ModelFileError, match="header says"):
        aerec.load(_rewrite(saved[0], tmp_path / "l.npz", lie))


def test_crafted_pickle_payload_is_never_executed(tmp_path, saved):
    """An object array holding a pickle whose unpickling would run code: load refuses it and the
    code does not run (np.load with allow_pickle=False)."""
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    def inject(m):
        payload = np.array([Exploit()], dtype=object)
        buf = io.BytesIO()
        np.save(buf, payload, allow_pickle=True)
        m["coef_0.npy"] = buf.getvalue()
        return m

    with pytest.raises(ModelFileError):
        aerec.load(_rewrite(saved[0], tmp_path / "e.npz", inject))
    assert not marker.exists()
    # and a pickled header is refused too
    def pickled_header(m):
        m["__aerec__.npy"] = pickle.dumps(Exploit())
        return m

    with pytest.raises(ModelFileError):
        aerec.load(_rewrite(saved[0], tmp_path / "h.npz", pickled_header))
    assert not marker.exists()


def test_non_finite_weights_are_refused(tmp_path, saved):
    def poison(m):
        arr = np.load(io.BytesIO(m["coef_0.npy"]))
        arr = arr.copy()
        arr[0, 0] = np.nan
        buf = io.BytesIO()
        np.save(buf, arr)
        m["coef_0.npy"] = buf.getvalue()
        return m

    with pytest.raises(ModelFileError, match="NaN"):
        aerec.load(_rewrite(saved[0], tmp_path / "p.npz", poison))


def test_unpickled_arrays_at_odd_offsets_are_realigned():
    """Pickle protocol 5 sends arrays out of band; a receiver (Dask) may rebuild them at any byte
    offset of a shared frame, which the native kernels refuse. The estimator copies those on load."""
    import pickle

    X = make_synthetic((80, 30, 500), random_state=0)
    model = aerec.MultDAE(n_components=4, n_epochs=1, random_state=0).fit(X)
    buffers = []
    payload = pickle.dumps(model, protocol=5, buffer_callback=buffers.append)
    shifted = []
    for b in buffers:  # each buffer one byte into a larger one: misaligned for float32
        raw = bytearray(len(b.raw()) + 1)
        raw[1:] = b.raw()
        shifted.append(memoryview(raw)[1:])
    clone = pickle.loads(payload, buffers=shifted)
    assert all(W.flags.aligned for W in clone.coefs_)
    np.testing.assert_array_equal(clone.recommend(X[:5], k=3)[0], model.recommend(X[:5], k=3)[0])
