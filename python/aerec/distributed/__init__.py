"""aerec on the distributed engines people already run: MPI for data-parallel training, Dask and
Spark for batch scoring and evaluation.

* :mod:`aerec.distributed.mpi` — ``DataParallel``, what ``fit(X_local, comm=...)`` runs on (mpi4py is
  imported when a fit uses it; ``pip install "aerec[mpi]"``).
* :func:`score_partition` — the per-partition scorer, a plain function of a pandas DataFrame of
  interaction records (Dask ``map_partitions``, Spark ``mapInPandas``/``applyInPandas``, or a loop).
* :func:`recommend_dask`, :func:`evaluate_dask`, :func:`gram_dask` — the same on a ``dask.distributed``
  cluster (``pip install "aerec[dask]"``); ``EASE.fit_gram`` fits EASE from ``gram_dask``'s matrix.

Importing this package imports neither Dask, pandas nor PySpark: the functions do, when called, and
name the extra to install when one is missing. README, "Batch scoring on Dask and Spark", has the
recipes.
"""

from ._partition import gram_partition, output_meta, score_partition
from .dask import evaluate_dask, gram_dask, recommend_dask

__all__ = ["score_partition", "output_meta", "gram_partition", "recommend_dask", "evaluate_dask", "gram_dask"]
