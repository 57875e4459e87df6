"""optim: optimiser steps (SGD/momentum/Nesterov, Adam/AdamW, iRprop−), in place, vs the oracle."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import DTYPES, THREADS, assert_close, readonly, writable

from aerec import _reference as ref
from aerec import kernels

SHAPES = [(0,), (1,), (37,), (6, 7)]


def _state(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal(shape).astype(dtype)
    g = readonly(rng.standard_normal(shape), dtype)
    a = rng.standard_normal(shape).astype(dtype)
    b = rng.uniform(0.0, 2.0, shape).astype(dtype)
    return p, g, a, b


SGD_CASES = {
    "plain": dict(lr=0.1),
    "weight_decay": dict(lr=0.05, weight_decay=0.01),
    "momentum_zero_with_velocity": dict(lr=0.1, momentum=0.0, velocity=True),
    "momentum": dict(lr=0.1, momentum=0.9, velocity=True),
    "nesterov": dict(lr=0.1, momentum=0.9, nesterov=True, velocity=True, weight_decay=0.001),
}


@pytest.mark.parametrize("case", list(SGD_CASES))
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_matches_reference(isa, dtype, n_threads, shape, case):
    p, g, vel, _ = _state(shape, dtype)
    kw = dict(SGD_CASES[case])
    v = vel if kw.pop("velocity", False) else None
    r_p, r_v = ref.ref_sgd_step(p, g, v, **kw)
    assert kernels.sgd_step(p, g, v, n_threads=n_threads, **kw) is None
    assert p.dtype == dtype and p.shape == shape
    assert_close(p, r_p, dtype)
    if v is None:
        assert r_v is None
    else:
        assert_close(v, r_v, dtype)


ADAM_CASES = {
    "t1": dict(t=1),
    "t10": dict(t=10, lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6),
    "l2": dict(t=3, weight_decay=0.1),
    "adamw": dict(t=3, weight_decay=0.1, decoupled=True, lr=0.05),
}


@pytest.mark.parametrize("case", list(ADAM_CASES))
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_matches_reference(isa, dtype, n_threads, shape, case):
    p, g, m, v = _state(shape, dtype, seed=1)
    v = (v * 0.1).astype(dtype)
    kw = ADAM_CASES[case]
    r_p, r_m, r_v = ref.ref_adam_step(p, g, m, v, **kw)
    assert kernels.adam_step(p, g, m, v, n_threads=n_threads, **kw) is None
    assert_close(p, r_p, dtype)
    assert_close(m, r_m, dtype)
    assert_close(v, r_v, dtype)


def test_adam_from_zero_state_is_sign_step(isa):
    """Classic property: at t=1 from m=v=0 the step is ≈ lr·sign(g)."""
    g = readonly(np.array([3.0, -0.5, 1e-3, -40.0]))
    p, m, v = np.zeros(4), np.zeros(4), np.zeros(4)
    kernels.adam_step(p, g, m, v, t=1, lr=0.01, eps=1e-12)
    np.testing.assert_allclose(p, -0.01 * np.sign(g), rtol=1e-8)


@pytest.mark.parametrize("clamp", ["none", "min", "max"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_rprop_matches_reference(isa, dtype, n_threads, shape, clamp):
    rng = np.random.default_rng(2)
    n = int(np.prod(shape))
    p = rng.standard_normal(shape).astype(dtype)
    # gradients with zeros; previous gradients with zeros and both signs: grow, shrink, keep
    g = readonly(rng.choice([-1.5, -0.2, 0.0, 0.3, 2.0], n).reshape(shape), dtype)
    prev = rng.choice([-1.0, 0.0, 1.0], n).reshape(shape).astype(dtype)
    step = {"none": rng.uniform(0.001, 0.1, shape), "min": np.full(shape, 1.5e-6),
            "max": np.full(shape, 45.0)}[clamp].astype(dtype)
    kw = dict(eta_minus=0.5, eta_plus=1.2, step_min=1e-6, step_max=50.0)
    r_p, r_prev, r_step = ref.ref_rprop_step(p, g, prev, step, **kw)
    assert kernels.rprop_step(p, g, prev, step, n_threads=n_threads, **kw) is None
    assert_close(p, r_p, dtype)
    np.testing.assert_array_equal(prev, r_prev.astype(dtype))  # the gradient, zeroed where the sign flipped
    assert_close(step, r_step, dtype)
    if clamp == "max":
        assert step.max(initial=0) <= 50.0
    if clamp == "min":
        assert step.min(initial=1) >= dtype(1e-6)


def test_rprop_two_steps(isa):
    """A second step continues from the state the first step left."""
    p, g1, prev, _ = _state((20,), np.float64, seed=4)
    g2 = readonly(-np.asarray(g1) * np.where(np.arange(20) % 2, 1.0, -1.0))
    prev[:] = 0.0
    step = np.full(20, 0.01)
    rp, rprev, rstep = p.copy(), prev.copy(), step.copy()
    for g in (g1, g2):
        rp, rprev, rstep = ref.ref_rprop_step(rp, g, rprev, rstep)
        kernels.rprop_step(p, g, prev, step, n_threads=2)
    np.testing.assert_allclose(p, rp, rtol=1e-12)
    np.testing.assert_array_equal(prev, rprev)
    np.testing.assert_allclose(step, rstep, rtol=1e-12)


# ---- argument checks specific to in-place updates ----------------------------------------------


def _all_steps(param, grad, state):
    """Call each optimiser with ``param`` (state arrays shaped like it)."""
    return [
        lambda: kernels.sgd_step(param, grad, lr=0.1),
        lambda: kernels.sgd_step(param, grad, state(), lr=0.1, momentum=0.9),
        lambda: kernels.adam_step(param, grad, state(), state(), t=1),
        lambda: kernels.rprop_step(param, grad, state(), state()),
    ]


@pytest.mark.parametrize("which", range(4))
@pytest.mark.parametrize("dtype", DTYPES)
def test_readonly_param_raises(isa, dtype, which):
    param = readonly(np.ones((4, 5)), dtype)
    grad = readonly(np.ones((4, 5)), dtype)
    with pytest.raises(ValueError, match="read-only"):
        _all_steps(param, grad, lambda: np.zeros((4, 5), dtype))[which]()
    np.testing.assert_array_equal(param, np.ones((4, 5)))


@pytest.mark.parametrize("which", range(4))
@pytest.mark.parametrize("dtype", DTYPES)
def test_noncontiguous_param_raises(isa, dtype, which):
    base = np.ones((4, 10), dtype)
    param = base[:, ::2]  # a strided view: updating a copy would silently lose the step
    grad = readonly(np.ones((4, 5)), dtype)
    with pytest.raises(ValueError, match="C-contiguous"):
        _all_steps(param, grad, lambda: np.zeros((4, 5), dtype))[which]()
    np.testing.assert_array_equal(base, np.ones((4, 10)))
    with pytest.raises(ValueError, match="C-contiguous"):
        _all_steps(np.ones((5, 4), dtype).T, grad, lambda: np.zeros((4, 5), dtype))[which]()  # Fortran order


@pytest.mark.parametrize("which", [1, 2, 3])
def test_readonly_or_noncontiguous_state_raises(isa, which):
    param, grad = np.ones((4, 5)), readonly(np.ones((4, 5)))
    with pytest.raises(ValueError, match="read-only"):
        _all_steps(param, grad, lambda: readonly(np.zeros((4, 5))))[which]()
    with pytest.raises(ValueError, match="C-contiguous"):
        _all_steps(param, grad, lambda: np.zeros((4, 10))[:, ::2])[which]()
    np.testing.assert_array_equal(param, np.ones((4, 5)))


def test_momentum_requires_velocity(isa):
    with pytest.raises(ValueError, match="velocity"):
        kernels.sgd_step(np.ones(3), readonly(np.ones(3)), lr=0.1, momentum=0.5)


def test_state_shape_and_dtype_mismatch(isa):
    p, g = np.ones(6), readonly(np.ones(6))
    with pytest.raises(ValueError):
        kernels.adam_step(p, g, np.zeros(5), np.zeros(6), t=1)
    with pytest.raises(TypeError):
        kernels.adam_step(p, g, np.zeros(6, np.float32), np.zeros(6), t=1)
    with pytest.raises(TypeError):
        kernels.sgd_step(p, readonly(np.ones(6, np.float32)), lr=0.1)
    with pytest.raises(ValueError):
        kernels.adam_step(p, g, np.zeros(6), np.zeros(6), t=0)
    with pytest.raises(ValueError):
        kernels.adam_step(p, g, np.zeros(6), np.zeros(6), t=1, beta1=1.0)
    with pytest.raises(ValueError):
        kernels.sgd_step(p, g, lr=-0.1)
    with pytest.raises(ValueError):
        kernels.rprop_step(p, g, np.zeros(6), np.zeros(6), eta_plus=1.0)


# ---- determinism -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_determinism_across_threads(isa, dtype):
    """Bit-identical in-place results for n_threads = 1, 2, 3 (300 × 500 parameters, several chunks)."""
    shape = (300, 500)
    p0, g, a0, b0 = _state(shape, dtype, seed=9)
    g_sign = readonly(np.where(np.asarray(g) > 0.5, -1.0, np.asarray(g)), dtype)
    results = []
    for nt in THREADS:
        p1, v1 = writable(p0), writable(a0)
        kernels.sgd_step(p1, g, v1, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01, n_threads=nt)
        p2, m2, v2 = writable(p0), writable(a0), writable(b0)
        kernels.adam_step(p2, g, m2, v2, t=7, weight_decay=0.01, n_threads=nt)
        p3, m3, v3 = writable(p0), writable(a0), writable(b0)
        kernels.adam_step(p3, g, m3, v3, t=2, weight_decay=0.01, decoupled=True, n_threads=nt)
        p4, q4, s4 = writable(p0), writable(g_sign), writable(b0 * 0.01)
        kernels.rprop_step(p4, g, q4, s4, n_threads=nt)
        results.append([p1, v1, p2, m2, v2, p3, m3, v3, p4, q4, s4])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            assert np.array_equal(a, b)
    r_p, r_v = ref.ref_sgd_step(p0, g, a0, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    assert_close(results[0][0], r_p, dtype)
    assert_close(results[0][1], r_v, dtype)


def _row_compact(rng, shape, dtype, n_present=40):
    """(rows, grad_rows, the same gradient dense): a gradient that is zero outside ``rows``."""
    rows = np.sort(rng.choice(shape[0], n_present, replace=False))
    grad_rows = readonly(rng.standard_normal((rows.size, shape[1])), dtype)
    dense = np.zeros(shape, dtype=dtype)
    dense[rows] = grad_rows
    return rows, grad_rows, dense


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("decoupled", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_step_rows_is_bit_identical_to_dense_adam(isa, dtype, decoupled, n_threads):
    """The row-compact gradient path gives exactly the dense update (absent rows: g = 0)."""
    rng = np.random.default_rng(4)
    shape = (300, 17)
    rows, grad_rows, dense = _row_compact(rng, shape, dtype)
    p1, m1, v1 = (writable(rng.standard_normal(shape), dtype) for _ in range(3))
    v1 = np.abs(v1)
    p2, m2, v2 = p1.copy(), m1.copy(), v1.copy()
    for t in (1, 2, 5):
        kernels.adam_step(p1, readonly(dense), m1, v1, t=t, weight_decay=0.02, decoupled=decoupled,
                          n_threads=n_threads)
        kernels.adam_step_rows(p2, rows, grad_rows, m2, v2, t=t, weight_decay=0.02, decoupled=decoupled,
                               n_threads=n_threads)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(v1, v2)


def test_adam_step_rows_rejects_bad_rows(isa):
    p, m, v = (np.zeros((5, 3)) for _ in range(3))
    with pytest.raises(ValueError, match="out of range"):
        kernels.adam_step_rows(p, np.array([7]), np.ones((1, 3)), m, v, t=1)
    with pytest.raises(ValueError, match="twice"):
        kernels.adam_step_rows(p, np.array([1, 1]), np.ones((2, 3)), m, v, t=1)
    with pytest.raises(ValueError, match="shape"):
        kernels.adam_step_rows(p, np.array([1]), np.ones((2, 3)), m, v, t=1)


@pytest.mark.parametrize("n_threads", THREADS)
@pytest.mark.parametrize("case", ["momentum_wd", "nesterov", "plain"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sgd_step_rows_is_bit_identical_to_dense_sgd(isa, dtype, case, n_threads):
    """The row-compact gradient path gives exactly the dense update: absent rows still decay and
    keep their momentum (g = 0 + wd·p), as the dense step does; and both match the float64 oracle."""
    kw = {"momentum_wd": dict(lr=0.05, momentum=0.9, weight_decay=0.01),
          "nesterov": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.001),
          "plain": dict(lr=0.1)}[case]
    rng = np.random.default_rng(6)
    shape = (300, 17)
    rows, grad_rows, dense = _row_compact(rng, shape, dtype)
    p1 = writable(rng.standard_normal(shape), dtype)
    v1 = writable(rng.standard_normal(shape), dtype) if "momentum" in kw else None
    p2, v2 = p1.copy(), None if v1 is None else v1.copy()
    for _ in range(3):
        kernels.sgd_step(p1, readonly(dense), v1, n_threads=n_threads, **kw)
        kernels.sgd_step_rows(p2, rows, grad_rows, v2, n_threads=n_threads, **kw)
    np.testing.assert_array_equal(p1, p2)
    if v1 is not None:
        np.testing.assert_array_equal(v1, v2)
    # one step against the float64 oracle
    p3 = writable(rng.standard_normal(shape), dtype)
    v3 = None if v1 is None else writable(rng.standard_normal(shape), dtype)
    r_p, r_v = ref.ref_sgd_step_rows(p3, rows, grad_rows, v3, **kw)
    kernels.sgd_step_rows(p3, rows, grad_rows, v3, n_threads=n_threads, **kw)
    assert_close(p3, r_p, dtype)
    if v3 is not None:
        assert_close(v3, r_v, dtype)


def test_sgd_step_rows_rejects_bad_rows(isa):
    p, v = np.zeros((5, 3)), np.zeros((5, 3))
    with pytest.raises(ValueError, match="out of range"):
        kernels.sgd_step_rows(p, np.array([7]), np.ones((1, 3)), v, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="out of range"):
        kernels.sgd_step_rows(p, np.array([-1]), np.ones((1, 3)), v, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="twice"):
        kernels.sgd_step_rows(p, np.array([1, 1]), np.ones((2, 3)), v, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="shape"):
        kernels.sgd_step_rows(p, np.array([1]), np.ones((2, 3)), v, lr=0.1)
    with pytest.raises(ValueError, match="velocity is required"):
        kernels.sgd_step_rows(p, np.array([1]), np.ones((1, 3)), lr=0.1, momentum=0.9)
    with pytest.raises(TypeError, match="integer row indices"):
        kernels.sgd_step_rows(p, np.array([1.0]), np.ones((1, 3)), lr=0.1)


def test_optimisers_refuse_overlapping_arrays():
    """The native updates use restrict pointers: a gradient that is a view of the parameter (or state
    shared between arrays) is refused by name rather than left undefined."""
    p = np.zeros((6, 3))
    with pytest.raises(ValueError, match="param and grad_rows overlap"):
        kernels.sgd_step_rows(p, np.array([0, 1]), p[:2], lr=0.1)
    v = np.zeros((6, 3))
    with pytest.raises(ValueError, match="m and v overlap"):
        kernels.adam_step(p, np.ones((6, 3)), v, v, t=1)
    with pytest.raises(ValueError, match="param and grad overlap"):
        kernels.adam_step(p, p, np.zeros((6, 3)), np.zeros((6, 3)), t=1)
    with pytest.raises(ValueError, match="param and v overlap"):
        kernels.adam_step_rows(p, np.array([1]), np.ones((1, 3)), np.zeros((6, 3)), p, t=1)


def test_native_velocity_is_never_converted(isa):
    """A velocity given as a list to the binding is refused: a converted copy would be updated and lost."""
    with pytest.raises(TypeError, match="velocity: expected a NumPy array"):
        kernels._mod().sgd_step_rows(np.zeros((3, 2)), np.array([0]), np.ones((1, 2)), [[0.0, 0.0]] * 3, 0.1, 0.9,
                                     False, 0.0, 1)
