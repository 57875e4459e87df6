"""The estimators, one module per model family, all on ``RecommenderBase`` (``_base``): the rating
autoencoders share ``_rating``; every trained model plugs a step function into the one trainer
(``aerec.engine.trainer``). ``aerec`` re-exports every public name here.
"""

from .autorec import AutoRec
from .cdae import CDAE
from .deep_ae import DeepAutoencoder
from .ease import EASE
from .edlae import EDLAE
from .popularity import Popularity
from .vae import MultDAE, MultVAE

__all__ = ["AutoRec", "DeepAutoencoder", "MultVAE", "MultDAE", "CDAE", "EASE", "EDLAE", "Popularity"]
