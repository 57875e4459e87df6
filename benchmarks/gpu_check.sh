#!/usr/bin/env bash
# One prepared GPU check for issue 7: build aerec with CUDA, run the GPU tests, print the speed table.
#
#   bash benchmarks/gpu_check.sh            # from the repository root, on a machine with a GPU
#   SKIP_BUILD=1 bash benchmarks/gpu_check.sh   # a rerun: keep the installed build
#   SKIP_BENCH=1 ...                             # build and test only
#
# Needs: an NVIDIA GPU + driver, nvcc (CUDA 12 or 13) on PATH, Python >= 3.9 with numpy, scipy,
# scikit-learn, threadpoolctl, tqdm, pytest and the build tools (scikit-build-core, pybind11,
# cmake, ninja). Optional: CuPy (cupy-cuda13x or cupy-cuda12x, with the CUDA libraries it loads:
# cuBLAS, cuSOLVER, cuSPARSE, cuRAND, NVRTC) for the CUDA backend, the model tests and aerec's GPU
# rows of the table; a CUDA build of PyTorch for the peer rows. Nothing is downloaded: missing
# packages are installed only from local wheels/caches (pip --no-index), and what cannot be
# installed is reported and its steps degrade — without CuPy the CUDA module is still built and
# every kernel is still tested against the NumPy oracles (raw device pointers, no CuPy).
#
# Output: a log per step and gpu_bench.json under $OUT (or benchmarks/gpu_check_out), the test
# summary and the table on stdout. Sized for < 8 minutes on one H100 with 16 cores (expected ~4); the
# steps have timeouts (270 + 120 + 60 + 180 s) so that the whole script ends within 10 minutes.
set -uo pipefail
cd "$(dirname "$0")/.."
OUTDIR=${OUT:-benchmarks/gpu_check_out}
mkdir -p "$OUTDIR"
PY=${PYTHON:-python3}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
T0=$(date +%s)
section() { printf '\n==== %s ==== (+%ss)\n' "$1" "$(( $(date +%s) - T0 ))"; }
have_py() { "$PY" -c "import $1" >/dev/null 2>&1; }
STATUS=()

section "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | tee "$OUTDIR/gpu.txt" \
    || echo "nvidia-smi failed: no GPU driver?"
command -v nvcc >/dev/null && nvcc --version | tail -2 || echo "nvcc: NOT FOUND (the CUDA module cannot be built)"
"$PY" --version
echo "cores: $(nproc)"

section "requirements (installed from local wheels only; never downloaded)"
for mod in numpy scipy sklearn threadpoolctl tqdm pytest pybind11 scikit_build_core; do
    have_py "$mod" && echo "ok       $mod" || { echo "missing  $mod: trying a local install";
        "$PY" -m pip install -q "${mod/sklearn/scikit-learn}" >/dev/null 2>&1 && echo "  installed" \
            || echo "  not available offline"; }
done
command -v cmake >/dev/null || "$PY" -m pip install -q cmake >/dev/null 2>&1 || true
command -v ninja >/dev/null || "$PY" -m pip install -q ninja >/dev/null 2>&1 || true
if ! have_py cupy; then
    echo "CuPy missing: trying cupy-cuda13x, then cupy-cuda12x, from local wheels"
    "$PY" -m pip install -q "cupy-cuda13x>=13.6" >/dev/null 2>&1 || "$PY" -m pip install -q cupy-cuda12x >/dev/null 2>&1 || true
fi
if have_py cupy && "$PY" -c "import cupy; cupy.zeros(4).sum(); cupy.ones((8, 8)) @ cupy.ones((8, 8))" >/dev/null 2>&1; then
    echo "ok       cupy $("$PY" -c 'import cupy; print(cupy.__version__)') (GEMM and a reduction ran)"
    CUPY=1
else
    echo "NO CUPY  (or it cannot run here: missing cuBLAS/NVRTC?) -> raw-kernel tests only, no aerec GPU rows"
    CUPY=0
fi
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null 2>&1 \
    && echo "ok       torch $("$PY" -c 'import torch; print(torch.__version__)') with CUDA (peer rows)" \
    || echo "no CUDA PyTorch: the peer rows will say so"

section "build aerec with CUDA (AEREC_CUDA=1 pip install .)"
if [ "${SKIP_BUILD:-0}" = 1 ]; then
    echo "SKIP_BUILD=1: using the installed aerec"
else
    # Non-isolated (no download of build requirements); a fixed build dir so a rerun is incremental.
    if AEREC_CUDA=1 timeout 270 "$PY" -m pip install --no-build-isolation --no-deps --force-reinstall \
        -Cbuild-dir=build/gpu-check . > "$OUTDIR/build.log" 2>&1; then
        echo "built ($(grep -c 'Building CUDA object' "$OUTDIR/build.log" || true) CUDA objects)"
        STATUS+=("build: ok")
    else
        tail -40 "$OUTDIR/build.log"
        echo "BUILD FAILED (log: $OUTDIR/build.log)"
        STATUS+=("build: FAILED")
    fi
fi
# Import from outside the source tree (python/ keeps it off sys.path anyway).
( cd /tmp && "$PY" -c "
import aerec, aerec._native as n
print('aerec', aerec.__version__, 'from', aerec.__file__)
print('CPU variants:', n.available_isas())
m = n.cuda_module
print('CUDA module:', m and m.build_info(), '| devices:', m and m.device_count(), '| HAS_CUDA:', n.HAS_CUDA)
from aerec.engine.backend import resolve_device
print(\"device='auto' resolves to\", resolve_device('auto'))
" ) 2>&1 | tee "$OUTDIR/import.txt"

section "GPU tests (tests/gpu; CPU kernel tests as a sanity check)"
timeout 120 "$PY" -m pytest tests/gpu -q -rs -p no:cacheprovider 2>&1 | tee "$OUTDIR/tests_gpu.log" | tail -25
STATUS+=("tests/gpu: $(tail -1 "$OUTDIR/tests_gpu.log")")
timeout 60 "$PY" -m pytest tests/kernels/test_optim.py tests/kernels/test_losses.py -q -p no:cacheprovider -x \
    2>&1 | tail -1 | tee "$OUTDIR/tests_cpu.log"

section "speed: aerec cuda vs aerec cpu vs PyTorch cuda"
if [ "${SKIP_BENCH:-0}" = 1 ]; then echo "SKIP_BENCH=1"; else
if [ "$CUPY" = 0 ]; then echo "(no CuPy: aerec's GPU rows will fail with the reason; CPU and PyTorch rows still run)"; fi
timeout 180 "$PY" benchmarks/gpu_bench.py --json "$OUTDIR/gpu_bench.json" 2> "$OUTDIR/bench.log" \
    | tee "$OUTDIR/table.md"
[ -s "$OUTDIR/table.md" ] || { echo "the benchmark produced no table; last log lines:"; tail -30 "$OUTDIR/bench.log"; }
fi

section "summary"
printf '%s\n' "${STATUS[@]}"
echo "outputs: $OUTDIR (build.log, tests_gpu.log, bench.log, table.md, gpu_bench.json)"
echo "total: $(( $(date +%s) - T0 )) s"
