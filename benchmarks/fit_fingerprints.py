"""Fingerprints of every estimator's fitted arrays on real ML-1M, for n_threads 1 and 2.

Run before and after a refactoring that must not change behaviour; equal JSON means bit-identical
fitted parameters (and curves). ``python benchmarks/fit_fingerprints.py > before.json``.
A few short fits (2-3 epochs, small layers) keep it to a couple of minutes on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
import sys

import numpy as np

import aerec
from aerec.datasets import load_ml1m_matrix, shared_data_dir


def _digest(value):
    h = hashlib.sha256()
    items = value if isinstance(value, (list, tuple)) else [value]
    for a in items:
        if a is None:
            h.update(b"None")
            continue
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def fitted_arrays(model):
    out = {}
    for name, value in sorted(vars(model).items()):
        if not name.endswith("_") or name.startswith("_"):
            continue
        if isinstance(value, np.ndarray) or (isinstance(value, list) and value and (
                isinstance(value[0], (np.ndarray, float, np.floating)) or value[0] is None)):
            out[name] = _digest([np.asarray(v) if v is not None else None for v in value]
                                if isinstance(value, list) else value)
        elif isinstance(value, (int, float, str, type(None))) and name != "n_threads_":
            out[name] = value
    return out


def models(n_threads):
    common = dict(random_state=0, n_threads=n_threads)
    return {
        "AutoRec-I": aerec.AutoRec(n_components=64, n_epochs=2, early_stopping=True, **common),
        "AutoRec-U-rprop": aerec.AutoRec(item_based=False, optimizer="rprop", n_components=32, n_epochs=2, **common),
        "DeepAE-refeed": aerec.DeepAutoencoder(hidden_dims=(64, 32), n_epochs=2, early_stopping=True, **common),
        "DeepAE-tied-adam": aerec.DeepAutoencoder(hidden_dims=(32,), constrained=True, optimizer="adam",
                                                  n_epochs=2, **common),
        "MultVAE": aerec.MultVAE(hidden_dims=(64,), n_components=16, n_epochs=2, early_stopping=True,
                                 anneal_steps=20, **common),
        "MultDAE": aerec.MultDAE(n_components=32, n_epochs=3, **common),
        "EASE": aerec.EASE(l2=200.0, n_threads=n_threads),
        "Popularity": aerec.Popularity(),
    }


def main():
    X, _, _ = load_ml1m_matrix(shared_data_dir() / "ml-1m")
    result = {}
    for n_threads in (1, 2):
        for name, model in models(n_threads).items():
            model.fit(X)
            result[f"{name} n_threads={n_threads}"] = fitted_arrays(model)
            print(name, n_threads, file=sys.stderr)
    json.dump(result, sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
