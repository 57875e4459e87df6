"""aerec — autoencoder collaborative filtering with hand-written C++ kernels.

AutoRec, deep autoencoders with dense re-feeding, Mult-VAE/Mult-DAE, EASE and EDLAE behind a scikit-learn
API. The kernels (sparse encoder, masked decoder, fused losses, activations and dropout, optimiser
steps, top-k) live in ``aerec.kernels``; ``aerec.show_config()`` says how this copy was built.
"""

import os as _os

# Before the extension loads libgomp: OpenMP workers sleep between parallel regions instead of
# spinning. Spinning workers and OpenBLAS's own threads fight over the cores, and every native call
# right after a NumPy GEMM then waits for a scheduler slice, many times longer than the call itself
# (measured: benchmarks/RESULTS_SPEED_NOTES.md). Set OMP_WAIT_POLICY yourself to override.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

from . import datasets, kernels, metrics, model_selection
from ._config import config, show_config
from .models import CDAE, EASE, EDLAE, AutoRec, DeepAutoencoder, MultDAE, MultVAE, Popularity
from .persistence import load

try:
    __version__ = _version("aerec")
except PackageNotFoundError:  # pragma: no cover - running from an unusual layout
    __version__ = "0.0.0"

__all__ = ["AutoRec", "DeepAutoencoder", "MultVAE", "MultDAE", "CDAE", "EASE", "EDLAE", "Popularity", "load",
           "kernels", "datasets", "metrics", "model_selection", "show_config", "config", "__version__"]
