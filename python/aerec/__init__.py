"""aerec — autoencoder collaborative filtering with hand-written C++ kernels.

AutoRec, deep autoencoders with dense re-feeding, Mult-VAE/Mult-DAE and EASE behind a scikit-learn
API. The kernels (sparse encoder, masked decoder, fused losses, activations and dropout, optimiser
steps, top-k) live in ``aerec.kernels``; ``aerec.show_config()`` says how this copy was built.
"""

from importlib.metadata import PackageNotFoundError, version as _version

from . import kernels
from ._config import config, show_config

try:
    __version__ = _version("aerec")
except PackageNotFoundError:  # pragma: no cover - running from an unusual layout
    __version__ = "0.0.0"

__all__ = ["kernels", "show_config", "config", "__version__"]
