"""Type aliases for aerec's public signatures (annotations only: nothing here is checked at run time).

Every module that uses them has ``from __future__ import annotations``, so the annotations stay
strings and cost nothing at import; these names are real objects so that
``typing.get_type_hints`` resolves them too.
"""

from __future__ import annotations

import os
from typing import Union

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, DTypeLike

__all__ = ["ArrayLike", "DTypeLike", "SparseMatrix", "MatrixLike", "StrPath", "RandomStateLike"]

#: A SciPy sparse matrix or array (any format; the estimators convert to CSR).
SparseMatrix = Union[sp.spmatrix, sp.sparray]
#: A users × items (or users × items ratings) matrix: sparse, or anything NumPy turns into a 2-D array.
MatrixLike = Union[SparseMatrix, ArrayLike]
#: A file-system path.
StrPath = Union[str, os.PathLike]
#: scikit-learn's ``random_state``: None, a seed, or a ``numpy.random.RandomState``.
RandomStateLike = Union[None, int, np.random.RandomState]
