#!/usr/bin/env bash
# Compile cpp/cuda/*.cu as host C++ under the emulation in cuda_runtime.h (no nvcc, no GPU) and run
# every launcher against the CPU kernel of its family (harness.cpp). Checks the kernels' logic —
# indexing, bounds, grid-stride loops, reductions and barriers — not the GPU's memory model,
# device libm or speed. Usage: bash tests/gpu/cuda_emu/run.sh   (from anywhere; needs g++ >= 11)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
BUILD=${AEREC_CUDA_EMU_BUILD:-$ROOT/build/cuda-emu}
mkdir -p "$BUILD"
python3 "$HERE/translate.py" "$ROOT/cpp/cuda" "$BUILD/src"
CXX=${CXX:-g++}
SOURCES=("$BUILD"/src/{sparse_encoder,masked_decoder,losses,activations,optim,topk,gram}.cpp)
CPU=("$ROOT"/cpp/src/{sparse_encoder,masked_decoder,losses,activations,optim,topk,gram}.cpp)
"$CXX" -std=c++20 -O1 -pthread -fopenmp -Wall -Wno-unused-parameter -Wno-unknown-pragmas \
    -I"$HERE" -I"$BUILD/src" -I"$ROOT/cpp/include" \
    "$HERE/harness.cpp" "${SOURCES[@]}" "${CPU[@]}" -o "$BUILD/harness"
OMP_NUM_THREADS=1 "$BUILD/harness"
