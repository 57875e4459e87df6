"""Synchronous data-parallel training over MPI (mpi4py), as Horovod and torch DDP do it.

Every rank holds the same parameters (the same ``random_state`` initialises them identically), the
global minibatch — drawn from one seeded permutation of *all* users, the same on every rank — is
split by the ranks that own its rows, each rank computes the gradient of its share with the native
kernels, one ``Allreduce`` over one contiguous buffer of all gradients sums them, and every rank takes
the same optimiser step. Users are partitioned across ranks in rank order: rank r holds global rows
``[offsets[r], offsets[r + 1])`` and reads only those.

The reduce buffer carries two more numbers: the step's loss (a NaN on any rank is divergence on
every rank) and an interrupt flag (Ctrl-C on any rank stops all ranks after the same batch), so no
rank waits for another that has stopped.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import sys

import numpy as np

__all__ = ["DataParallel", "guarded", "data_parallel_fit"]


def _collective(exc):
    """Mark an error that every rank raises alike (so no rank is left waiting): not a reason to abort."""
    exc._aerec_collective = True
    return exc


@contextlib.contextmanager
def guarded(comm):
    """Around data-parallel work on ``comm``: an unexpected error on one rank aborts every rank (the
    others would wait for it in the next collective call). Errors every rank raises alike — divergence
    and Ctrl-C, decided by the trainer from reduced values, and the checks of
    ``together``/``check_same`` — are raised as they are. No-op without ``comm`` or with one rank."""
    try:
        yield
    except (FloatingPointError, KeyboardInterrupt):
        raise
    except Exception as exc:
        if comm is not None and comm.Get_size() > 1 and not getattr(exc, "_aerec_collective", False):
            print(f"aerec: MPI rank {comm.Get_rank()} of {comm.Get_size()} failed during training "
                  f"({type(exc).__name__}: {exc}); aborting all ranks", file=sys.stderr, flush=True)
            comm.Abort(1)
        raise


def data_parallel_fit(fit):
    """Decorates an estimator's ``fit(X, ..., comm=None)``: with a communicator of several ranks, an
    error that only this rank meets anywhere in the fit (a failed allocation on a smaller node, say)
    aborts every rank instead of leaving them in a collective call."""

    @functools.wraps(fit)
    def wrapper(self, *args, comm=None, **kwargs):
        if comm is None:
            return fit(self, *args, comm=None, **kwargs)
        with guarded(comm):
            return fit(self, *args, comm=comm, **kwargs)

    return wrapper


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError:
        raise ImportError("training over MPI needs mpi4py and an MPI library: pip install 'aerec[mpi]'") from None
    return MPI


class DataParallel:
    """The collective operations a data-parallel fit needs, over an mpi4py communicator.

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        The ranks that train together (``MPI.COMM_WORLD`` usually).

    Faults: errors in a rank's input or settings are gathered and raised on every rank, naming the
    rank (``together``); an unexpected error during the fit aborts every rank (``guarded``), since the
    others would otherwise wait for it in the next Allreduce. A rank that dies is mpiexec's to
    notice: it ends the job.
    """

    def __init__(self, comm, random_state=None):
        self.MPI = _mpi()
        if not isinstance(comm, self.MPI.Comm):
            raise TypeError(f"comm must be an mpi4py communicator (e.g. MPI.COMM_WORLD), got {type(comm).__name__}")
        self.comm, self.rank, self.size = comm, comm.Get_rank(), comm.Get_size()
        self._buffer = None
        self.interrupted = False
        self.random_state = self.shared_seed(random_state)  # first, before any rank can fail alone

    @contextlib.contextmanager
    def together(self, what):
        """Run the block on every rank; if it raised on any, raise on every rank — this rank's own
        error, or one naming the first rank that failed — instead of leaving the others waiting."""
        error = None
        try:
            yield
        except Exception as exc:  # gathered below; every rank leaves the block together
            error = exc
        messages = self.comm.allgather(None if error is None else f"{type(error).__name__}: {error}")
        failed = [r for r, m in enumerate(messages) if m is not None]
        if error is not None:
            raise _collective(error)
        if failed:
            raise _collective(RuntimeError(f"{what} failed on MPI rank {failed[0]}: {messages[failed[0]]}"))

    def setup(self, estimator, X, **agree):
        """After each rank has checked its input: register this rank's ``X.shape[0]`` rows, and check
        that every rank has the same item count, dtype, hyperparameters (thread count and verbosity
        may differ) and whatever else ``agree`` names."""
        self.set_rows(X.shape[0])
        settings = {k: v for k, v in estimator.get_params().items() if k not in ("n_threads", "verbose")}
        self.check_same("the fit's settings", n_items=X.shape[1], dtype=estimator.dtype_.name, params=settings,
                        **agree)

    def shared_seed(self, random_state):
        """The ranks must draw the same numbers: an int seed is used as it is; None or a RandomState
        (which differ from rank to rank) become one seed drawn on rank 0 and broadcast."""
        if random_state is not None and not isinstance(random_state, np.random.RandomState):
            return random_state
        rng = random_state if random_state is not None else np.random.RandomState()
        seed = int(rng.randint(0, 2**31 - 1)) if self.rank == 0 else None
        return self.comm.bcast(seed, root=0)

    def set_rows(self, n_local):
        """This rank holds ``n_local`` users: the global rows ``[lo, hi)`` in rank order."""
        counts = np.array(self.comm.allgather(int(n_local)), dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(counts)])
        self.lo, self.hi = int(self.offsets[self.rank]), int(self.offsets[self.rank + 1])
        self.n_global = int(self.offsets[-1])

    # ---- agreement at the start ---------------------------------------------------------------

    def check_same(self, what, **values):
        """Every rank must pass equal ``values`` (shapes, item counts, hyperparameters): otherwise
        raise, on every rank, a ValueError naming the first rank that differs and how."""
        mine = json.dumps(values, sort_keys=True, default=str)
        digests = self.comm.allgather(hashlib.sha256(mine.encode()).hexdigest())
        bad = [r for r, d in enumerate(digests) if d != digests[0]]
        if bad:
            theirs = self.comm.bcast(mine if self.rank == bad[0] else None, root=bad[0])
            first = self.comm.bcast(mine if self.rank == 0 else None, root=0)
            raise _collective(ValueError(f"{what} differ across MPI ranks: rank {bad[0]} has {theirs}, rank 0 has "
                                         f"{first}"))

    # ---- one optimiser step -------------------------------------------------------------------

    def reduce_gradients(self, params, loss, interrupted):
        """Sum every parameter's gradient over the ranks in place — one Allreduce of one contiguous
        buffer, which also carries the step's loss and the interrupt flag in its last two slots.
        Row-compact gradients are made dense first. Returns the summed loss (in the gradients'
        precision: it is only checked for NaN/inf; the loss curves are summed per epoch in float64);
        ``self.interrupted`` is then True on every rank if it was on any."""
        grads = [p.dense_grad() for p in params]
        n = sum(g.size for g in grads)
        if self._buffer is None or self._buffer.size != n + 2 or self._buffer.dtype != grads[0].dtype:
            self._buffer = np.empty(n + 2, dtype=grads[0].dtype)
        buf, start = self._buffer, 0
        for g in grads:
            buf[start:start + g.size] = g.reshape(-1)
            start += g.size
        buf[n], buf[n + 1] = loss, 1.0 if interrupted else 0.0
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=self.MPI.SUM)
        start = 0
        for p, g in zip(params, grads):
            p.set_dense_grad()
            g.reshape(-1)[...] = buf[start:start + g.size]
            start += g.size
        self.interrupted = bool(buf[n + 1] > 0)
        return float(buf[n])

    # ---- reductions of scalars ----------------------------------------------------------------

    def sum(self, *values):
        """Element-wise sums of float scalars over the ranks (one Allreduce)."""
        a = np.array(values, dtype=np.float64)
        self.comm.Allreduce(self.MPI.IN_PLACE, a, op=self.MPI.SUM)
        return a.tolist()

    def sum_array(self, a):
        """An array summed over the ranks (a new float64 array)."""
        out = np.array(a, dtype=np.float64)
        self.comm.Allreduce(self.MPI.IN_PLACE, out, op=self.MPI.SUM)
        return out

    def sum_inplace(self, a):
        """A C-contiguous array replaced by its sum over the ranks (one Allreduce, no copy)."""
        self.comm.Allreduce(self.MPI.IN_PLACE, a, op=self.MPI.SUM)
        return a

    def max(self, value):
        """The largest of the ranks' values."""
        return float(self.comm.allreduce(float(value), op=self.MPI.MAX))

    def mean(self, total, count):
        """Σ total / Σ count over the ranks (a validation metric averaged over every rank's users)."""
        total, count = self.sum(total, count)
        return total / count if count else float("nan")

    def any(self, flag):
        """True on every rank when ``flag`` is true on any."""
        return self.sum(1.0 if flag else 0.0)[0] > 0

    # ---- the global minibatches ---------------------------------------------------------------

    def local_share(self, batch):
        """A global batch (sorted global row indices) → ``(local rows, row offset in the batch,
        global batch size)``: this rank's rows are one contiguous run of a sorted batch."""
        first = int(np.searchsorted(batch, self.lo))
        last = int(np.searchsorted(batch, self.hi))
        return batch[first:last] - self.lo, first, int(batch.size)

    def gather_row_counts(self, counts):
        """Every rank's per-row counts (e.g. ratings per user) concatenated in global row order, so
        each rank knows a global batch's entry count and where its share's entries start in it."""
        return np.concatenate(self.comm.allgather(np.asarray(counts, dtype=np.int64)))

