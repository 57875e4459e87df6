"""The training engine every estimator uses: the backends (CPU kernels + pooled BLAS, CUDA), the
trainable ``Parameter``, the optimisers and the one training loop (``Trainer``). Models reach kernels
only through a backend object (``get_backend``) and arrays only through its ``xp`` namespace, so the
CUDA backend slots in without rewriting them.
"""

from .backend import CpuBackend, get_backend
from .optim import SGD, Adam, RProp
from .params import Parameter, xavier_uniform
from .trainer import EarlyStopping, InterruptGuard, Progress, Trainer, Update, Validation, minibatches

__all__ = [
    "CpuBackend",
    "get_backend",
    "Parameter",
    "xavier_uniform",
    "SGD",
    "Adam",
    "RProp",
    "Trainer",
    "Update",
    "Validation",
    "EarlyStopping",
    "InterruptGuard",
    "Progress",
    "minibatches",
]
