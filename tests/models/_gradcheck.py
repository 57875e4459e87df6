"""Central differences of a model's step, shared by the models' gradient tests."""

from __future__ import annotations

import numpy as np
from conftest import central_difference


def check_step_gradients(params, step, rng, *, n_checks=6, eps=1e-6, rtol=1e-5, atol=1e-8, penalty_grad=None,
                         entries=None):
    """Compare the gradients one call of ``step()`` leaves in ``params`` with central differences of
    the loss it returns, at ``n_checks`` random entries of every parameter (float64 models).

    ``step()`` must zero the gradients it accumulates into. Row-compact gradients are made dense.
    ``penalty_grad(p, value, k)``: a term the optimiser adds to the gradient of entry k rather than
    the step (a weight decay), subtracted from the numeric derivative of a loss that reports it.
    ``entries(p)``: the flat indices to check in ``p`` instead of random ones (None: random).
    """
    step()
    grads = [p.dense_grad().copy() for p in params]
    for p, g in zip(params, grads):
        flat = p.value.reshape(-1)
        picks = entries(p) if entries is not None else None
        if picks is None:
            picks = rng.choice(flat.size, size=min(n_checks, flat.size), replace=False)
        for k in picks:
            numeric = central_difference(step, flat, k, eps) - (penalty_grad(p, flat[k], k) if penalty_grad else 0.0)
            np.testing.assert_allclose(g.reshape(-1)[k], numeric, rtol=rtol, atol=atol, err_msg=f"{p.name}[{k}]")
    return grads
