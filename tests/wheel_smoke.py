"""Smoke test for an *installed* aerec wheel (cibuildwheel's test-command and .ci/run's wheel stage).

Run it from outside the checkout, in an environment where aerec was installed from a wheel:

    python tests/wheel_smoke.py --openmp=vendored   # Linux wheels repaired by auditwheel
    python tests/wheel_smoke.py --openmp=off        # macOS wheels (built without OpenMP)
    python tests/wheel_smoke.py --openmp=any        # just don't check

It checks that the package is the installed one (not the source tree); that on x86-64 all three CPU
modules are in the wheel and each one this CPU supports imports; that every supported variant,
forced with AEREC_ISA in a subprocess, gives the same top-k from a tiny EASE and MultDAE fit; and,
with --openmp=vendored, that OpenMP is on and the libgomp loaded is the copy auditwheel vendored
into ``aerec.libs`` (so the RPATH of every ISA module survived the repair).

Not collected by pytest (no ``test_`` prefix): it needs a wheel install, not the editable tree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

_FIT = r"""
import json, sys
import numpy as np
import scipy.sparse as sp
import aerec
from aerec import _native

rng = np.random.RandomState(0)
# 300 users x 120 items with a few popular items, so the scores are well separated.
p = rng.dirichlet(np.full(120, 0.3))
rows, cols = [], []
for u in range(300):
    items = rng.choice(120, size=rng.randint(3, 15), replace=False, p=p)
    rows += [u] * len(items)
    cols += list(items)
X = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(300, 120))
out = {"isa": _native.active_isa(), "config_isa": aerec.config()["isa"]}
ease = aerec.EASE(l2=50.0).fit(X)
out["ease"] = ease.recommend(X[:40], k=5)[0].tolist()
dae = aerec.MultDAE(n_components=16, n_epochs=3, batch_size=100, random_state=0, n_threads=2).fit(X)
out["dae"] = dae.recommend(X[:40], k=5)[0].tolist()
# The kernels themselves ran on this variant (not only the import):
out["kernel_isa"] = _native.cpu_module().build_info()["isa"]
json.dump(out, sys.stdout)
"""


def _fail(msg: str) -> None:
    print(f"wheel_smoke: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def _check(cond: bool, msg: str) -> None:
    if not cond:
        _fail(msg)


def _is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def _run_forced(isa: str) -> dict:
    env = {**os.environ, "AEREC_ISA": isa}
    proc = subprocess.run([sys.executable, "-c", _FIT], capture_output=True, text=True, env=env, timeout=600)
    _check(proc.returncode == 0, f"AEREC_ISA={isa}: exit {proc.returncode}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


def _loaded_libgomp() -> list:
    """Paths of the OpenMP runtimes mapped into this process (Linux)."""
    with open("/proc/self/maps") as f:
        return sorted({line.split()[-1] for line in f if "libgomp" in line or "libomp" in line})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--openmp", choices=["vendored", "on", "off", "any"], default="any",
                    help="vendored: OpenMP on and libgomp from aerec.libs (auditwheel); on/off: just the flag")
    args = ap.parse_args()

    import aerec
    from aerec import _native

    pkg_dir = os.path.dirname(os.path.abspath(aerec.__file__))
    print(f"aerec {aerec.__version__} from {pkg_dir}")
    aerec.show_config()
    _check(os.path.basename(os.path.dirname(pkg_dir)) in ("site-packages", "dist-packages"),
           f"aerec was imported from {pkg_dir}, not from an installed wheel (run this outside the checkout)")

    # Which CPU modules the wheel holds, and which of them this CPU can use.
    files = sorted(os.listdir(pkg_dir))
    modules = {m for m in ("_aerec_cpu", "_aerec_cpu_avx2", "_aerec_cpu_avx512")
               if any(f.startswith(m + ".") for f in files)}
    expected_modules = {"_aerec_cpu", "_aerec_cpu_avx2", "_aerec_cpu_avx512"} if _is_x86() else {"_aerec_cpu"}
    _check(modules == expected_modules,
           f"CPU modules in the wheel: {sorted(modules)}; expected {sorted(expected_modules)}")
    features = _native._cpu_features()
    supported = [isa for isa in _native.ISA_ORDER if _native._supported(isa, features)
                 and _native._MODULE_NAME[isa] in modules]
    available = list(_native.available_isas())
    _check(available == supported, f"available_isas() = {available}; this CPU supports {supported} of the wheel's")
    cfg = aerec.config()
    _check(cfg["isa_available"] == available and cfg["isa"] == available[0], f"config(): {cfg}")
    print(f"CPU modules in the wheel: {sorted(modules)}; importable and supported here: {available}")

    # OpenMP: on, and (Linux wheels) the vendored runtime is the one loaded.
    if args.openmp in ("vendored", "on"):
        _check(cfg["openmp"] is True, f"config()['openmp'] is {cfg['openmp']!r}; the wheel must be built with OpenMP")
    elif args.openmp == "off":
        _check(cfg["openmp"] is False, f"config()['openmp'] is {cfg['openmp']!r}; expected a build without OpenMP")
    if args.openmp == "vendored":
        libs_dir = os.path.join(os.path.dirname(pkg_dir), "aerec.libs")
        vendored = sorted(os.listdir(libs_dir)) if os.path.isdir(libs_dir) else []
        _check(any(f.startswith("libgomp") for f in vendored), f"no libgomp in {libs_dir}: {vendored}")
        # Every module, including those this CPU cannot run, must find the vendored libgomp (the
        # RPATH auditwheel wrote); ldd only resolves the libraries, it does not execute the module.
        for name in sorted(modules):
            so = next(os.path.join(pkg_dir, f) for f in files if f.startswith(name + "."))
            try:
                ldd = subprocess.run(["ldd", so], capture_output=True, text=True, timeout=60).stdout
            except FileNotFoundError:
                break  # no ldd: the /proc/self/maps check below still covers the modules loaded
            gomp = [line.split("=>")[-1].split()[0] for line in ldd.splitlines() if "libgomp" in line and "=>" in line]
            _check(len(gomp) == 1 and os.path.dirname(os.path.realpath(gomp[0])) == os.path.realpath(libs_dir),
                   f"{name} resolves libgomp to {gomp}, not into {libs_dir}:\n{ldd}")
        for isa in available:
            _check(_native._VARIANTS[isa].build_info()["openmp"] is True, f"module {isa} was built without OpenMP")
        # (scikit-learn's wheel maps its own vendored libgomp too; aerec's must be among them.)
        loaded = _loaded_libgomp()
        ours = [p for p in loaded if os.path.dirname(os.path.realpath(p)) == os.path.realpath(libs_dir)]
        _check(len(ours) == 1, f"OpenMP runtimes mapped: {loaded}; none from {libs_dir}")
        print(f"vendored: {vendored}; loaded from there: {os.path.basename(ours[0])}")

    # Each supported variant, forced, fits and recommends the same.
    results = {isa: _run_forced(isa) for isa in available}
    base_isa = available[-1]  # generic
    for isa, res in results.items():
        _check(res["isa"] == res["config_isa"] == res["kernel_isa"] == isa,
               f"AEREC_ISA={isa} ran {res['isa']}/{res['config_isa']}/{res['kernel_isa']}")
        for model in ("ease", "dae"):
            _check(res[model] == results[base_isa][model], f"{model} top-5 differs between {isa} and {base_isa}:\n"
                   f"{res[model][:5]}\n{results[base_isa][model][:5]}")
    print(f"same EASE and MultDAE top-5 under AEREC_ISA={', '.join(available)}")
    print("wheel_smoke: OK")


if __name__ == "__main__":
    main()
