"""The small training engine the estimators use: layers with forward/backward, optimisers and the
batch loop. Layers reach kernels only through a backend object (``get_backend``) and arrays only
through its ``xp`` namespace, so a CUDA backend can slot in without rewriting the models.
"""

from .backend import CpuBackend, get_backend
from .layers import Activation, Dense, Dropout, MaskedDecoder, Parameter, Sequential, SparseEncoder
from .trainer import EarlyStopping, InterruptGuard, Progress, Trainer, Update, Validation, minibatches
from .optim import SGD, Adam, RProp, make_optimizer

__all__ = [
    "CpuBackend",
    "get_backend",
    "Parameter",
    "SparseEncoder",
    "Dense",
    "Activation",
    "Dropout",
    "MaskedDecoder",
    "Sequential",
    "SGD",
    "Adam",
    "RProp",
    "make_optimizer",
    "Trainer",
    "Update",
    "Validation",
    "EarlyStopping",
    "InterruptGuard",
    "Progress",
    "minibatches",
]
