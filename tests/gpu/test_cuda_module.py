"""The CUDA module's contract that holds without a GPU: it imports (it links cudart only), reports
its build, and refuses bad sizes, null pointers, unknown dtypes and out-of-range hyper-parameters
*before* any launch. Runs wherever the module is built — installed, or compile-only with
AEREC_CUDA_MODULE_DIR (as .ci/run does) — and skips with the reason elsewhere."""

from __future__ import annotations

import pytest
from _gpu import require_module

FAMILIES = ["sparse_encoder_forward", "sparse_encoder_backward", "masked_decoder_forward", "masked_decoder_backward",
            "masked_mse", "multinomial_loss_grad", "gaussian_kl", "activation_forward", "activation_backward",
            "dropout", "random_uniform", "random_normal", "sgd_step", "sgd_step_rows",
            "adam_step", "adam_step_rows", "rprop_step",
            "topk_keys", "sparse_gram"]


@pytest.fixture
def mod():
    return require_module()


def test_build_info_and_entry_points(mod):
    info = mod.build_info()
    assert info["cuda_runtime"] >= 12000
    archs = info["architectures"].split()
    assert "80-real" in archs or "80" in archs
    assert "90" in archs  # sm_90 machine code plus PTX for newer GPUs
    assert mod.loss_scratch_size == 1024
    assert mod.device_count() >= 0
    for name in FAMILIES:
        assert callable(getattr(mod, name)), name


# Each call is invalid in exactly one way; pointers are fake non-null integers: the check must
# fail before anything touches them (no device is needed).
P = 4096
GOOD_ADAM = dict(param=P, grad=P, m=P, v=P, n=10, t=1, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0,
                 decoupled=False, dtype="float32")
BAD_CALLS = [
    ("activation_forward", dict(kind=8, alpha=0.0, Z=P, n=3, Y=P, dtype="float32"), ValueError, "activation"),
    ("activation_forward", dict(kind=1, alpha=0.0, Z=P, n=-1, Y=P, dtype="float32"), ValueError, "n must be"),
    ("activation_forward", dict(kind=1, alpha=0.0, Z=P, n=3, Y=P, dtype="float16"), TypeError, "dtype"),
    ("activation_backward", dict(kind=1, alpha=0.0, Z=P, Y=P, dY=0, n=3, dZ=P, dtype="float32"), ValueError, "dY"),
    ("dropout", dict(X=P, n_rows=2, n_cols=2, rate=1.0, seed=0, step=0, row_offset=0, Y=P, dtype="float32"),
     ValueError, "rate"),
    ("dropout", dict(X=P, n_rows=2**40, n_cols=2**40, rate=0.5, seed=0, step=0, row_offset=0, Y=P,
                     dtype="float32"), ValueError, "overflow"),
    ("random_normal", dict(n_rows=3, n_cols=3, seed=0, step=0, row_offset=0, out=0, dtype="float64"), ValueError,
     "out"),
    ("masked_mse", dict(pred=P, target=P, n=5, scale=1.0, grad=P, partials=0, loss=P, dtype="float32"), ValueError,
     "partials"),
    ("gaussian_kl", dict(mu=P, logvar=P, n=-2, scale=1.0, dmu=P, dlogvar=P, partials=P, loss=P, dtype="float32"),
     ValueError, "n must be"),
    ("multinomial_loss_grad", dict(logits=P, c=0, indptr=P, indices=P, data=P, index_dtype="int16", n_rows=2,
                                   n_items=3, nnz=2, scale=1.0, row_loss=P, loss=P, dtype="float32"), TypeError,
     "index_dtype"),
    ("multinomial_loss_grad", dict(logits=P, c=0, indptr=P, indices=0, data=P, index_dtype="int32", n_rows=2,
                                   n_items=3, nnz=2, scale=1.0, row_loss=P, loss=P, dtype="float32"), ValueError,
     "X"),
    ("sparse_encoder_forward", dict(indptr=P, indices=P, data=P, index_dtype="int32", n_rows=2, n_cols=3, nnz=2, W=P,
                                    b=0, row_scale=0, h=4, dropout=-0.1, seed=0, step=0, row_offset=0, coef=P, Z=P,
                                    dtype="float32"), ValueError, "dropout"),
    ("sparse_encoder_forward", dict(indptr=P, indices=P, data=P, index_dtype="int32", n_rows=2, n_cols=3, nnz=2, W=0,
                                    b=0, row_scale=0, h=4, dropout=0.0, seed=0, step=0, row_offset=0, coef=P, Z=P,
                                    dtype="float32"), ValueError, "W"),
    ("sparse_encoder_backward", dict(data=P, nnz=2, im_items=P, im_ptr=P, im_rows=P, im_pos=P, m=-1, n_rows=2, dZ=P,
                                     row_scale=0, h=4, dropout=0.0, seed=0, step=0, row_offset=0, coef=P, dW=P,
                                     dtype="float32"), ValueError, "m must be"),
    ("masked_decoder_forward", dict(indptr=P, indices=P, index_dtype="int64", n_rows=2, n_cols=3, nnz=2, H=P, V=P,
                                    c=0, h=4, out=0, dtype="float64"), ValueError, "out"),
    ("masked_decoder_backward", dict(indptr=P, indices=P, index_dtype="int64", n_rows=2, n_cols=3, nnz=2, im_ptr=P,
                                     im_rows=P, im_pos=P, m=2, H=P, V=P, d_out=P, h=4, coef=P, dH=P, dV=0, dc=P,
                                     dtype="float64"), ValueError, "dV"),
    ("adam_step", dict(GOOD_ADAM, t=0), ValueError, "t (the step count)"),
    ("adam_step", dict(GOOD_ADAM, beta2=1.0), ValueError, "beta2"),
    ("adam_step", dict(GOOD_ADAM, eps=0.0), ValueError, "eps"),
    ("adam_step", dict(GOOD_ADAM, m=0), ValueError, "m:"),
    ("adam_step_rows", dict(param=P, n_rows=3, n_cols=2, slot=P, grad_rows=P, n_present=4, m=P, v=P, t=1, lr=1e-3,
                            beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False, dtype="float32"),
     ValueError, "n_present"),
    ("sgd_step", dict(param=P, grad=P, velocity=0, n=4, lr=0.1, momentum=0.9, nesterov=False, weight_decay=0.0,
                      dtype="float32"), ValueError, "velocity"),
    ("sgd_step_rows", dict(param=P, n_rows=3, n_cols=2, slot=P, grad_rows=P, n_present=4, velocity=P, lr=0.1,
                           momentum=0.9, nesterov=False, weight_decay=0.0, dtype="float32"), ValueError, "n_present"),
    ("sgd_step_rows", dict(param=P, n_rows=3, n_cols=2, slot=P, grad_rows=P, n_present=2, velocity=0, lr=0.1,
                           momentum=0.9, nesterov=False, weight_decay=0.0, dtype="float32"), ValueError, "velocity"),
    ("sgd_step_rows", dict(param=P, n_rows=3, n_cols=2, slot=0, grad_rows=P, n_present=2, velocity=P, lr=0.1,
                           momentum=0.9, nesterov=False, weight_decay=0.0, dtype="float32"), ValueError, "slot"),
    ("rprop_step", dict(param=P, grad=P, prev_grad=P, step_size=P, n=4, eta_minus=0.5, eta_plus=0.9, step_min=0.0,
                        step_max=1.0, dtype="float32"), ValueError, "eta"),
    ("topk_keys", dict(scores=P, n_rows=2, n_items=3, excl_indptr=0, excl_indices=P, excl_nnz=1, index_dtype="int32",
                       allowed=0, keys=P, dtype="float32"), ValueError, "exclude"),
    ("sparse_gram", dict(indptr=P, indices=P, data=P, index_dtype="int32", n_rows=2, n_items=3, nnz=2, col_ptr=P,
                         col_rows=P, col_pos=P, G=0, dtype="float32"), ValueError, "G"),
]


@pytest.mark.parametrize("name,kwargs,exc,match", BAD_CALLS, ids=[f"{c[0]}-{i}" for i, c in enumerate(BAD_CALLS)])
def test_bad_arguments_are_refused_before_launch(mod, name, kwargs, exc, match):
    with pytest.raises(exc, match=match.replace("(", r"\(").replace(")", r"\)")):
        getattr(mod, name)(**kwargs)


def test_zero_sized_calls_launch_nothing(mod):
    # n = 0 with null pointers is valid and must return without touching the device.
    mod.activation_forward(kind=1, alpha=0.0, Z=0, n=0, Y=0, dtype="float32")
    mod.adam_step(**dict(GOOD_ADAM, param=0, grad=0, m=0, v=0, n=0))
    mod.dropout(X=0, n_rows=0, n_cols=5, rate=0.5, seed=1, step=2, row_offset=0, Y=0, dtype="float64")
