"""The list of aerec estimators (used by persistence and the conformance tests)."""

from .ease import EASE, Popularity
from .vae import MultDAE, MultVAE

ALL_ESTIMATORS = [MultVAE, MultDAE, EASE, Popularity]
