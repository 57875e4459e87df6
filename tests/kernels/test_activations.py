"""activations: activation functions (forward/backward), inverted dropout and the counter-based random draws."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DTYPES, THREADS, assert_close, readonly, writable

from aerec import _reference as ref
from aerec import kernels

ACTS = sorted(kernels.ACTIVATIONS)
ALPHAS = {"elu": [None, 0.7], "leaky_relu": [None, 0.2]}


def _z(shape, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(shape) * 3.0
    flat = z.reshape(-1)
    # exact zeros and large magnitudes (overflow-free sigmoid, saturating tanh, ELU tail)
    extremes = [0.0, -0.0, 40.0, -40.0, 100.0, -100.0, 1e-3, -1e-3]
    flat[: len(extremes)] = extremes[: flat.size]
    return z


def _act_cases():
    for name in ACTS:
        for alpha in ALPHAS.get(name, [None]):
            yield name, alpha


@pytest.mark.parametrize("name,alpha", list(_act_cases()))
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_matches_reference(isa, dtype, n_threads, name, alpha):
    Z = readonly(_z((17, 9)), dtype)
    Y = kernels.activation_forward(name, Z, alpha=alpha, n_threads=n_threads)
    assert Y.dtype == dtype and Y.shape == Z.shape
    assert_close(Y, ref.ref_activation_forward(name, Z, alpha=alpha), dtype, scale=1.0)
    dY = readonly(np.random.default_rng(1).standard_normal(Z.shape), dtype)
    Yr = readonly(Y)
    dZ = kernels.activation_backward(name, Z, Yr, dY, alpha=alpha, n_threads=n_threads)
    assert dZ.dtype == dtype and dZ.shape == Z.shape
    assert_close(dZ, ref.ref_activation_backward(name, Z, Yr, dY, alpha=alpha), dtype, scale=1.0)


@pytest.mark.parametrize("name", ACTS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_out_and_aliasing(isa, dtype, name):
    """``out=`` is filled and returned; Y may alias Z and dZ may alias dY."""
    Z0 = _z((5, 7), seed=2).astype(dtype)
    dY0 = np.random.default_rng(3).standard_normal(Z0.shape).astype(dtype)
    Y_new = kernels.activation_forward(name, readonly(Z0), n_threads=1)
    dZ_new = kernels.activation_backward(name, readonly(Z0), readonly(Y_new), readonly(dY0), n_threads=1)

    out = np.empty_like(Z0)
    res = kernels.activation_forward(name, readonly(Z0), out=out, n_threads=2)
    assert np.shares_memory(res, out)
    np.testing.assert_array_equal(out, Y_new)

    Z = writable(Z0)
    kernels.activation_forward(name, Z, out=Z, n_threads=2)  # in place
    np.testing.assert_array_equal(Z, Y_new)

    dY = writable(dY0)
    res = kernels.activation_backward(name, readonly(Z0), readonly(Y_new), dY, out=dY, n_threads=2)
    assert np.shares_memory(res, dY)
    np.testing.assert_array_equal(dY, dZ_new)


@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_shapes(isa, dtype):
    """Any shape (0-size, 1-D, 3-D) is processed elementwise."""
    for shape in [(0,), (0, 5), (7,), (2, 3, 4)]:
        Z = readonly(_z(shape, seed=4) if np.prod(shape) else np.zeros(shape), dtype)
        Y = kernels.activation_forward("swish", Z, n_threads=3)
        assert Y.shape == shape
        assert_close(Y, ref.ref_activation_forward("swish", Z), dtype, scale=1.0)
        dZ = kernels.activation_backward("swish", Z, Y, readonly(np.ones(shape), dtype), n_threads=3)
        assert_close(dZ, ref.ref_activation_backward("swish", Z, Y, np.ones(shape)), dtype, scale=1.0)


def test_unknown_activation(isa):
    with pytest.raises(ValueError, match="unknown activation"):
        kernels.activation_forward("gelu", np.zeros(3))


# ---- dropout and random draws ------------------------------------------------------------------

KEYS = [
    dict(seed=0, step=0, row_offset=0),
    dict(seed=12345, step=7, row_offset=3),
    dict(seed=2**40 + 17, step=2**35 + 3, row_offset=10**6),  # high halves of seed and step matter
    dict(seed=2**64 - 1, step=2**64 - 1, row_offset=0),
]


@pytest.mark.parametrize("key", range(len(KEYS)))
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_random_uniform_matches_reference(isa, dtype, n_threads, key):
    kw = KEYS[key]
    U = kernels.random_uniform((13, 29), dtype=dtype, n_threads=n_threads, **kw)
    assert U.dtype == dtype and U.shape == (13, 29)
    want = ref.ref_random_uniform((13, 29), **kw)
    # 24-bit uniforms are exact in float32 and float64
    np.testing.assert_array_equal(U, want.astype(dtype))
    assert U.min() >= 0.0 and U.max() < 1.0


@pytest.mark.parametrize("key", range(len(KEYS)))
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_random_normal_matches_reference(isa, dtype, n_threads, key):
    kw = KEYS[key]
    N = kernels.random_normal((13, 29), dtype=dtype, n_threads=n_threads, **kw)
    assert N.dtype == dtype and N.shape == (13, 29)
    want = ref.ref_random_normal((13, 29), **kw)
    if dtype == np.float64:
        np.testing.assert_allclose(N, want, rtol=0, atol=1e-12)
    else:
        np.testing.assert_allclose(N, want, rtol=1e-6, atol=1e-6)


def test_random_shape_forms(isa):
    """An int shape means (1, n); 0-size shapes work; the default dtype is float32."""
    u = kernels.random_uniform(5, seed=1)
    assert u.shape == (1, 5) and u.dtype == np.float32
    np.testing.assert_array_equal(u, ref.ref_random_uniform((1, 5), seed=1).astype(np.float32))
    assert kernels.random_normal((0, 4), seed=1, dtype=np.float64).shape == (0, 4)
    assert kernels.random_uniform((3, 0), seed=1).shape == (3, 0)


def test_random_normal_statistics(isa):
    N = kernels.random_normal((200, 500), seed=5, dtype=np.float64, n_threads=2)
    assert abs(N.mean()) < 0.01 and abs(N.std() - 1.0) < 0.01


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.5, 0.9])
@pytest.mark.parametrize("key", range(len(KEYS)))
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_matches_reference(isa, dtype, n_threads, key, rate):
    kw = KEYS[key]
    rng = np.random.default_rng(key)
    X = readonly(rng.uniform(0.5, 2.0, (13, 29)) * rng.choice([-1, 1], (13, 29)), dtype)  # no zeros
    Y = kernels.dropout(X, rate, n_threads=n_threads, **kw)
    assert Y.dtype == dtype and Y.shape == X.shape
    want = ref.ref_dropout(X, rate, **kw)
    # the keep mask is exact; kept values are X / (1 - rate)
    np.testing.assert_array_equal(Y != 0, want != 0)
    if dtype == np.float64:
        np.testing.assert_allclose(Y, want, rtol=1e-12, atol=0)
    else:
        assert_close(Y, want, dtype)
    if rate == 0.0:
        np.testing.assert_array_equal(Y, X)
    r, c = np.meshgrid(np.arange(13) + kw["row_offset"], np.arange(29), indexing="ij")
    np.testing.assert_array_equal(Y != 0, ref.ref_dropout_mask(kw["seed"], kw["step"], r, c, rate))


@pytest.mark.parametrize("key", range(len(KEYS)))
def test_dropout_mask_same_for_float32_and_float64(isa, key):
    kw = KEYS[key]
    X = np.ones((31, 47))
    m32 = kernels.dropout(readonly(X, np.float32), 0.37, n_threads=2, **kw) != 0
    m64 = kernels.dropout(readonly(X, np.float64), 0.37, n_threads=2, **kw) != 0
    np.testing.assert_array_equal(m32, m64)
    assert 0 < m64.mean() < 1


def test_dropout_rate_is_respected(isa):
    for rate in (0.1, 0.5, 0.8):
        kept = kernels.dropout(readonly(np.ones((300, 300))), rate, seed=3, n_threads=2) != 0
        assert abs(kept.mean() - (1 - rate)) < 0.01


def test_dropout_row_offset_equals_batch_slicing(isa):
    X = readonly(np.random.default_rng(0).standard_normal((40, 30)))
    full = kernels.dropout(X, 0.5, seed=4, step=2, n_threads=3)
    part = kernels.dropout(readonly(X[11:29]), 0.5, seed=4, step=2, row_offset=11, n_threads=1)
    np.testing.assert_array_equal(part, full[11:29])


def test_dropout_steps_and_seeds_differ(isa):
    X = readonly(np.ones((20, 20)))
    a = kernels.dropout(X, 0.5, seed=1, step=0)
    assert not np.array_equal(a, kernels.dropout(X, 0.5, seed=1, step=1))
    assert not np.array_equal(a, kernels.dropout(X, 0.5, seed=2, step=0))
    assert not np.array_equal(a, kernels.dropout(X, 0.5, seed=1 + 2**32, step=0))
    assert not np.array_equal(a, kernels.dropout(X, 0.5, seed=1, step=2**32))


@pytest.mark.parametrize("dtype", DTYPES)
def test_dropout_out_and_empty(isa, dtype):
    X = readonly(np.ones((4, 6)), dtype)
    out = np.empty((4, 6), dtype)
    res = kernels.dropout(X, 0.5, seed=3, out=out)
    assert np.shares_memory(res, out)
    np.testing.assert_array_equal(out, kernels.dropout(X, 0.5, seed=3))
    assert kernels.dropout(readonly(np.ones((0, 6)), dtype), 0.5).shape == (0, 6)


# ---- determinism -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_determinism_across_threads(isa, dtype):
    """Bit-identical for n_threads = 1, 2, 3; sizes above one 16384-element chunk."""
    rng = np.random.default_rng(50)
    Z = readonly(rng.standard_normal((300, 64)) * 3, dtype)
    dY = readonly(rng.standard_normal((300, 64)), dtype)
    X = readonly(rng.standard_normal((300, 500)), dtype)
    results = []
    for nt in THREADS:
        r = []
        for name in ACTS:
            Y = kernels.activation_forward(name, Z, n_threads=nt)
            r += [Y, kernels.activation_backward(name, Z, Y, dY, n_threads=nt)]
        r.append(kernels.dropout(X, 0.3, seed=8, step=2, row_offset=5, n_threads=nt))
        r.append(kernels.random_uniform((300, 500), seed=8, dtype=dtype, n_threads=nt))
        r.append(kernels.random_normal((300, 500), seed=8, dtype=dtype, n_threads=nt))
        results.append(r)
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)
