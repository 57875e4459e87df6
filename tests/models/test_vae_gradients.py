"""Mult-VAE / Mult-DAE: the hand-written backward pass of one training step (``_train_step``)
against central differences of its loss, in float64. Dropout is off and the VAE's noise is keyed by
(seed, step), so the loss is a deterministic function of the parameters."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _gradcheck import check_step_gradients

from aerec import MultDAE, MultVAE
from aerec.engine import CpuBackend, Parameter


@pytest.mark.parametrize("make,hidden_dims,activation", [(MultVAE, (6,), "tanh"), (MultVAE, (), "sigmoid"),
                                                         (MultDAE, (5,), "elu"), (MultDAE, (), "tanh")])
@pytest.mark.parametrize("beta,l2", [(0.3, 0.0), (0.0, 0.01)])
def test_train_step_gradients_match_central_differences(make, hidden_dims, activation, beta, l2):
    rng = np.random.default_rng(0)
    X = sp.random(7, 11, density=0.4, format="csr", random_state=1, dtype=np.float64)
    X.data[:] = 1
    model = make(hidden_dims=hidden_dims, n_components=3, activation=activation, dropout=0.0, l2=l2, dtype="float64")
    model._check_params()
    model.dtype_ = np.dtype(np.float64)
    coefs, intercepts = model._init_params(X.shape[1], np.random.RandomState(0))
    params = []
    for W, b in zip(coefs, intercepts):
        params += [Parameter("W", W + 0.1 * rng.standard_normal(W.shape)),
                   Parameter("b", b + 0.1 * rng.standard_normal(b.shape), decay=False)]
    be = CpuBackend(1)

    def loss():
        for p in params:
            p.set_dense_grad().fill(0)
        return model._train_step(be, X, params, beta, seed=5, step=2)

    # the l2 term is reported in the loss but its gradient is Adam's weight_decay (2·l2·W)
    grads = check_step_gradients(params, loss, rng, penalty_grad=lambda p, w, k: 2 * l2 * w if p.decay else 0.0)
    assert np.abs(grads[0]).max() > 0  # the first layer's row-compact gradient, made dense
