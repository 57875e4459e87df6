"""The list of aerec estimators (used by persistence and the conformance tests)."""

from .autorec import AutoRec
from .deep_ae import DeepAutoencoder
from .ease import EASE, Popularity
from .vae import MultDAE, MultVAE

ALL_ESTIMATORS = [AutoRec, DeepAutoencoder, MultVAE, MultDAE, EASE, Popularity]
