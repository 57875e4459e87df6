"""Data-parallel training over MPI: real ``mpiexec -n 2`` and ``-n 3`` jobs of _mpi_fit.py (ranks on
this machine only), each bounded in time. N ranks give the 1-process parameters up to the order of
floating-point sums; a fixed N gives the same bits run to run; a rank with other settings, bad input,
an error or a death mid-training ends every rank within seconds with a message naming it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import aerec
from aerec.datasets import make_synthetic

pytest.importorskip("mpi4py", reason="MPI training needs mpi4py and an MPI library: pip install 'aerec[mpi]'")
MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which("mpiexec")
if MPIEXEC is None:
    pytest.skip("no mpiexec on PATH (pip install mpich)", allow_module_level=True)

SCRIPT = Path(__file__).with_name("_mpi_fit.py")
LIMIT_S = 90  # a hang is a failure, not a stuck CI run


def mpiexec(n, args, cwd):
    """Run ``mpiexec -n N args…`` in a session of its own; past LIMIT_S the whole process group — the
    ranks too, not only mpiexec — is killed, and the test fails (a hang is what these tests look for)."""
    # -launcher fork: the ranks are children of mpiexec on this machine (no ssh, no other host)
    cmd = [MPIEXEC, "-n", str(n), "-launcher", "fork", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def run(n, model, mode, tmp_path):
    out = tmp_path / f"{model}-{mode}-{n}.npz"
    return mpiexec(n, [sys.executable, str(SCRIPT), str(out), model, mode], tmp_path), out


sys.path.insert(0, str(SCRIPT.parent))
try:
    import _mpi_fit  # the rank script's data and models: the one-process references fit the same
finally:
    sys.path.pop(0)


def one_process(model):
    """The same fit as _mpi_fit.py's, in this process on the whole matrix."""
    m = _mpi_fit.make_model(model).fit(_mpi_fit.training_data(model))
    return _mpi_fit.fitted_arrays(m), np.asarray(m.loss_curve_)


@pytest.mark.parametrize("model,n", [("MultVAE", 2), ("MultVAE", 3), ("MultDAE", 3), ("AutoRec", 3),
                                     ("AutoRec-rprop", 2), ("DeepAutoencoder", 3)])
def test_n_ranks_give_the_one_process_model(model, n, tmp_path):
    proc, out = run(n, model, "ok", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = np.load(out)
    ref, curve = one_process(model)
    for name, want in ref.items():  # relative to each array's scale: weights near 0 have no digits to lose
        rel = np.abs(got[name] - want).max() / np.abs(want).max()
        assert rel <= 1e-5, (name, rel)
    np.testing.assert_allclose(got["loss"], curve, rtol=1e-6)
    if (model, n) == ("MultVAE", 2):  # a fixed rank count gives the same bits run to run
        (tmp_path / "again").mkdir()
        again, out2 = run(n, model, "ok", tmp_path / "again")
        assert again.returncode == 0
        for name in ref:
            np.testing.assert_array_equal(np.load(out2)[name], got[name])


def test_without_a_seed_the_ranks_still_train_one_model(tmp_path):
    """random_state=None: rank 0 draws the seed and every rank uses it (each rank checks that the
    model rank 0 saved is its own)."""
    proc, _ = run(3, "MultVAE", "noseed", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("model", ["MultDAE", "DeepAutoencoder"])
def test_loss_curves_when_rank_0_misses_most_batches(model, tmp_path):
    """Rank 0 holds 5 of 240 users, and 8 users have no rating: the curves (Mult-DAE's with its L2
    penalty, the deep autoencoder's re-feeding curve) are one process's all the same."""
    proc, out = run(3, model, "uneven", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ref = _mpi_fit.make_model(model).fit(_mpi_fit.training_data(model, uneven=True))
    np.testing.assert_allclose(np.load(out)["loss"], ref.loss_curve_, rtol=1e-5)


def test_ease_sums_the_gram_matrices_over_ranks_bit_for_bit(tmp_path):
    """0/1 data: the Gram matrices hold whole numbers, so their sum over ranks is exact and B is the
    one-process B bit for bit."""
    proc, out = run(3, "EASE", "ok", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ease = _mpi_fit.make_model("EASE").fit(_mpi_fit.training_data("EASE"))
    np.testing.assert_array_equal(np.load(out)["B"], ease.B_)


def test_one_rank_is_bit_identical_to_one_process(tmp_path):
    proc, out = run(1, "MultVAE", "ok", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ref, _ = one_process("MultVAE")
    for name, want in ref.items():
        np.testing.assert_array_equal(np.load(out)[name], want)


def test_validation_and_early_stopping_are_collective(tmp_path):
    """Each rank validates on its own users; the reduced NDCG equals one process's on all of them,
    and every rank stops at, and restores, the same epoch."""
    proc, out = run(3, "MultVAE", "val", tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    X_val, y_val = _mpi_fit.validation_pair(make_synthetic((90, 120, 90 * 12), random_state=4))
    ref = _mpi_fit.make_model("MultVAE").set_params(n_epochs=6, patience=2, early_stopping=True)
    ref.fit(_mpi_fit.training_data("MultVAE"), X_val=X_val, y_val=y_val)
    got = np.load(out)
    np.testing.assert_allclose(got["val"], ref.validation_scores_, rtol=1e-5)
    assert int(got["best"][0]) == ref.best_epoch_


@pytest.mark.parametrize("mode,expected", [
    ("mismatch", "the fit's settings differ across MPI ranks: rank 2 has"),
    ("raise", "checking the fit's input failed on MPI rank 1: ValueError: X contains NaN"),
    ("fail", "aerec: MPI rank 1 of 3 failed during training (RuntimeError: a failure only rank 1 sees)"),
    ("die", None),  # mpiexec sees a rank die and ends the job
])
def test_a_rank_that_goes_wrong_ends_every_rank(mode, expected, tmp_path):
    proc, out = run(3, "MultVAE", mode, tmp_path)  # a hang would raise TimeoutExpired
    assert proc.returncode != 0 and not out.exists()
    if expected is not None:
        assert expected in proc.stderr, proc.stderr[-2000:]


def test_the_command_line_trains_over_mpi(tmp_path):
    """mpiexec -n 2 aerec fit … --mpi: each rank builds its users' rows, rank 0 writes an ordinary
    model file (with the id maps) holding the one-process model."""
    rng = np.random.default_rng(0)
    lines = {(f"u{u}", f"i{i}"): int(rng.integers(1, 6)) for u in range(150) for i in rng.choice(60, 15)}
    data = tmp_path / "ratings.csv"
    data.write_text("user,item,rating\n" + "".join(f"{u},{i},{r}\n" for (u, i), r in lines.items()))
    args = ["fit", str(data), "--model", "MultDAE", "--param", "n_epochs=2", "--param", "batch_size=32",
            "--param", "random_state=0", "--param", "n_threads=1", "--threshold", "2"]
    proc = mpiexec(2, [sys.executable, "-m", "aerec", *args, "--mpi", "--out", str(tmp_path / "mpi.npz")], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("on 2 MPI ranks") == 1  # rank 0 alone reports and writes
    from aerec.cli import main

    assert main([*args, "--out", str(tmp_path / "one.npz")]) == 0
    (a, mapper), b = aerec.load(tmp_path / "mpi.npz", return_mapper=True), aerec.load(tmp_path / "one.npz")
    assert mapper.user_ids_.size == 150
    for W, V in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert np.abs(W - V).max() <= 1e-5 * np.abs(V).max()
