"""Run under mpiexec by test_mpi.py: every rank fits on its block of users and rank 0 writes the
fitted arrays (and the curves) to the .npz given; a script, so each rank is a real MPI process."""

import os
import sys

import numpy as np
from mpi4py import MPI

import aerec
from aerec.datasets import make_synthetic


def main(out, model_name, mode):
    comm = MPI.COMM_WORLD
    X = make_synthetic((240, 120, 240 * 12), random_state=3)
    bounds = np.linspace(0, X.shape[0], comm.size + 1).round().astype(int)  # uneven blocks for 3 ranks
    X_local = X[bounds[comm.rank]:bounds[comm.rank + 1]]
    kw = dict(n_epochs=3, batch_size=64, random_state=0, n_threads=1, verbose=False)
    if model_name == "MultVAE":
        model = aerec.MultVAE(hidden_dims=(32,), n_components=8, anneal_steps=10, **kw)
    elif model_name == "MultDAE":
        model = aerec.MultDAE(n_components=16, l2=1e-3, **kw)
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
    model.fit(X_local, comm=comm)
    if comm.rank == 0:
        arrays = {f"W{i}": W for i, W in enumerate(model.coefs_)}
        arrays.update({f"b{i}": b for i, b in enumerate(model.intercepts_)})
        np.savez(out, loss=np.asarray(model.loss_curve_), **arrays)


if __name__ == "__main__":
    main(*sys.argv[1:])
