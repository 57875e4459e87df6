"""Run under mpiexec by test_mpi.py: every rank fits on its block of users and rank 0 writes the
fitted arrays (and the curves) to the .npz given; a script, so each rank is a real MPI process."""

import os
import sys

import numpy as np
from mpi4py import MPI

import aerec
from aerec.datasets import make_synthetic


def fitted_arrays(model):
    """The fitted weights (and the rating models' baseline) by name."""
    if hasattr(model, "coefs_"):
        arrays = {f"W{i}": W for i, W in enumerate(model.coefs_)}
        arrays.update({f"b{i}": b for i, b in enumerate(model.intercepts_)})
        return arrays
    if hasattr(model, "B_"):
        return {"B": model.B_}
    if hasattr(model, "encoder_coefs_"):
        return {**{f"enc{i}": W for i, W in enumerate(model.encoder_coefs_)},
                **{f"dec{i}": W for i, W in enumerate(model.decoder_coefs_)},
                "V": model.output_coef_, "c": model.output_intercept_, "item_bias": model.item_bias_}
    return {"W": model.W_, "b": model.b_, "V": model.V_, "c": model.c_, "item_bias": model.item_bias_}


def training_data(model_name, uneven=False):
    """The whole training matrix (ratings for the rating models); ``uneven``: 8 users without any
    rating (the deep autoencoder's re-feeding still reads them)."""
    X = make_synthetic((240, 120, 240 * 12), random_state=3, explicit=not model_name.startswith("Mult"))
    if uneven:
        X = X.tolil()
        X[7:15] = 0
        X = X.tocsr()
    return X


def make_model(model_name):
    """The estimator each test fits, on every rank and in one process alike."""
    kw = dict(n_epochs=3, batch_size=64, random_state=0, n_threads=1, verbose=False)
    return {
        "MultVAE": lambda: aerec.MultVAE(hidden_dims=(32,), n_components=8, anneal_steps=10, **kw),
        "MultDAE": lambda: aerec.MultDAE(n_components=16, l2=1e-3, **kw),
        # user-based, Adam, bias baseline, both dropouts; and full batch
        "AutoRec": lambda: aerec.AutoRec(item_based=False, n_components=16, **kw),
        "AutoRec-rprop": lambda: aerec.AutoRec(item_based=False, optimizer="rprop", n_components=16, **kw),
        "EASE": lambda: aerec.EASE(l2=20.0, n_threads=1),  # the Gram matrices summed over the ranks
        "DeepAutoencoder": lambda: aerec.DeepAutoencoder(hidden_dims=(16, 8), **kw),  # SGD, re-feeding, baseline
    }[model_name]()


def main(out, model_name, mode):
    comm = MPI.COMM_WORLD
    X = training_data(model_name, uneven=mode == "uneven")
    if mode == "uneven":  # rank 0 holds 5 users: most batches have no row of rank 0's
        bounds = np.array([0, 5] + list(np.linspace(5, X.shape[0], comm.size).round().astype(int)[1:]))
    else:
        bounds = np.linspace(0, X.shape[0], comm.size + 1).round().astype(int)  # uneven blocks for 3 ranks
    X_local = X[bounds[comm.rank]:bounds[comm.rank + 1]]
    model = make_model(model_name)
    if mode == "noseed":  # random_state=None: the ranks must still agree on one seed
        model.set_params(random_state=None)
    if mode == "mismatch" and comm.rank == comm.size - 1:
        model.set_params(learning_rate=2e-3)
    if mode == "raise" and comm.rank == 1:
        model.set_params(n_epochs=10**6)  # rank 1 keeps going...
        X_local = X_local.copy()
        X_local.data[:] = np.nan  # ...and fails its input check: the others must not hang
    if mode in ("die", "fail") and comm.rank == 1:  # rank 1 goes wrong at its fifth step, mid-epoch
        real, calls = model._train_step, []

        def train_step(*args, **kwargs):
            calls.append(1)
            if len(calls) == 5:
                if mode == "die":
                    os._exit(3)  # as if killed: no Python cleanup, no MPI_Finalize
                raise RuntimeError("a failure only rank 1 sees")
            return real(*args, **kwargs)
        model._train_step = train_step
    fit_kw = {}
    if mode == "val":  # each rank validates on its own block of validation users; early stopping
        V = make_synthetic((90, 120, 90 * 12), random_state=4)
        vb = np.linspace(0, 90, comm.size + 1).round().astype(int)
        V = V[vb[comm.rank]:vb[comm.rank + 1]]
        fit_kw = dict(zip(("X_val", "y_val"), validation_pair(V)))
        model.set_params(n_epochs=6, patience=2, early_stopping=True)
    model.fit(X_local, comm=comm, **fit_kw)
    if comm.rank == 0:
        arrays = fitted_arrays(model)
        np.savez(out, loss=np.asarray(getattr(model, "loss_curve_", [])),
                 val=np.asarray(getattr(model, "validation_scores_", [])),
                 best=np.asarray([-1 if getattr(model, "best_epoch_", None) is None else model.best_epoch_]),
                 **arrays)
        model.save(out + ".model.npz")
    comm.Barrier()
    if mode in ("ok", "noseed"):  # rank 0 wrote a model file; every rank loads it and gets its own model
        loaded = aerec.load(out + ".model.npz")
        for name, a in fitted_arrays(loaded).items():
            if not np.array_equal(a, fitted_arrays(model)[name]):
                raise AssertionError(f"rank {comm.rank}: the loaded {name} differs from this rank's model")


def validation_pair(V, split=100):
    """Validation rows' history (their items below ``split``) and target (the items from ``split`` on)."""
    import scipy.sparse as sp

    C = V.tocoo()
    keep = C.col < split
    hist = sp.csr_array((C.data[keep], (C.row[keep], C.col[keep])), shape=V.shape)
    target = sp.csr_array((C.data[~keep], (C.row[~keep], C.col[~keep])), shape=V.shape)
    return hist, target

if __name__ == "__main__":
    main(*sys.argv[1:])
